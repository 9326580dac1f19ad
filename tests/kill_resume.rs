//! A sweep killed with SIGKILL at random moments and restarted with the same command ends with
//! exactly the results of a sweep that was never interrupted: no run lost, none repeated, every
//! loss equal to the last bit. Also the `--only` / `--collect` path of the Slurm workflow.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
name = "kill"
description = "Killed and resumed."
[data]
eval_sequences = 32
seed = 3
[data.walk]
seed = 5
[data.walk.graph]
kind = "erdos_renyi"
nodes = 64
edges = 256
[model]
n_layers = 1
context = 16
[sweep]
widths = [16, 32]
head_dim = 8
tokens = [16384, 32768, 65536]
[train]
batch_size = 8
lr = 1e-2
checkpoint_every = 5
[analysis]
bootstrap = 10
"#;

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scalinglab-kill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn scalinglab(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scalinglab"));
    c.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// Sorted data rows of a CSV (header dropped), with the wall-clock and device columns of a
/// results file blanked (they differ between two runs of the same thing).
fn rows(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let skip: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| ["wall_seconds", "device"].contains(h))
        .map(|(i, _)| i)
        .collect();
    // Quoted fields (the device description holds commas) are blanked first.
    let unquote = |l: &str| {
        let mut out = String::new();
        let mut quoted = false;
        for c in l.chars() {
            if c == '"' {
                quoted = !quoted;
            } else if !quoted {
                out.push(c);
            }
        }
        out
    };
    let mut out: Vec<String> = lines
        .map(unquote)
        .map(|l| {
            l.split(',')
                .enumerate()
                .map(|(i, f)| if skip.contains(&i) { "" } else { f })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    out.sort();
    out
}

fn compare(a: &Path, b: &Path) {
    for f in ["results.csv", "curves.csv", "per_position.csv"] {
        let (ra, rb) = (rows(&a.join(f)), rows(&b.join(f)));
        assert_eq!(ra.len(), rb.len(), "{f}: row counts differ");
        assert_eq!(ra, rb, "{f} differs");
    }
    let ids: Vec<String> = rows(&b.join("results.csv"))
        .iter()
        .map(|r| r.split(',').next().unwrap().to_string())
        .collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), 6, "every run present");
    assert_eq!(unique.len(), ids.len(), "no run repeated");
}

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let base = temp("base");
    let config = base.join("kill.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let cfg = config.to_str().unwrap();

    let whole = base.join("whole");
    let t = Instant::now();
    let ok =
        scalinglab(&["run", cfg, "--out", whole.to_str().unwrap(), "--quiet"]).status().unwrap();
    assert!(ok.success());
    let full_time = t.elapsed();
    eprintln!("uninterrupted sweep: {full_time:?}");

    // Kill at pseudo-random moments spread over the sweep's length until it finishes.
    let killed = base.join("killed");
    let out = killed.to_str().unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut kills = 0;
    for _ in 0..6 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Earlier and earlier: each restart has less left to do.
        let frac = (0.1 + 0.3 * (state % 1000) as f64 / 1000.0) * 0.7f64.powi(kills);
        let mut child = scalinglab(&["run", cfg, "--out", out, "--quiet"]).spawn().unwrap();
        std::thread::sleep(full_time.mul_f64(frac).max(Duration::from_millis(50)));
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success());
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    assert!(kills >= 3, "the sweep should have been killed several times, was {kills}");
    let ok = scalinglab(&["run", cfg, "--out", out, "--quiet"]).status().unwrap();
    assert!(ok.success());
    compare(&whole, &killed);
    assert!(killed.join("report.md").exists());
    // No checkpoint is left behind.
    assert!(
        !killed.join("runs").exists()
            || std::fs::read_dir(killed.join("runs")).unwrap().count() == 0
    );
    eprintln!("killed {kills} times, results identical to the uninterrupted sweep");

    // The Slurm path: every index as its own task, then --collect.
    let tasks = base.join("tasks");
    let tout = tasks.to_str().unwrap();
    let ok = scalinglab(&["run", cfg, "--out", tout, "--emit", "slurm"]).status().unwrap();
    assert!(ok.success());
    let script = std::fs::read_to_string(tasks.join("sweep.slurm")).unwrap();
    assert!(script.contains("#SBATCH --array=0-5") && script.contains("SLURM_ARRAY_TASK_ID"));
    let syntax = Command::new("bash").arg("-n").arg(tasks.join("sweep.slurm")).status().unwrap();
    assert!(syntax.success(), "the emitted script is valid bash");
    // Packed: four runs per task makes two tasks; each is run as Slurm would run it, by the
    // script itself with its array index, the second first.
    let ok = scalinglab(&["run", cfg, "--out", tout, "--emit", "slurm", "--runs-per-task", "4"])
        .status()
        .unwrap();
    assert!(ok.success());
    let script = std::fs::read_to_string(tasks.join("sweep.slurm")).unwrap();
    assert!(script.contains("#SBATCH --array=0-1") && script.contains("#SBATCH --requeue"));
    for i in ["1", "0"] {
        let ok = Command::new("bash")
            .arg(tasks.join("sweep.slurm"))
            .env("SLURM_ARRAY_TASK_ID", i)
            .status()
            .unwrap();
        assert!(ok.success(), "array task {i}");
    }
    let st =
        Command::new(env!("CARGO_BIN_EXE_scalinglab")).args(["status", tout]).output().unwrap();
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(st.contains("to merge"), "{st}");
    let ok = scalinglab(&["run", cfg, "--out", tout, "--collect", "--quiet"]).status().unwrap();
    assert!(ok.success());
    compare(&whole, &tasks);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_changed_config_is_refused_naming_what_changed_unless_it_only_extends_the_grid() {
    let base = temp("changed");
    let config = base.join("c.toml");
    std::fs::write(&config, CONFIG.replace("tokens = [16384, 32768, 65536]", "tokens = [16384]"))
        .unwrap();
    let out = base.join("run");
    let (cfg, o) = (config.to_str().unwrap(), out.to_str().unwrap());
    assert!(scalinglab(&["run", cfg, "--out", o, "--quiet"]).status().unwrap().success());
    std::fs::write(
        &config,
        CONFIG
            .replace("tokens = [16384, 32768, 65536]", "tokens = [16384]")
            .replace("lr = 1e-2", "lr = 2e-2"),
    )
    .unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_scalinglab"))
        .args(["run", cfg, "--out", o, "--quiet"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && e.contains("train.lr: 0.01 → 0.02"), "{e}");
    std::fs::write(
        &config,
        CONFIG.replace("tokens = [16384, 32768, 65536]", "tokens = [16384, 32768]"),
    )
    .unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_scalinglab"))
        .args(["run", cfg, "--out", o, "--quiet"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && e.contains("--extend"), "{e}");
    assert!(
        scalinglab(&["run", cfg, "--out", o, "--quiet", "--extend"]).status().unwrap().success()
    );
    assert_eq!(rows(&out.join("results.csv")).len(), 4);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn shell_completions_cover_every_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_scalinglab"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    for sub in ["run", "status", "fit", "stats", "data", "coord-check", "sample", "hidden", "bench"]
    {
        assert!(script.contains(sub), "completion lacks {sub}");
    }
}

/// Waits until `dir`'s lock file names a holder (the process has started working there).
fn wait_for_lock(dir: &Path, child: &mut std::process::Child) {
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(dir.join(".scalinglab.lock")).unwrap_or_default();
        if text.contains("pid") {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "the first process ended before locking");
        assert!(t.elapsed() < Duration::from_secs(60), "no lock after 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn refused(args: &[&str]) -> String {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_scalinglab")).args(args).output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "a second process was let in: {args:?}");
    assert!(t.elapsed() < Duration::from_secs(20), "refused only after {:?}", t.elapsed());
    e
}

#[test]
fn a_second_process_on_a_run_directory_is_refused_naming_the_holder_and_a_dead_one_never_blocks() {
    let base = temp("lock");
    let config = base.join("lock.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let cfg = config.to_str().unwrap();
    let dir = base.join("run");
    let out = dir.to_str().unwrap();

    // A whole sweep holds the directory: a second sweep, a task and a collect are refused at
    // once, each naming the directory and the holder's pid.
    let mut first = scalinglab(&["run", cfg, "--out", out, "--quiet"]).spawn().unwrap();
    wait_for_lock(&dir, &mut first);
    let pid = format!("pid {}", first.id());
    for args in [
        vec!["run", cfg, "--out", out, "--quiet"],
        vec!["run", cfg, "--out", out, "--only", "0", "--quiet"],
        vec!["run", cfg, "--out", out, "--collect", "--quiet"],
        vec!["run", cfg, "--out", out, "--fresh", "--quiet"],
    ] {
        let e = refused(&args);
        assert!(e.contains(out) && e.contains(&pid) && e.contains("in use"), "{args:?}: {e}");
    }
    // Killed, it leaves its lock file behind, which blocks nobody.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(dir.join(".scalinglab.lock").exists());
    assert!(scalinglab(&["run", cfg, "--out", out, "--quiet"]).status().unwrap().success());
    let ids: Vec<String> = rows(&dir.join("results.csv"))
        .iter()
        .map(|r| r.split(',').next().unwrap().to_string())
        .collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (6, 6), "every run once: {ids:?}");

    // Job-array tasks share a directory but not a run; a sweep waits for them.
    let tasks = base.join("tasks");
    let tout = tasks.to_str().unwrap();
    let task = |i: &str| scalinglab(&["run", cfg, "--out", tout, "--only", i, "--jobs", "1"]);
    let mut five = task("5").spawn().unwrap();
    let t = Instant::now();
    let run_lock = tasks.join("runs/.locks/w32_D65536.lock");
    while !std::fs::read_to_string(&run_lock).unwrap_or_default().contains("pid") {
        assert!(five.try_wait().unwrap().is_none(), "the task ended before locking its run");
        assert!(t.elapsed() < Duration::from_secs(60), "no run lock after 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let e = refused(&["run", cfg, "--out", tout, "--only", "5", "--jobs", "1"]);
    assert!(e.contains("w32_D65536") && e.contains(&format!("pid {}", five.id())), "{e}");
    let e = refused(&["run", cfg, "--out", tout, "--collect"]);
    assert!(e.contains("--only") && e.contains("w32_D65536"), "{e}");
    assert!(task("0").status().unwrap().success(), "another index trains beside it");
    assert!(five.wait().unwrap().success());
    assert!(
        scalinglab(&["run", cfg, "--out", tout, "--collect", "--quiet"])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(rows(&tasks.join("results.csv")).len(), 6);
    assert!(!tasks.join("runs/.locks").exists(), "collect removes the tasks' locks");
    let _ = std::fs::remove_dir_all(&base);
}

/// SIGTERM (Slurm's preemption notice) stops the sweep within a step: every run in progress
/// writes its checkpoint at the step it reached, even with periodic checkpoints off, and the
/// restarted sweep resumes there and ends exactly as the uninterrupted one.
#[test]
fn sigterm_checkpoints_the_runs_in_progress_and_the_resume_loses_nothing() {
    let base = temp("term");
    let config = base.join("term.toml");
    // Periodic checkpoints off: a checkpoint can only come from the SIGTERM.
    std::fs::write(&config, CONFIG.replace("checkpoint_every = 5", "checkpoint_every = 0"))
        .unwrap();
    let cfg = config.to_str().unwrap();
    let whole = base.join("whole");
    let t = Instant::now();
    let ok =
        scalinglab(&["run", cfg, "--out", whole.to_str().unwrap(), "--quiet"]).status().unwrap();
    assert!(ok.success());
    let full_time = t.elapsed();

    let termed = base.join("termed");
    let out = termed.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_scalinglab"))
        .args(["run", cfg, "--out", out, "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(full_time.mul_f64(0.4));
    let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let t = Instant::now();
    let status = child.wait().unwrap();
    let stopped_in = t.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "a terminated sweep does not report success");
    assert!(stderr.contains("terminated by SIGTERM at step"), "{stderr}");
    assert!(stopped_in < full_time.mul_f64(0.5), "stopped in {stopped_in:?}");
    let checkpoints = std::fs::read_dir(termed.join("runs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("checkpoint").join("state.json").exists())
        .count();
    assert!(checkpoints >= 1, "the run in progress wrote its checkpoint");
    let ok = scalinglab(&["run", cfg, "--out", out, "--quiet"]).status().unwrap();
    assert!(ok.success());
    compare(&whole, &termed);
    eprintln!("SIGTERM stopped the sweep in {stopped_in:?} with {checkpoints} checkpoint(s)");
    let _ = std::fs::remove_dir_all(&base);
}

//! Bad input on the training side is refused with a message that names the file, the field and
//! the value, and nothing is lost: absurd sizes are refused before anything is allocated (no
//! overflow panic, no "memory allocation failed" abort); a run directory is never adopted by
//! another experiment nor fitted with rows of another one; `--fresh` removes only what the tool
//! wrote; a results row torn by a kill does not stop a resume; a schedule's type error names
//! its field. (A checkpoint past its schedule: `crates/training/tests/optim_resume.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{run, temp};

/// Runs the CLI under a 16 GiB address-space limit (where the shell has `ulimit -v`), so that a
/// regression that allocates an absurd size aborts instead of paging the machine to death.
fn run_limited(args: &[&str]) -> (bool, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 16777216 2>/dev/null; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_scalinglab"))
        .args(args)
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A sweep of two runs that trains in well under a second.
const TINY: &str = r#"name = "tiny"
[data]
eval_sequences = 8
seed = 1
[data.walk]
seed = 0
bias = { kind = "unbiased" }
[data.walk.graph]
kind = "erdos_renyi"
nodes = 32
edges = 64
[model]
arch = "gpt2"
n_layers = 1
context = 8
[sweep]
widths = [8]
head_dim = 4
tokens = [256, 512]
[train]
batch_size = 4
lr = 1e-2
[analysis]
bootstrap = 0
"#;

fn write_config(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// Runs the tiny sweep into `dir/name` and returns the run directory.
fn finished_run(dir: &Path, name: &str) -> (String, String) {
    let cfg = write_config(dir, "tiny.toml", TINY);
    let out = dir.join(name);
    let o = out.to_str().unwrap().to_string();
    let (ok, text) = run(&["run", &cfg, "--out", &o, "--quiet", "--device", "flex", "--jobs", "1"]);
    assert!(ok, "{text}");
    (cfg, o)
}

fn assert_clear_refusal(ok: bool, text: &str, wanted: &[&str], what: &str) {
    assert!(!ok, "{what} was accepted: {text}");
    for w in wanted {
        assert!(text.contains(w), "{what}: the message does not name {w:?}: {text}");
    }
    for bad in ["panicked", "memory allocation", "(absent)"] {
        assert!(!text.contains(bad), "{what}: {bad:?} in {text}");
    }
}

#[test]
fn absurd_sizes_are_refused_naming_the_field_before_anything_is_allocated() {
    let dir = temp("train-bad", "sizes");
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    // (from, to, what the message names, whether it is a memory refusal with its figure)
    let cases = [
        // Parameter counts that overflow 64 bits.
        ("widths = [8]", "widths = [1099511627776]", "model.d_model = 1099511627776", false),
        ("context = 8", "context = 4611686018427387904", "model.context", false),
        // Counts that fit but memory that cannot.
        ("tokens = [256, 512]", "tokens = [1000000000000]", "sweep.tokens = 1000000000000", true),
        ("widths = [8]", "widths = [65536]", "sweep.widths = 65536", true),
        ("context = 8", "context = 1099511627776", "model.context = 1099511627776", true),
    ];
    for (i, (from, to, wanted, memory)) in cases.into_iter().enumerate() {
        let cfg = write_config(&dir, &format!("c{i}.toml"), &TINY.replace(from, to));
        let (ok, e) = run_limited(&["run", &cfg, "--out", o, "--quiet", "--device", "flex"]);
        let figure: &[&str] = if memory { &["GiB", "memory"] } else { &["overflows"] };
        assert_clear_refusal(ok, &e, &[&[wanted][..], figure].concat(), to);
        assert!(!out.join("results.csv").exists(), "{to}: results written before refusing");
        let _ = std::fs::remove_dir_all(&out);
    }
    // `check` refuses an overflowing width too (it used to panic printing N).
    let text = TINY.replace("widths = [8]", "widths = [8, 1099511627776]");
    let cfg = write_config(&dir, "check.toml", &text);
    let (ok, e) = run_limited(&["check", &cfg]);
    assert_clear_refusal(ok, &e, &["model.d_model = 1099511627776", "overflows"], "check");

    // A data build whose walk is far longer than memory (and than its own budget).
    let data = write_config(
        &dir,
        "walks.toml",
        "kind = \"walk\"\ntokens = 2000000000000\nvalidation_tokens = 100\n\
         walk_length = 1000000000000\nseed = 0\n[walk]\nseed = 0\n\
         [walk.graph]\nkind = \"erdos_renyi\"\nnodes = 32\nedges = 64\n",
    );
    let shards = dir.join("shards");
    let (ok, e) = run_limited(&["data", &data, "--out", shards.to_str().unwrap()]);
    assert_clear_refusal(ok, &e, &["walk_length = 1000000000000", "GiB"], "walk_length");
    assert!(!shards.join("train.bin").exists());

    // Point and token files: flags sized beyond the file.
    let points = dir.join("points.bin");
    std::fs::write(&points, vec![0u8; 256]).unwrap();
    let p = points.to_str().unwrap();
    let s = dir.join("stats");
    let so = s.to_str().unwrap();
    for dim in ["18446744073709551615", "4611686018427387904", "1000000000000", "0"] {
        let (ok, e) = run_limited(&["stats", "--points", p, "--dim", dim, "--out", so]);
        assert_clear_refusal(ok, &e, &["--dim", dim, "points.bin"], dim);
    }
    let tokens = dir.join("tokens.bin");
    let ids: Vec<u8> = (0..4000u16).flat_map(|i| (i % 8).to_le_bytes()).collect();
    std::fs::write(&tokens, ids).unwrap();
    let t = tokens.to_str().unwrap();
    for n in ["18446744073709551615", "1000000", "0"] {
        let (ok, e) =
            run_limited(&["stats", "--tokens", t, "--vocab", "8", "--max-n", n, "--out", so]);
        assert_clear_refusal(ok, &e, &["--max-n", n, "tokens.bin"], n);
    }
    assert!(!s.exists(), "stats wrote {so} before refusing");

    // `hidden --points` far beyond memory, on a saved model.
    let text = TINY
        .replace("lr = 1e-2", "lr = 1e-2\nsave_models = true")
        .replace("tokens = [256, 512]", "tokens = [256]");
    let cfg = write_config(&dir, "save.toml", &text);
    let saved = dir.join("saved");
    let (ok, e) =
        run(&["run", &cfg, "--out", saved.to_str().unwrap(), "--quiet", "--device", "flex"]);
    assert!(ok, "{e}");
    let model = saved.join("runs").join("w8_D256").join("model.safetensors");
    let ids: Vec<u8> = (0..400u16).flat_map(|i| (i % 32).to_le_bytes()).collect();
    let tok16 = dir.join("tok16.bin");
    std::fs::write(&tok16, ids).unwrap();
    let h = dir.join("h.bin");
    std::fs::write(&h, b"keep").unwrap();
    let (ok, e) = run_limited(&[
        "hidden",
        model.to_str().unwrap(),
        "--tokens",
        tok16.to_str().unwrap(),
        "--points",
        "1000000000000",
        "--out",
        h.to_str().unwrap(),
    ]);
    assert_clear_refusal(ok, &e, &["points = 1000000000000", "GiB"], "hidden --points");
    assert_eq!(std::fs::read(&h).unwrap(), b"keep", "hidden touched --out before refusing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_directory_without_a_readable_config_is_not_adopted() {
    let dir = temp("train-bad", "adopt");
    let (_, o) = finished_run(&dir, "out");
    let out = PathBuf::from(&o);
    let results = std::fs::read(out.join("results.csv")).unwrap();
    // The config is gone: another experiment must not take the results over.
    let config = std::fs::read(out.join("config.toml")).unwrap();
    std::fs::remove_file(out.join("config.toml")).unwrap();
    let other = write_config(&dir, "other.toml", &TINY.replace("lr = 1e-2", "lr = 2e-2"));
    let (ok, e) = run(&["run", &other, "--out", &o, "--quiet", "--device", "flex"]);
    assert_clear_refusal(ok, &e, &[&o, "no config.toml", "--fresh", "--out"], "missing config");
    assert!(!out.join("config.toml").exists(), "the other config was written");
    assert_eq!(std::fs::read(out.join("results.csv")).unwrap(), results);
    // A truncated config is named as unparseable, not diffed field by field.
    std::fs::write(out.join("config.toml"), &config[..100]).unwrap();
    let tiny = dir.join("tiny.toml");
    let (ok, e) = run(&["run", tiny.to_str().unwrap(), "--out", &o, "--quiet", "--device", "flex"]);
    let file = out.join("config.toml");
    let wanted = format!("cannot parse {}", file.display());
    assert_clear_refusal(ok, &e, &[&wanted, "--fresh"], "truncated config");
    assert_eq!(std::fs::read(&file).unwrap(), &config[..100], "the damaged config was replaced");
    let (ok, e) = run(&["analyze", &o]);
    assert_clear_refusal(ok, &e, &[&wanted], "analyze on a truncated config");
    // --fresh starts over.
    let tiny = tiny.to_str().unwrap();
    let (ok, e) = run(&["run", tiny, "--out", &o, "--quiet", "--fresh", "--device", "flex"]);
    assert!(ok, "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn results_rows_that_contradict_the_config_are_refused_naming_the_row_and_the_field() {
    let dir = temp("train-bad", "rows");
    let (cfg, o) = finished_run(&dir, "out");
    let out = PathBuf::from(&o);
    let path = out.join("results.csv");
    let good = std::fs::read_to_string(&path).unwrap();
    let header: Vec<&str> = good.lines().next().unwrap().split(',').collect();
    let set = |text: &str, row: usize, field: &str, value: &str| -> String {
        let col = header.iter().position(|h| *h == field).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut cells: Vec<String> = lines[row].split(',').map(str::to_string).collect();
        cells[col] = value.to_string();
        lines[row] = cells.join(",");
        lines.join("\n") + "\n"
    };
    for (field, value) in [("vocab_size", "999"), ("context", "64")] {
        std::fs::write(&path, set(&good, 2, field, value)).unwrap();
        for args in [
            vec!["analyze", o.as_str()],
            vec!["run", cfg.as_str(), "--out", o.as_str(), "--quiet", "--device", "flex"],
        ] {
            let (ok, e) = run(&args);
            let wanted = format!("{field} = {value}");
            assert_clear_refusal(ok, &e, &["results.csv", "row 2", &wanted], args[0]);
        }
    }
    // A row that an --only task left under runs/<id>/ is checked before it is merged.
    std::fs::write(&path, &good).unwrap();
    let mut lines = good.lines();
    let head = lines.next().unwrap();
    let row = lines.next().unwrap().replacen("w8_D256", "w8_D9999", 1);
    let shard = out.join("runs").join("w8_D9999");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join("results.csv"), set(&format!("{head}\n{row}\n"), 1, "context", "16"))
        .unwrap();
    let (ok, e) = run(&["run", &cfg, "--out", &o, "--collect", "--quiet", "--device", "flex"]);
    assert_clear_refusal(ok, &e, &["w8_D9999", "context = 16"], "--collect");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), good, "a bad row was merged");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fresh_removes_only_what_the_tool_wrote() {
    let dir = temp("train-bad", "fresh");
    let (cfg, o) = finished_run(&dir, "out");
    let out = PathBuf::from(&o);
    let mine: [(&str, &[u8]); 3] = [
        ("my_figure.svg", b"<svg>mine</svg>"),
        ("notes.md", b"# my notes\n"),
        ("loss_vs_n_annotated.svg", b"<svg>annotated</svg>"),
    ];
    for (name, bytes) in mine {
        std::fs::write(out.join(name), bytes).unwrap();
    }
    let (ok, e) = run(&["run", &cfg, "--out", &o, "--fresh", "--quiet", "--device", "flex"]);
    assert!(ok, "{e}");
    for (name, bytes) in mine {
        assert_eq!(std::fs::read(out.join(name)).unwrap(), bytes, "{name} was not kept as is");
    }
    assert!(out.join("results.csv").exists() && out.join("loss_vs_n.svg").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_results_row_torn_by_a_kill_does_not_stop_a_resume() {
    let dir = temp("train-bad", "torn");
    let (cfg, o) = finished_run(&dir, "out");
    let path = PathBuf::from(&o).join("results.csv");
    let whole = std::fs::read_to_string(&path).unwrap();
    // The last row cut mid-field, as a kill during its write leaves it.
    let cut = whole.trim_end().len() - 30;
    std::fs::write(&path, &whole[..cut]).unwrap();
    let (ok, e) = run(&["status", &o]);
    assert!(ok, "status: {e}");
    let (ok, e) = run(&["run", &cfg, "--out", &o, "--quiet", "--device", "flex"]);
    assert!(ok, "resume: {e}");
    let text = std::fs::read_to_string(&path).unwrap();
    let ids: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{text}");
    assert!(ids.contains(&"w8_D256") && ids.contains(&"w8_D512"), "{text}");
    assert!(text.ends_with('\n'));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_schedule_with_a_wrong_type_names_the_file_and_the_field() {
    let dir = temp("train-bad", "schedule");
    let text = TINY.replace(
        "lr = 1e-2",
        "lr = 1e-2\nschedule = { kind = \"constant_cooldown\", cooldown_frac = \"much\" }",
    );
    let cfg = write_config(&dir, "schedule.toml", &text);
    let (ok, e) = run(&["check", &cfg]);
    assert_clear_refusal(
        ok,
        &e,
        &["schedule.toml", "line 23", "cooldown_frac", "invalid type: string \"much\""],
        "schedule",
    );
    let text = TINY.replace("lr = 1e-2", "lr = 1e-2\nschedule = { kind = \"linear\" }");
    let cfg = write_config(&dir, "kind.toml", &text);
    let (ok, e) = run(&["check", &cfg]);
    assert_clear_refusal(ok, &e, &["kind.toml", "linear", "constant_cooldown"], "kind");
    let _ = std::fs::remove_dir_all(&dir);
}

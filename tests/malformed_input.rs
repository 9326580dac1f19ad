//! Bad input from the command line is refused before any work, with a message that names the
//! flag and the value, and nothing is written. (The run-directory, results-file and shard
//! cases live beside their features: `kill_resume.rs`, `sweep_on_shards.rs`.)

mod common;
use common::{run, temp};

#[test]
fn non_finite_or_empty_flags_are_refused_naming_the_flag_and_nothing_is_written() {
    let dir = temp("bad", "flags");
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    for (lr, steps) in [("nan", "3"), ("inf", "3"), ("-0.1", "3"), ("0.01", "0")] {
        let lr_flag = format!("--lr={lr}");
        let (ok, e) = run(&["coord-check", &lr_flag, "--steps", steps, "--out", o]);
        let flag = if steps == "0" { "--steps" } else { "--lr" };
        assert!(!ok && e.contains(flag), "coord-check --lr {lr} --steps {steps}: {e}");
        assert!(!out.exists(), "coord-check wrote {o} before refusing");
    }
    // A generic CSV that `fit` would accept.
    let csv = dir.join("points.csv");
    let mut text = String::from("N,D,loss\n");
    for n in [1e4, 3e4, 1e5] {
        for d in [1e6, 3e6, 1e7] {
            let loss = 1.8 + 400.0 * f64::powf(n, -0.36) + 300.0 * f64::powf(d, -0.24);
            text.push_str(&format!("{n},{d},{loss}\n"));
        }
    }
    std::fs::write(&csv, text).unwrap();
    let c = csv.to_str().unwrap();
    for (flag, value) in [("--huber-delta", "nan"), ("--huber-delta", "0"), ("--starts", "0")] {
        let (ok, e) = run(&["fit", c, flag, value, "--out", o, "--bootstrap", "0"]);
        assert!(
            !ok && e.contains(flag) && e.to_lowercase().contains(value),
            "fit {flag} {value}: {e}"
        );
        assert!(!out.exists(), "fit wrote {o} before refusing");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

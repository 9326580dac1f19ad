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

/// A results file for `fit` with one bad row: every refusal names the file, the line and the
/// field, and nothing is written.
#[test]
fn a_bad_row_in_a_results_file_is_refused_naming_the_file_the_line_and_the_field() {
    let dir = temp("bad", "results");
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    let mut rows = Vec::new();
    for n in [1e4, 3e4, 1e5] {
        for d in [1e6, 3e6, 1e7] {
            let loss = 1.8 + 400.0 * f64::powf(n, -0.36) + 300.0 * f64::powf(d, -0.24);
            rows.push(format!("{n},{d},{loss}"));
        }
    }
    // (replacement for data line 3, words the message must contain)
    let cases: [(&str, &[&str]); 5] = [
        ("3e4,3e6,nan", &["line 4", "loss", "nan"]),
        ("3e4,3e6,-1", &["line 4", "loss", "-1"]),
        ("-3e4,3e6,2.5", &["line 4", "`N`", "-30000"]),
        ("3e4,abc,2.5", &["line 4", "D", "abc"]),
        ("3e4,3e6", &["line 4"]),
    ];
    for (k, (bad, wanted)) in cases.iter().enumerate() {
        let mut lines = rows.clone();
        lines[2] = bad.to_string();
        let csv = dir.join(format!("case{k}.csv"));
        std::fs::write(&csv, format!("N,D,loss\n{}\n", lines.join("\n"))).unwrap();
        let (ok, e) = run(&["fit", csv.to_str().unwrap(), "--out", o, "--bootstrap", "0"]);
        assert!(!ok, "{bad:?} was accepted");
        let file = format!("case{k}.csv");
        for w in wanted.iter().chain([&file.as_str()]) {
            let found = e.contains(w) || e.to_lowercase().contains(&w.to_lowercase());
            assert!(found, "{bad:?}: the refusal does not name {w:?}: {e}");
        }
        assert!(!e.contains("panicked"), "{bad:?}: {e}");
        assert!(!out.exists(), "fit wrote {o} before refusing {bad:?}");
    }
    // A results.jsonl whose row is not JSON, or lacks its loss.
    for (k, bad) in ["{\"run_id\": \"x\", \"params\": ", "[1, 2, 3]"].iter().enumerate() {
        let jsonl = dir.join(format!("results{k}.jsonl"));
        std::fs::write(&jsonl, format!("{bad}\n")).unwrap();
        let (ok, e) = run(&["fit", jsonl.to_str().unwrap(), "--out", o, "--bootstrap", "0"]);
        assert!(
            !ok && e.contains(&format!("results{k}.jsonl")) && e.contains("line 1"),
            "{bad}: {e}"
        );
        assert!(!e.contains("panicked") && !out.exists(), "{bad}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! `scalinglab fit --budget C --predict N,D`: the answers reach fit.json, fit.md and the
//! terminal; bad budgets and pairs are refused naming the flag, before anything is written.

use std::path::PathBuf;

mod common;
use common::{run_split, temp};

/// A 4 × 4 grid of (N, D) from a Chinchilla-form law with a deterministic ±0.5% wobble.
fn write_csv(dir: &std::path::Path) -> PathBuf {
    let csv = dir.join("points.csv");
    let mut text = String::from("N,D,loss\n");
    let mut i = 0;
    for n in [1e4, 3e4, 1e5, 3e5] {
        for d in [1e6, 3e6, 1e7, 3e7] {
            let wobble = 1.0 + 0.005 * f64::sin(1.7 * i as f64);
            let loss = (1.8 + 400.0 * f64::powf(n, -0.36) + 300.0 * f64::powf(d, -0.24)) * wobble;
            text.push_str(&format!("{n},{d},{loss}\n"));
            i += 1;
        }
    }
    std::fs::write(&csv, text).unwrap();
    csv
}

#[test]
fn budget_and_predict_are_answered_in_every_output() {
    let dir = temp("answers", "ok");
    let csv = write_csv(&dir);
    let out = dir.join("fit");
    let (c, o) = (csv.to_str().unwrap(), out.to_str().unwrap());
    let (ok, stdout, stderr) = run_split(&[
        "fit",
        c,
        "--budget",
        "1e12",
        "--predict",
        "1e6,2e7",
        "--out",
        o,
        "--bootstrap",
        "30",
        "--starts",
        "200",
    ]);
    assert!(ok, "fit failed: {stderr}");
    assert!(stdout.contains("Answers at your budgets"), "{stdout}");
    assert!(stdout.contains("Predicted loss L(N, D)"), "{stdout}");
    let md = std::fs::read_to_string(out.join("fit.md")).unwrap();
    assert!(md.contains("## Answers at your budgets") && md.contains("[95% CI]"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
    let a = &json["answers"];
    assert_eq!(a["budgets"][0]["c"].as_f64(), Some(1e12), "{a}");
    let methods = a["budgets"][0]["methods"].as_array().unwrap();
    let m3 = methods.iter().find(|m| m["method"] == "approach3").expect("approach 3 answer");
    let n_opt = m3["n_opt"]["value"].as_f64().unwrap();
    assert!(n_opt > 1e3 && n_opt < 1e7, "N_opt {n_opt}");
    assert!(m3["loss"]["ci"].is_array(), "loss interval: {m3}");
    let p = &a["predictions"][0];
    assert_eq!((p["n"].as_f64(), p["d"].as_f64()), (Some(1e6), Some(2e7)));
    // N = 1e6 lies ×3.33 beyond the largest run's 3e5.
    assert!((p["n_extrapolation"].as_f64().unwrap() - 1e6 / 3e5).abs() < 1e-9, "{p}");
    let p3 = p["methods"].as_array().unwrap().iter().find(|m| m["method"] == "approach3").unwrap();
    let l = p3["loss"]["value"].as_f64().unwrap();
    let truth = 1.8 + 400.0 * f64::powf(1e6, -0.36) + 300.0 * f64::powf(2e7, -0.24);
    assert!((l / truth - 1.0).abs() < 0.02, "L(1e6, 2e7) = {l}, law {truth}");
    // A comma-separated list and repeated flags.
    let out2 = dir.join("fit2");
    let (ok, _, stderr) = run_split(&[
        "fit",
        c,
        "--budget",
        "1e11,1e12",
        "--budget",
        "1e14",
        "--predict",
        "1e5,1e7",
        "--predict",
        "3e4,3e6",
        "--out",
        out2.to_str().unwrap(),
        "--bootstrap",
        "0",
        "--starts",
        "200",
        "--method",
        "approach3",
    ]);
    assert!(ok, "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out2.join("fit.json")).unwrap()).unwrap();
    assert_eq!(json["answers"]["budgets"].as_array().unwrap().len(), 3);
    assert_eq!(json["answers"]["predictions"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_budgets_and_pairs_are_refused_naming_the_flag() {
    let dir = temp("answers", "bad");
    let csv = write_csv(&dir);
    let out = dir.join("fit");
    let (c, o) = (csv.to_str().unwrap(), out.to_str().unwrap());
    for (flag, value) in [
        ("--budget", "nan"),
        ("--budget", "-1"),
        ("--budget", "0"),
        ("--budget", "1e12,inf"),
        ("--budget", "lots"),
        ("--predict", "1e6"),
        ("--predict", "1e6,-2e7"),
        ("--predict", "1e6,nan"),
    ] {
        let (ok, _, e) = run_split(&["fit", c, flag, value, "--out", o, "--bootstrap", "0"]);
        assert!(!ok && e.contains(flag), "fit {flag} {value}: {e}");
        assert!(!out.exists(), "fit {flag} {value} wrote {o} before refusing");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A floor above the law's true offset (1.8) makes approach 3's E and a far extrapolation
/// fall below it: both are flagged, naming the floor and its source; a floor below the
/// truth flags nothing. A results directory's own recorded floor is used without `--floor`.
#[test]
fn values_below_a_known_floor_are_flagged() {
    let dir = temp("answers", "floor");
    let csv = write_csv(&dir);
    let c = csv.to_str().unwrap();
    let fit = |floor: &str, out: &str| {
        let out = dir.join(out);
        let (ok, stdout, stderr) = run_split(&[
            "fit",
            c,
            "--predict",
            "1e15,1e17",
            "--floor",
            floor,
            "--out",
            out.to_str().unwrap(),
            "--bootstrap",
            "30",
            "--starts",
            "200",
            "--method",
            "approach3",
        ]);
        assert!(ok, "fit failed: {stderr}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
        (stdout, json)
    };
    let (stdout, json) = fit("2.5", "high");
    assert!(
        stdout.contains("approach 3's E = ")
            && stdout.contains("is below the known floor 2.5000 (--floor)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("approach3's predicted loss at N = 1.000e15, D = 1.000e17"),
        "{stdout}"
    );
    assert_eq!(json["floor"]["loss"].as_f64(), Some(2.5));
    let (stdout, json) = fit("1.0", "low");
    assert!(!stdout.contains("below the known floor"), "{stdout}");
    assert_eq!(json["floor"]["source"], "--floor");
    let (ok, _, stderr) =
        run_split(&["fit", c, "--floor", "-1", "--out", dir.join("bad").to_str().unwrap()]);
    assert!(!ok && stderr.contains("--floor") && stderr.contains("-1"), "{stderr}");
    // The example report's sweep recorded the walk's entropy rate beside its results.
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/example-report");
    let out = dir.join("example");
    let (ok, _, stderr) = run_split(&[
        "fit",
        example.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--bootstrap",
        "20",
        "--starts",
        "100",
        "--method",
        "approach3",
    ]);
    assert!(ok, "fit failed: {stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
    assert!(
        (json["floor"]["loss"].as_f64().unwrap() - 2.367680709634034).abs() < 1e-12,
        "{}",
        json["floor"]
    );
    assert!(json["floor"]["source"].as_str().unwrap().ends_with("fits.json"), "{}", json["floor"]);
}

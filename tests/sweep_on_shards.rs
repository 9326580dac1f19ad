//! A sweep on token shards written by the data builder (here a Random Hierarchy Model
//! grammar): training reads nested prefixes of the shard, the report names the data and uses
//! the shard's exact entropy rate, and bad shards are refused with the file named.

use std::path::{Path, PathBuf};

use scalinglab_data::{DataBuildConfig, HierarchyBuild, HierarchyConfig, build_data};
use scalinglab_training::{DeviceChoice, ExperimentConfig, RunOptions, ShardData, run_experiment};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalinglab-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn build(dir: &Path, tokens: u64) -> (PathBuf, PathBuf, f64) {
    let recipe = DataBuildConfig::Hierarchy(HierarchyBuild {
        hierarchy: HierarchyConfig { vocab: 8, rules: 2, branching: 2, depth: 4, seed: 1 },
        tokens,
        validation_tokens: 4096,
        seed: 0,
    });
    let summary = build_data(&recipe, dir, |_| {}).unwrap();
    (dir.join("train.bin"), dir.join("validation.bin"), summary.entropy_rate.unwrap())
}

fn config(train: PathBuf, validation: PathBuf) -> ExperimentConfig {
    let mut cfg = ExperimentConfig::quickstart();
    cfg.name = "shards".into();
    cfg.data.shards = Some(ShardData { train, validation });
    cfg.data.eval_sequences = 32;
    cfg.model.n_layers = 1;
    cfg.model.context = 16;
    cfg.sweep.widths = vec![16];
    cfg.sweep.head_dim = 8;
    cfg.sweep.tokens = vec![4096, 8192];
    cfg.train.batch_size = 16;
    cfg.analysis.bootstrap = 0;
    cfg
}

#[test]
fn sweep_trains_on_shards_and_reports_their_entropy_rate() {
    let dir = temp_dir("shards");
    let (train, validation, h) = build(&dir.join("data"), 32_768);
    let cfg = config(train.clone(), validation.clone());
    assert_eq!(cfg.vocab_size().unwrap(), 8);
    let opts =
        RunOptions { progress: false, ..RunOptions::new(dir.join("run"), DeviceChoice::Flex) };
    let out = run_experiment(&cfg, &opts).unwrap();
    assert_eq!(out.records.len(), 2);
    assert!((out.entropy_rate - h).abs() < 1e-9, "{} vs {h}", out.entropy_rate);
    assert!(out.eval_oracle_loss.is_nan(), "no oracle for shards");
    for r in &out.records {
        assert_eq!(r.vocab_size, 8);
        // Trained models beat the uniform guess ln 8 on held-out grammar text.
        assert!(r.eval_loss < 8f64.ln(), "{r:?}");
    }
    let report = std::fs::read_to_string(&out.report).unwrap();
    assert!(report.contains("Token shards"), "{report}");
    assert!(report.contains(&format!("{h:.4}")), "the exact entropy rate is in the report");

    // A shard too short for the largest budget is refused, naming the file and the need.
    let mut big = config(train.clone(), validation.clone());
    big.sweep.tokens = vec![1 << 20];
    let opts =
        RunOptions { progress: false, ..RunOptions::new(dir.join("big"), DeviceChoice::Flex) };
    let e = run_experiment(&big, &opts).unwrap_err().to_string();
    assert!(
        e.contains("data.shards.train") && e.contains("train.bin") && e.contains("needs"),
        "{e}"
    );

    // A missing shard is refused at validation, naming the path.
    let missing = config(dir.join("nope.bin"), validation);
    let e = missing.validate().unwrap_err().to_string();
    assert!(e.contains("nope.bin"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stats_reads_the_vocabulary_from_the_shard_header() {
    let dir = temp_dir("stats-header");
    let (train, _, _) = build(&dir.join("data"), 32_768);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalinglab"))
        .args(["stats", "--tokens"])
        .arg(&train)
        .args(["--bootstrap", "10", "--out"])
        .arg(dir.join("stats"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("V = 8"), "{stdout}");
    // A bare file without a header needs --vocab, and the error says so.
    let bare = dir.join("bare.bin");
    std::fs::copy(&train, &bare).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalinglab"))
        .args(["stats", "--tokens"])
        .arg(&bare)
        .args(["--out"])
        .arg(dir.join("stats2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--vocab"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

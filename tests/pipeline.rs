//! The whole pipeline on a tiny sweep, in seconds: data → training grid → results → fits →
//! report, then resume.

use std::path::{Path, PathBuf};

use scalinglab_analysis::{RunStatus, read_results};
use scalinglab_training::{
    DeviceChoice, ExperimentConfig, RunOptions, TrainingError, files, run_experiment,
};

const TINY: &str = r#"
name = "tiny"
description = "A tiny sweep for the test suite."
[data]
eval_sequences = 64
seed = 3
[data.walk]
seed = 5
[data.walk.graph]
kind = "erdos_renyi"
nodes = 32
edges = 96
[model]
n_layers = 1
context = 16
[sweep]
widths = [8, 64]
head_dim = 8
tokens = [2048, 16384]
[train]
batch_size = 16
lr = 1e-2
[analysis]
bootstrap = 20
"#;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalinglab-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn opts(dir: &Path) -> RunOptions {
    RunOptions { progress: false, ..RunOptions::new(dir, DeviceChoice::Flex) }
}

#[test]
fn tiny_sweep_end_to_end_then_resume() {
    let cfg = ExperimentConfig::from_toml(TINY, Path::new("tiny.toml")).unwrap();
    let dir = temp_dir("pipeline");
    let out = run_experiment(&cfg, &opts(&dir)).unwrap();
    assert_eq!(out.trained, 4);
    assert_eq!(out.records.len(), 4);
    let jsonl = std::fs::read_to_string(dir.join(files::RESULTS_JSONL)).unwrap();
    assert_eq!(jsonl.lines().count(), 4);
    for line in jsonl.lines() {
        let r: scalinglab_analysis::RunRecord = serde_json::from_str(line).unwrap();
        assert!(out.records.contains(&r), "{line}");
    }
    // The training curves as JSON lines: one object per curves.csv row, the same numbers.
    let csv = std::fs::read_to_string(dir.join(files::CURVES)).unwrap();
    let curves = std::fs::read_to_string(dir.join(files::CURVES_JSONL)).unwrap();
    assert_eq!(curves.lines().count(), csv.lines().count() - 1);
    for (line, row) in curves.lines().zip(csv.lines().skip(1)) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(v["run_id"], cells[0]);
        // (serde_json's default parser may be one ulp off; the file holds the exact digits.)
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-15 * b.abs();
        assert!(close(v["tokens_seen"].as_f64().unwrap(), cells[2].parse().unwrap()), "{line}");
        assert!(close(v["loss"].as_f64().unwrap(), cells[6].parse().unwrap()), "{line}");
    }
    for name in [
        files::CONFIG,
        files::RESULTS,
        files::REPORT,
        files::FITS,
        "loss_vs_n.svg",
        "loss_vs_d.svg",
    ] {
        assert!(dir.join(name).exists(), "{name} missing");
    }
    let rows = read_results(&dir.join(files::RESULTS)).unwrap();
    assert!(rows.iter().all(|r| r.status == RunStatus::Ok && r.eval_loss.is_finite()));
    let loss = |w: usize, d: u64| {
        rows.iter().find(|r| r.d_model == w && r.tokens == d).map(|r| r.eval_loss).unwrap()
    };
    // More data helps at either width, and the wider model wins on the larger budget.
    assert!(loss(8, 16384) < loss(8, 2048), "{rows:?}");
    assert!(loss(64, 16384) < loss(64, 2048), "{rows:?}");
    assert!(loss(64, 16384) < loss(8, 16384), "{rows:?}");
    // Nothing beats the exact entropy rate by more than the held-out sampling noise.
    for r in &rows {
        assert!(
            r.eval_loss > out.eval_oracle_loss - 0.05,
            "{r:?} vs oracle {}",
            out.eval_oracle_loss
        );
    }
    // Counts are carried into the results.
    assert!(rows.iter().all(|r| r.params > r.params_non_embedding && r.flops > 0.0));
    let report = std::fs::read_to_string(dir.join(files::REPORT)).unwrap();
    assert!(report.contains("entropy rate"), "{report}");

    // Running again resumes: every run is found finished, nothing is retrained.
    let again = run_experiment(&cfg, &opts(&dir)).unwrap();
    assert_eq!(again.trained, 0);
    assert_eq!(again.records.len(), 4);
    // A directory made by an earlier version, whose config.toml lacks a field added since
    // (sweep.layout; its default keeps the old grid), resumes too.
    let written = std::fs::read_to_string(dir.join(files::CONFIG)).unwrap();
    assert!(written.contains("layout = \"full\""), "{written}");
    std::fs::write(dir.join(files::CONFIG), written.replace("layout = \"full\"\n", "")).unwrap();
    let older = run_experiment(&cfg, &opts(&dir)).unwrap();
    assert_eq!(older.trained, 0);

    // --fresh starts over: the tool's plots and results go (and are written anew), every run
    // is trained again, and a figure of the user's in the directory is left alone.
    std::fs::write(dir.join("mine.svg"), "<svg/>").unwrap();
    std::fs::write(dir.join("loss_vs_n.svg"), "stale").unwrap();
    let fresh = run_experiment(&cfg, &RunOptions { fresh: true, ..opts(&dir) }).unwrap();
    assert_eq!(fresh.trained, 4);
    assert_eq!(std::fs::read_to_string(dir.join("mine.svg")).unwrap(), "<svg/>");
    assert_ne!(std::fs::read_to_string(dir.join("loss_vs_n.svg")).unwrap(), "stale");
    assert_eq!(read_results(&dir.join(files::RESULTS)).unwrap().len(), 4);

    // A different experiment in the same directory is refused, not mixed in.
    let mut other = cfg.clone();
    other.train.lr = 5e-3;
    match run_experiment(&other, &opts(&dir)) {
        Err(TrainingError::ConfigMismatch { .. }) => {}
        r => panic!("expected a config mismatch, got {r:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn training_beats_the_unigram_entropy() {
    use scalinglab_data::TokenCorpus;
    use scalinglab_training::{Checkpointing, TrainConfig, train_run};
    let cfg = ExperimentConfig::from_toml(TINY, Path::new("tiny.toml")).unwrap();
    let chain = cfg.data.walk.build().unwrap();
    let train = TokenCorpus::from_walks(&chain, 16, 1024, 1);
    let eval = TokenCorpus::from_walks(&chain, 16, 64, 2);
    let model = cfg.run_model(32).unwrap();
    let tc = TrainConfig { lr: 1e-2, ..TrainConfig::default() };
    let device = burn::prelude::Device::flex();
    let (_, out) =
        train_run(&model, &tc, &train, &eval, &device, &Checkpointing::default(), |_, _| {})
            .unwrap();
    let unigram = chain.unigram_entropy();
    let rate = chain.entropy_rate();
    assert!(!out.diverged);
    assert!((out.initial_loss - (32f64).ln()).abs() < 0.3, "initial {}", out.initial_loss);
    // The model must have learned the transitions, not only the token frequencies.
    assert!(
        out.eval_loss < unigram - 0.3 * (unigram - rate),
        "eval {} unigram {unigram} rate {rate}",
        out.eval_loss
    );
}

/// Runs trained side by side give exactly the numbers they give alone: each run's initial
/// weights and batches depend on its own seed, not on which thread got there first.
#[test]
fn parallel_runs_are_reproducible() {
    let cfg = ExperimentConfig::from_toml(TINY, Path::new("tiny.toml")).unwrap();
    let losses = |jobs: usize, name: &str| {
        let dir = temp_dir(name);
        let opts = RunOptions { jobs, ..opts(&dir) };
        let mut rows: Vec<(String, f64, f64)> = run_experiment(&cfg, &opts)
            .unwrap()
            .records
            .into_iter()
            .map(|r| (r.run_id, r.train_loss, r.eval_loss))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let _ = std::fs::remove_dir_all(&dir);
        rows
    };
    let alone = losses(1, "alone");
    for attempt in 0..2 {
        assert_eq!(losses(2, &format!("side-by-side-{attempt}")), alone);
    }
}

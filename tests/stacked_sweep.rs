//! A learning-rate × seed grid trained with its cells stacked (`--replicas`) against the same
//! grid trained run by run: the same runs, the same results rows (up to float rounding in the
//! losses and the measured wall time), the same report; and a rerun trains nothing.

use std::path::{Path, PathBuf};

use scalinglab_analysis::RunRecord;
use scalinglab_training::{DeviceChoice, ExperimentConfig, RunOptions, files, run_experiment};

const GRID: &str = r#"
name = "stacked"
description = "Three learning rates and two seeds per cell, for the stacked-training test."
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
widths = [16, 32]
head_dim = 8
tokens = [4096, 8192]
lr_multipliers = [0.5, 1.0, 2.0]
seeds = [0, 1]
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

fn run(dir: &Path, replicas: usize) -> Vec<RunRecord> {
    let cfg = ExperimentConfig::from_toml(GRID, Path::new("stacked.toml")).unwrap();
    let opts = RunOptions { progress: false, replicas, ..RunOptions::new(dir, DeviceChoice::Flex) };
    let mut records = run_experiment(&cfg, &opts).unwrap().records;
    records.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    records
}

#[test]
fn a_stacked_grid_gives_the_rows_of_runs_trained_alone() {
    let (alone_dir, stacked_dir) = (temp_dir("alone"), temp_dir("stacked"));
    let alone = run(&alone_dir, 1);
    let stacked = run(&stacked_dir, 6);
    assert_eq!(alone.len(), 24);
    assert_eq!(stacked.len(), 24);
    let log = std::fs::read_to_string(stacked_dir.join(files::LOG)).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains(" steps ")).count(), 24, "{log}");
    let mut worst = 0.0f64;
    for (a, s) in alone.iter().zip(&stacked) {
        assert_eq!(a.run_id, s.run_id);
        assert_eq!(
            (a.d_model, a.tokens, a.steps, a.seed, a.lr.to_bits()),
            (s.d_model, s.tokens, s.steps, s.seed, s.lr.to_bits())
        );
        assert_eq!(a.params_non_embedding, s.params_non_embedding);
        worst =
            worst.max((a.eval_loss - s.eval_loss).abs()).max((a.train_loss - s.train_loss).abs());
    }
    eprintln!("largest loss difference, 24 runs stacked in groups of 6 vs alone: {worst:e}");
    assert!(worst < 1e-3, "{worst}");
    // The cells' winners and the fits are the same: the report names the same best rates.
    let curves = |d: &Path| std::fs::read_to_string(d.join(files::CURVES)).unwrap().lines().count();
    assert_eq!(curves(&alone_dir), curves(&stacked_dir));
    // Nothing is retrained on a second call.
    let cfg = ExperimentConfig::from_toml(GRID, Path::new("stacked.toml")).unwrap();
    let opts = RunOptions {
        progress: false,
        replicas: 6,
        ..RunOptions::new(&stacked_dir, DeviceChoice::Flex)
    };
    assert_eq!(run_experiment(&cfg, &opts).unwrap().trained, 0);
    let _ = std::fs::remove_dir_all(&alone_dir);
    let _ = std::fs::remove_dir_all(&stacked_dir);
}

//! A sweep on token shards written by the data builder: training reads nested prefixes of the
//! shard, the report names the data, the reference loss is the learner's floor on its windows
//! (for walk shards computed for any window; for grammar documents that the windows cut across,
//! unknown, so E is not pinned), and bad shards are refused with the file named.

use std::path::{Path, PathBuf};

use scalinglab_data::{
    DataBuildConfig, GraphSpec, HierarchyBuild, HierarchyConfig, WalkBias, WalkBuild, WalkConfig,
    build_data,
};
use scalinglab_training::{
    DeviceChoice, ExperimentConfig, GridLayout, RunOptions, ShardData, run_experiment,
};

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
    cfg.sweep.layout = GridLayout::Full;
    cfg.sweep.lr_check = None;
    cfg.train.batch_size = 16;
    (cfg.train.lr, cfg.train.min_lr_ratio, cfg.train.weight_decay) = (3e-2, 0.1, 0.01);
    cfg.analysis.bootstrap = 0;
    cfg
}

#[test]
fn walk_shards_pin_e_to_the_floor_of_the_windows_not_to_the_entropy_rate() {
    // Walks of 100 tokens under windows of 51: a restart (a fresh draw from π) falls inside one
    // predicted position in 100, so the floor is above H by about (H(π) − H)/100.
    let dir = temp_dir("walk-floor");
    let walk = WalkConfig {
        graph: GraphSpec::ErdosRenyi { nodes: 64, edges: 256 },
        bias: WalkBias::Unbiased,
        seed: 5,
    };
    let chain = walk.build().unwrap();
    let (h, unigram) = (chain.entropy_rate(), chain.unigram_entropy());
    for (walk_length, name) in [(100usize, "straddling"), (51, "aligned")] {
        let data = dir.join(format!("data-{name}"));
        let recipe = DataBuildConfig::Walk(WalkBuild {
            walk: walk.clone(),
            tokens: 40_000,
            validation_tokens: 51 * 2000,
            walk_length,
            seed: 1,
        });
        build_data(&recipe, &data, |_| {}).unwrap();
        let mut cfg = config(data.join("train.bin"), data.join("validation.bin"));
        cfg.model.context = 50;
        cfg.data.eval_sequences = 2000;
        cfg.sweep.tokens = vec![5_000, 10_000];
        let opts = RunOptions {
            progress: false,
            ..RunOptions::new(dir.join(format!("run-{name}")), DeviceChoice::Flex)
        };
        let out = run_experiment(&cfg, &opts).unwrap();
        let floor = out.entropy_rate;
        let report = std::fs::read_to_string(&out.report).unwrap();
        if walk_length == 51 {
            assert_eq!(floor, h, "aligned walks: the floor is H exactly");
            // The chain's own loss on the held-out windows estimates it.
            assert!((out.eval_oracle_loss - h).abs() < 0.02, "{}", out.eval_oracle_loss);
            assert!(report.contains("exact"), "{report}");
        } else {
            let known_restarts = h + (unigram - h) / 100.0;
            eprintln!(
                "walks of 100 under windows of 51: H {h:.4}, floor {floor:.4}, H + (H(π) − H)/100 = {known_restarts:.4}"
            );
            // The Bayes floor lies above the loss of an oracle that knows where walks restart,
            // and below it plus what not knowing costs at most: ln L for each restart (one in
            // L positions) and the mixing weight 1/L at every other position.
            let most = known_restarts + ((100f64).ln() + 1.0) / 100.0;
            assert!(floor > known_restarts, "{floor} vs {known_restarts}");
            assert!(floor < most, "{floor} vs {most}");
            assert!((out.eval_oracle_loss - floor).abs() < 1e-12, "measured on these windows");
            assert!(report.contains("learner's floor"), "{report}");
            assert!(report.contains(&format!("{floor:.4}")), "{report}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
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
    // Grammar documents of 16 tokens under windows of 17: the windows cut across documents,
    // so the learner's floor is not the grammar's rate and is not known; E is not pinned.
    assert!(out.entropy_rate.is_nan(), "{}", out.entropy_rate);
    assert!(out.eval_oracle_loss.is_nan(), "no oracle for grammar shards");
    for r in &out.records {
        assert_eq!(r.vocab_size, 8);
        // Trained models beat the uniform guess ln 8 on held-out grammar text.
        assert!(r.eval_loss < 8f64.ln(), "{r:?}");
    }
    let report = std::fs::read_to_string(&out.report).unwrap();
    assert!(report.contains("Token shards"), "{report}");
    assert!(report.contains(&format!("{h:.4}")), "the process's entropy rate is in the report");
    assert!(report.contains("not known") && report.contains("never pinned"), "{report}");

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

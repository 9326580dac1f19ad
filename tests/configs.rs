//! Every experiment in configs/ parses, validates and runs as written (its grid is checked
//! here; `pipeline.rs` runs a small one end to end).

use std::path::Path;

mod common;
use common::manifest_dir;

use scalinglab_training::{ExperimentConfig, QUICKSTART_TOML};

#[test]
fn every_config_in_configs_is_valid() {
    let dir = manifest_dir().join("../../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let cfg = ExperimentConfig::load(&path)
                .unwrap_or_else(|e| panic!("{} is invalid: {e}", path.display()));
            for &w in &cfg.sweep.widths {
                cfg.run_model(w).unwrap();
            }
            seen += 1;
        }
    }
    assert!(seen >= 1, "no configs found in {}", dir.display());
}

#[test]
fn embedded_quickstart_is_the_file_in_configs() {
    let dir = manifest_dir().join("../../configs/quickstart.toml");
    assert_eq!(std::fs::read_to_string(dir).unwrap(), QUICKSTART_TOML);
    let q = ExperimentConfig::quickstart();
    assert_eq!(q.name, "quickstart");
    assert!(q.sweep.widths.len() >= 4 && q.sweep.tokens.len() >= 4);
    assert_eq!(q.model.n_layers, 2);
    assert_eq!(q.model.context, 50);
    // The 1/width learning-rate rule: 4.5e-2 at the base width 16, 7.5e-3 at width 96.
    assert!((q.lr_for_width(16) - 4.5e-2).abs() < 1e-15);
    assert!((q.lr_for_width(96) - 7.5e-3).abs() < 1e-15);
}

#[test]
fn config_round_trips_through_toml() {
    let q = ExperimentConfig::quickstart();
    let again = ExperimentConfig::from_toml(&q.to_toml(), Path::new("<round trip>")).unwrap();
    assert_eq!(q, again);
}

#[test]
fn bad_input_names_the_field_and_value() {
    let bad = |text: &str| {
        ExperimentConfig::from_toml(text, Path::new("bad.toml")).unwrap_err().to_string()
    };
    let e = bad("name = \"x\"\n[train]\nlr = -1.0\n");
    assert!(e.contains("train.lr") && e.contains("-1"), "{e}");
    // A width splits into max(1, ⌊width / head_dim⌋) heads: 24 is one head of 24, 40 two of
    // 20, and 50 cannot be split into three.
    let e = bad("name = \"x\"\n[sweep]\nwidths = [50]\nhead_dim = 16\n");
    assert!(e.contains("sweep.widths") && e.contains("50"), "{e}");
    let e = bad("name = \"x\"\n[train]\nlearning_rate = 0.1\n");
    assert!(e.contains("bad.toml") && e.contains("learning_rate"), "{e}");
    // Width and heads belong to the sweep: setting them on the family is an error, not ignored.
    let e = bad("name = \"x\"\n[model]\nn_heads = 3\n");
    assert!(e.contains("n_heads"), "{e}");
    let e = bad("name = \"x\"\n[model]\nn_layers = 0\n");
    assert!(e.contains("model.n_layers") && e.contains('0'), "{e}");
    let e =
        bad("name = \"x\"\n[data.walk.graph]\nkind = \"erdos_renyi\"\nnodes = 64\nedges = 10\n");
    assert!(e.contains("edges") && e.contains("10"), "{e}");
    let e = bad("name = \"\"\n");
    assert!(e.contains("name"), "{e}");
}

#[test]
fn isoflop_lines_put_every_width_at_each_budget() {
    let path = manifest_dir().join("../../configs/isoflop.toml");
    let cfg = ExperimentConfig::load(&path).unwrap();
    let grid = cfg.grid().unwrap();
    // 4 budgets × 4 widths, less width 16 at 1e12 (25M tokens, above isoflop_tokens' 8M).
    assert_eq!(grid.len(), 15, "{grid:?}");
    assert!(!grid.iter().any(|g| g.1 > 8_000_000));
    for &c in &cfg.sweep.compute_budgets {
        for &w in &cfg.sweep.widths {
            let n = cfg.run_model(w).unwrap().param_counts().non_embedding as f64;
            let d = c / (6.0 * n);
            if d > 8e6 {
                continue;
            }
            // The run closest to this budget is within half a sequence of D = C / (6N).
            let nearest = grid.iter().filter(|g| g.0 == w).map(|g| (g.1 as f64 - d).abs());
            assert!(nearest.fold(f64::MAX, f64::min) <= 25.0, "width {w}, C = {c:e}");
        }
    }
    // A grid budget equal to an IsoFLOP point adds 4 cells, one of which is already there:
    // no run is planned twice. Bad budgets are named.
    let mut both = cfg.clone();
    both.sweep.tokens = vec![grid[0].1];
    assert_eq!(both.grid().unwrap().len(), 18);
    let e = ExperimentConfig::from_toml(
        "name = \"x\"\n[sweep]\ncompute_budgets = [-1.0]\n",
        Path::new("b.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("sweep.compute_budgets") && e.contains("-1"), "{e}");
}

#[test]
fn every_data_config_in_configs_data_parses() {
    let dir = manifest_dir().join("../../configs/data");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            toml::from_str::<scalinglab_data::build::DataBuildConfig>(&text)
                .unwrap_or_else(|e| panic!("{} is invalid: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 2, "data configs in {}", dir.display());
}

/// The corpus and n-gram examples of configs/data build as their comments say: the corpus
/// from this repository's docs/ (no download), then a bigram language with an exact entropy
/// rate from its training shard.
#[test]
fn the_corpus_and_ngram_examples_build_from_the_repository_alone() {
    use scalinglab_data::build::{DataBuildConfig, build_data};
    let root = manifest_dir().join("../..");
    let out =
        std::env::temp_dir().join(format!("scalinglab-config-examples-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let read = |name: &str| std::fs::read_to_string(root.join("configs/data").join(name)).unwrap();
    // Relative paths are the repository root's: rebase them on this checkout.
    let corpus = read("corpus.toml")
        .replace("path = \"docs\"", &format!("path = {:?}", root.join("docs").to_str().unwrap()));
    let corpus: DataBuildConfig = toml::from_str(&corpus).unwrap();
    let summary = build_data(&corpus, &out.join("docs"), |_| {}).unwrap();
    assert_eq!(summary.vocab_size, 512);
    assert!(summary.train_tokens > 10_000 && summary.validation_tokens > 0, "{summary:?}");
    let shard = out.join("docs").join("train.bin");
    let ngram = read("ngram.toml").replace(
        "shard = \"data/docs/train.bin\"",
        &format!("shard = {:?}", shard.to_str().unwrap()),
    );
    let ngram: DataBuildConfig = toml::from_str(&ngram).unwrap();
    let summary = build_data(&ngram, &out.join("bigram"), |_| {}).unwrap();
    let h = summary.entropy_rate.expect("a bigram language has an exact entropy rate");
    assert!(h > 0.5 && h < (512f64).ln(), "entropy rate {h}");
    let _ = std::fs::remove_dir_all(&out);
}

/// The README names every config the repository ships, and every config path it names exists.
#[test]
fn the_readme_lists_exactly_the_configs_that_exist() {
    let root = manifest_dir().join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for sub in ["configs", "configs/data"] {
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let name = format!("{sub}/{}", path.file_name().unwrap().to_str().unwrap());
                let short = path.file_name().unwrap().to_str().unwrap();
                assert!(
                    readme.contains(&name)
                        || (sub == "configs" && readme.contains(&format!("`{short}`"))),
                    "README.md does not mention {name}"
                );
            }
        }
    }
    let mut rest = readme.as_str();
    while let Some(i) = rest.find("configs/") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "/_.-".contains(c)))
            .unwrap_or(tail.len());
        let path = tail[..end].trim_end_matches('.');
        if path.ends_with(".toml") {
            assert!(root.join(path).exists(), "README.md names {path}, which does not exist");
        }
        rest = &tail[end..];
    }
}

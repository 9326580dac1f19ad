//! `build_data` end to end: each kind of configuration to shards on disk.

mod common;

use common::{manifest_dir, temp_dir};
use scalinglab_data::{
    DataBuildConfig, Graph, ManifoldConfig, Split, TokenShard, Tokenize, Tokenizer, WalkConfig,
    build_data, split_of,
};

fn build(config: &DataBuildConfig, dir: &std::path::Path) -> (scalinglab_data::DataSummary, u64) {
    let mut last_done = 0;
    let summary = build_data(config, dir, |p| last_done = p.done).unwrap();
    (summary, last_done)
}

#[test]
fn walk_build_writes_walks_on_the_graph() {
    let dir = temp_dir("build-walk");
    let config: DataBuildConfig = toml::from_str(
        r#"
kind = "walk"
tokens = 10000
validation_tokens = 2000
walk_length = 51
seed = 4
[walk]
seed = 1
[walk.graph]
kind = "watts_strogatz"
nodes = 60
k = 4
p = 0.2
"#,
    )
    .unwrap();
    let (summary, last_done) = build(&config, &dir);
    assert_eq!((summary.train_tokens, summary.validation_tokens), (10_000, 2000));
    assert_eq!(summary.train_documents, 10_000u64.div_ceil(51));
    assert_eq!(last_done, 2000, "progress reaches the end of the last stage");
    assert_eq!(summary.vocab_size, 60);
    let DataBuildConfig::Walk(walk) = &config else { unreachable!() };
    let chain = walk.walk.build().unwrap();
    assert_eq!(summary.entropy_rate, Some(chain.entropy_rate()));
    assert!(summary.notes[0].starts_with("graph: drawn"), "{:?}", summary.notes);
    assert!(summary.tokens_per_second > 0.0);
    // Every step inside a walk follows an edge of the saved graph.
    let graph = Graph::read_edge_list(&dir.join("graph.txt")).unwrap();
    let (g2, _) = WalkConfig { ..walk.walk.clone() }.build_with_graph().unwrap();
    assert_eq!(graph, g2);
    for split in ["train", "validation"] {
        let shard = TokenShard::open(&dir.join(format!("{split}.bin"))).unwrap();
        // JSON keeps the entropy to within a unit in the last place.
        let h = shard.header().entropy_rate.unwrap();
        assert!((h - chain.entropy_rate()).abs() < 1e-14, "{h}");
        let tokens = shard.window(0, shard.len());
        for walk in tokens.chunks(51) {
            for w in walk.windows(2) {
                assert!(graph.neighbors(w[0] as usize).contains(&w[1]), "{split}: {w:?}");
            }
        }
    }
    let train = TokenShard::open(&dir.join("train.bin")).unwrap().window(0, 100);
    let val = TokenShard::open(&dir.join("validation.bin")).unwrap().window(0, 100);
    assert_ne!(train, val, "validation walks are another stream");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    assert_eq!(record["summary"]["train_tokens"], 10_000);
    assert_eq!(record["config"]["kind"], "walk");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stories over a small made-up vocabulary.
fn stories(n: usize) -> Vec<String> {
    let words =
        ["the", "cat", "saw", "a", "dog", "and", "ran", "home", "café", "sun", "was", "big"];
    (0..n)
        .map(|i| {
            (0..(5 + i % 17))
                .map(|j| words[(i * 7 + j * j * 3 + j) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
                + "."
        })
        .collect()
}

#[test]
fn corpus_then_ngram_build() {
    let dir = temp_dir("build-corpus");
    let docs = stories(400);
    let text: String = docs.iter().map(|d| format!("{d}\n<|endoftext|>\n")).collect();
    let corpus_path = dir.join("stories.txt");
    std::fs::write(&corpus_path, text).unwrap();
    let out = dir.join("bpe");
    let config: DataBuildConfig = toml::from_str(&format!(
        r#"
kind = "corpus"
validation_fraction = 0.2
seed = 3
[source]
format = "text"
path = "{}"
[tokenizer]
kind = "bpe"
vocab_size = 280
"#,
        corpus_path.display()
    ))
    .unwrap();
    let (summary, _) = build(&config, &out);
    assert_eq!(summary.vocab_size, 280);
    assert!(summary.notes.is_empty(), "{:?}", summary.notes);
    assert_eq!(summary.train_documents + summary.validation_documents, 400);
    let tokenizer = Tokenizer::load(&out.join("tokenizer.json")).unwrap();
    let eot = tokenizer.end_of_text().unwrap();
    for (split, name) in [(Split::Train, "train"), (Split::Validation, "validation")] {
        let expected: Vec<&String> = docs
            .iter()
            .enumerate()
            .filter(|&(i, _)| split_of(i as u64, 3, 0.2) == split)
            .map(|(_, d)| d)
            .collect();
        let shard = TokenShard::open(&out.join(format!("{name}.bin"))).unwrap();
        assert_eq!(shard.header().num_documents, expected.len() as u64);
        assert_eq!(shard.header().end_of_text, Some(eot));
        // Decoding each document between end-of-text tokens gives the text back.
        let tokens = shard.window(0, shard.len());
        let decoded: Vec<String> = tokens
            .split(|&t| t == eot)
            .filter(|d| !d.is_empty())
            .map(|d| tokenizer.decode(d).unwrap())
            .collect();
        assert_eq!(decoded.iter().collect::<Vec<_>>(), expected, "{name}");
    }

    // A bigram model of the training shard, sampled.
    let ngram_out = dir.join("bigram");
    let config: DataBuildConfig = toml::from_str(&format!(
        "kind = \"ngram\"\nshard = \"{}\"\norder = 2\ntokens = 20000\nvalidation_tokens = 1000\n\
         document_length = 500\n",
        out.join("train.bin").display()
    ))
    .unwrap();
    let (summary, _) = build(&config, &ngram_out);
    assert_eq!((summary.train_tokens, summary.validation_tokens), (20_000, 1000));
    assert_eq!(summary.train_documents, 40);
    let h = summary.entropy_rate.unwrap();
    assert!(h > 0.0 && h < (280f64).ln(), "{h}");
    let source = TokenShard::open(&out.join("train.bin")).unwrap();
    let source_tokens = source.window(0, source.len());
    let mut seen = std::collections::HashSet::new();
    source_tokens.windows(2).for_each(|w| {
        seen.insert((w[0], w[1]));
    });
    seen.insert((*source_tokens.last().unwrap(), source_tokens[0]));
    let sampled = TokenShard::open(&ngram_out.join("train.bin")).unwrap();
    assert_eq!(sampled.header().tokenizer, source.header().tokenizer);
    let sample = sampled.window(0, sampled.len());
    for doc in sample.chunks(500) {
        assert!(
            doc.windows(2).all(|w| seen.contains(&(w[0], w[1]))),
            "a bigram the corpus never had"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn manifold_build_writes_points_targets_and_tokens() {
    let dir = temp_dir("build-manifold");
    let config: DataBuildConfig = toml::from_str(
        r#"
kind = "manifold"
train_samples = 5000
validation_samples = 300
bins = 128
[manifold]
ambient_dim = 24
noise_std = 0.0
seed = 2
[manifold.manifold]
kind = "torus"
dim = 2
[manifold.target]
smoothness = 0.5
"#,
    )
    .unwrap();
    let (summary, last) = build(&config, &dir);
    assert_eq!(last, 300);
    assert_eq!((summary.train_tokens, summary.train_documents), (5000 * 24, 5000));
    assert_eq!(summary.vocab_size, 128);
    let points = std::fs::read(dir.join("train_points.f32")).unwrap();
    let targets = std::fs::read(dir.join("train_targets.f32")).unwrap();
    assert_eq!((points.len(), targets.len()), (5000 * 24 * 4, 5000 * 4));
    let DataBuildConfig::Manifold(m) = &config else { unreachable!() };
    let data: ManifoldConfig = m.manifold.clone();
    let data = data.build().unwrap();
    let range = data.default_range();
    let shard = TokenShard::open(&dir.join("train.bin")).unwrap();
    let f32s: Vec<f32> =
        points.chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let tokens = shard.window(0, 24 * 100);
    for (i, (&t, &x)) in tokens.iter().zip(&f32s).enumerate() {
        if (x as f64).abs() < range {
            let centre = data.decode_token(t, 128, None);
            assert!((centre - x as f64).abs() <= range / 128.0 + 1e-6, "coordinate {i}");
        }
    }
    // The points lie on the torus: project back and check each circle.
    for x in f32s.chunks(24).take(100) {
        let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let y = data.project(&x);
        for c in y.chunks(2) {
            assert!((c[0] * c[0] + c[1] * c[1] - 1.0).abs() < 1e-5);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hierarchy_build_writes_grammatical_documents() {
    let dir = temp_dir("build-hierarchy");
    // 32-token documents; 10000 = 312 · 32 + 16 tokens, so the last train document is cut.
    let config: DataBuildConfig = toml::from_str(
        r#"
kind = "hierarchy"
tokens = 10000
validation_tokens = 3200
seed = 4
[hierarchy]
vocab = 16
rules = 4
branching = 2
depth = 5
seed = 1
"#,
    )
    .unwrap();
    let (summary, last_done) = build(&config, &dir);
    assert_eq!(summary.kind, "hierarchy");
    assert_eq!((summary.train_tokens, summary.validation_tokens), (10_000, 3200));
    assert_eq!((summary.train_documents, summary.validation_documents), (313, 100));
    assert_eq!(last_done, 3200, "progress reaches the end of the last stage");
    assert_eq!(summary.vocab_size, 16);
    let DataBuildConfig::Hierarchy(h) = &config else { unreachable!() };
    let grammar = h.hierarchy.build().unwrap();
    assert_eq!(summary.entropy_rate, Some(grammar.entropy_per_token()));
    // ln 16 + 31 ln 4 nats per 32-token document.
    let exact = (16f64.ln() + 31.0 * 4f64.ln()) / 32.0;
    assert!((grammar.entropy_per_token() - exact).abs() < 1e-14);
    assert!(summary.notes[0].starts_with("grammar: vocab = 16"), "{:?}", summary.notes);
    assert_eq!(summary.notes[1], "the last train document is cut to 16 of its 32 tokens");
    assert_eq!(summary.notes.len(), 2, "validation is whole documents: {:?}", summary.notes);
    // Tuple → parent symbol, per level: every whole document reduces to one root.
    let parents: Vec<std::collections::HashMap<Vec<u32>, u32>> = (0..5)
        .map(|level| {
            (0..16u32)
                .flat_map(|a| (0..4).map(move |k| (a, k)))
                .map(|(a, k)| (grammar.rule(level, a, k).to_vec(), a))
                .collect()
        })
        .collect();
    for split in ["train", "validation"] {
        let shard = TokenShard::open(&dir.join(format!("{split}.bin"))).unwrap();
        assert_eq!(shard.vocab_size(), 16);
        assert_eq!(shard.header().end_of_text, None);
        let h_header = shard.header().entropy_rate.unwrap();
        assert!((h_header - exact).abs() < 1e-14, "{h_header}");
        let tokens = shard.window(0, shard.len());
        assert!(tokens.iter().all(|&t| t < 16));
        for doc in tokens.chunks_exact(32) {
            let mut symbols = doc.to_vec();
            for level in (0..5).rev() {
                symbols = symbols
                    .chunks(2)
                    .map(|t| *parents[level].get(t).unwrap_or_else(|| panic!("{split}: {t:?}")))
                    .collect();
            }
            assert_eq!(symbols.len(), 1);
        }
    }
    let train = TokenShard::open(&dir.join("train.bin")).unwrap().window(0, 320);
    let val = TokenShard::open(&dir.join("validation.bin")).unwrap().window(0, 320);
    assert_ne!(train, val, "validation documents are another stream");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    assert_eq!(record["config"]["kind"], "hierarchy");
    assert_eq!(record["config"]["hierarchy"]["rules"], 4);

    // The grammar's errors come through, naming the field.
    let bad: DataBuildConfig = toml::from_str(
        "kind = \"hierarchy\"\ntokens = 10\n[hierarchy]\nvocab = 8\nrules = 9\nbranching = 2\n\
         depth = 3\n",
    )
    .unwrap();
    let err = build_data(&bad, &dir, |_| {}).unwrap_err().to_string();
    assert!(err.starts_with("rules = 9 is too many for vocab = 8"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn repository_hierarchy_config_is_a_valid_default() {
    let path = manifest_dir().join("../../configs/data/hierarchy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let DataBuildConfig::Hierarchy(h) = toml::from_str::<DataBuildConfig>(&text).unwrap() else {
        panic!("{} is not a hierarchy config", path.display());
    };
    h.hierarchy.validate().unwrap();
    let grammar = h.hierarchy.build().unwrap();
    assert_eq!(grammar.document_len(), 128);
    assert_eq!(h.tokens % 128, 0, "whole documents");
    assert_eq!(h.validation_tokens % 128, 0, "whole documents");
    // The entropy the file's comment quotes.
    assert!((grammar.entropy_per_token() - 1.40254).abs() < 5e-6);
}

#[test]
fn build_configs_reject_mistakes() {
    assert!(toml::from_str::<DataBuildConfig>("kind = \"audio\"\n").is_err());
    let typo = "kind = \"walk\"\ntokens = 10\nwalk_lenght = 5\n[walk.graph]\nkind = \"erdos_renyi\"\nnodes = 8\nedges = 12\n";
    let err = toml::from_str::<DataBuildConfig>(typo).unwrap_err().to_string();
    assert!(err.contains("walk_lenght"), "{err}");
    let dir = temp_dir("build-errors");
    let zero: DataBuildConfig = toml::from_str(
        "kind = \"walk\"\ntokens = 0\nwalk_length = 5\n[walk.graph]\nkind = \"erdos_renyi\"\nnodes = 8\nedges = 12\n",
    )
    .unwrap();
    let err = build_data(&zero, &dir, |_| {}).unwrap_err().to_string();
    assert_eq!(err, "tokens = 0 must be at least 1");
    let missing: DataBuildConfig = toml::from_str(
        "kind = \"ngram\"\nshard = \"/nonexistent/train.bin\"\norder = 2\ntokens = 10\n",
    )
    .unwrap();
    let err = build_data(&missing, &dir, |_| {}).unwrap_err().to_string();
    assert!(err.starts_with("/nonexistent/train.json: cannot read the shard header"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn example_configs_parse_and_validate() {
    let dir = manifest_dir().join("examples/configs");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let config: DataBuildConfig =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match &config {
            DataBuildConfig::Walk(w) => w.walk.validate().unwrap(),
            DataBuildConfig::Manifold(m) => m.manifold.validate().unwrap(),
            _ => {}
        }
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(
        names,
        ["sphere_d4.toml", "tinystories_bigram.toml", "tinystories_bpe.toml", "walk_er_1k.toml"]
    );
}

//! Bad data input is refused with a message that names the file, the field and the value, and
//! nothing already on disk is lost: `scalinglab data` over good shards with an empty corpus or
//! a malformed config leaves them byte for byte; a shard header that claims more than its file
//! holds is refused before anything is allocated; and an edge-list graph, which is valid, runs.

use std::path::{Path, PathBuf};

mod common;
use common::{manifest_dir, run, snapshot, temp};

/// A corpus data config `name` in `dir` over `source` (in `format`), with a byte tokenizer.
fn corpus_config(dir: &Path, name: &str, source: &Path, format: &str) -> PathBuf {
    corpus_config_with(dir, name, source, format, "kind = \"byte\"")
}

/// [`corpus_config`] with the `[tokenizer]` table's body given.
fn corpus_config_with(
    dir: &Path,
    name: &str,
    source: &Path,
    format: &str,
    tokenizer: &str,
) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "kind = \"corpus\"\nvalidation_fraction = 0.25\n[source]\nformat = \"{format}\"\n\
             path = {:?}\n[tokenizer]\n{tokenizer}\n",
            source.to_str().unwrap()
        ),
    )
    .unwrap();
    path
}

/// Good shards in `out`, built from a small text corpus.
fn good_shards(dir: &Path, out: &Path) {
    let text = dir.join("good.txt");
    let docs: Vec<String> = (0..40).map(|i| format!("story number {i} is short.")).collect();
    std::fs::write(&text, docs.join("\n\n")).unwrap();
    let config = corpus_config(dir, "good.toml", &text, "text");
    let (ok, e) = run(&["data", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(ok, "the good corpus was refused: {e}");
    for name in ["train.bin", "train.json", "validation.bin", "validation.json", "data.json"] {
        assert!(out.join(name).is_file(), "{name} missing after a good build");
    }
}

#[test]
fn an_empty_corpus_is_refused_naming_it_and_the_shards_already_there_are_kept() {
    let dir = temp("data-bad", "empty-corpus");
    let out = dir.join("out");
    good_shards(&dir, &out);
    let before = snapshot(&out);
    let empty_file = dir.join("empty.txt");
    std::fs::write(&empty_file, "").unwrap();
    let blank_file = dir.join("blank.txt");
    std::fs::write(&blank_file, "\n\n   \n\n").unwrap();
    let empty_folder = dir.join("empty_folder");
    std::fs::create_dir_all(empty_folder.join("sub")).unwrap();
    std::fs::write(empty_folder.join("sub").join("blank.txt"), " \n").unwrap();
    for (source, format) in
        [(&empty_file, "text"), (&blank_file, "text"), (&empty_folder, "folder")]
    {
        let config = corpus_config(&dir, "bad.toml", source, format);
        let (ok, e) = run(&["data", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(!ok, "an empty corpus {} was accepted: {e}", source.display());
        assert!(
            e.contains(source.to_str().unwrap()) && e.contains("source.path"),
            "the message does not name {}: {e}",
            source.display()
        );
        assert!(e.contains("no text"), "{e}");
        assert_eq!(snapshot(&out), before, "data over {} changed the shards", source.display());
        // A new folder is not even made.
        let fresh = dir.join("fresh");
        let (ok, _) = run(&["data", config.to_str().unwrap(), "--out", fresh.to_str().unwrap()]);
        assert!(!ok && !fresh.exists(), "a refused build left {}", fresh.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corpus_that_fails_half_way_leaves_the_old_shards_byte_for_byte() {
    let dir = temp("data-bad", "half-way");
    let out = dir.join("out");
    good_shards(&dir, &out);
    let before = snapshot(&out);
    // 600 good documents (more than one batch of the tokeniser), then a malformed line.
    let jsonl = dir.join("bad.jsonl");
    let mut text: String = (0..600).map(|i| format!("{{\"text\": \"document {i}\"}}\n")).collect();
    text.push_str("{\"text\": \"unterminated\n");
    std::fs::write(&jsonl, text).unwrap();
    let config = corpus_config(&dir, "bad.toml", &jsonl, "jsonl");
    let (ok, e) = run(&["data", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok, "a malformed corpus was accepted: {e}");
    assert!(e.contains("bad.jsonl") && e.contains("601"), "no file and line in: {e}");
    assert_eq!(snapshot(&out), before, "a failed build changed {}", out.display());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_wrong_type_in_a_data_config_names_the_file_the_field_and_the_line() {
    let dir = temp("data-bad", "wrong-type");
    let out = dir.join("out");
    good_shards(&dir, &out);
    let before = snapshot(&out);
    let walk = "kind = \"walk\"\ntokens = 1000\nwalk_length = 11\n[walk]\nseed = 0\n\
                [walk.graph]\nkind = \"erdos_renyi\"\nnodes = 16\nedges = 40\n";
    let cases = [
        // (the edit, the field, the value, the line it is on)
        (walk.replace("tokens = 1000", "tokens = \"many\""), "tokens", "\"many\"", Some(2)),
        (walk.replace("nodes = 16", "nodes = \"many\""), "nodes", "\"many\"", Some(8)),
        (walk.replace("walk_length = 11", "walk_length = -3"), "walk_length", "-3", Some(3)),
        // Keys the toml crate lists before the tag are named, without a line.
        (walk.replace("edges = 40", "edges = 4.5"), "edges", "4.5", None),
        (walk.replace("\"erdos_renyi\"", "\"erdos_reny\""), "kind", "erdos_reny", Some(7)),
        (walk.replace("nodes = 16", "nodez = 16"), "nodez", "nodez", None),
    ];
    for (text, field, value, line) in cases {
        let config = dir.join("walk.toml");
        std::fs::write(&config, &text).unwrap();
        let (ok, e) = run(&["data", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(!ok, "{field} = {value} was accepted: {e}");
        assert!(e.contains("walk.toml"), "no file in: {e}");
        assert!(e.contains(field) && e.contains(value), "{field} = {value} not named in: {e}");
        if let Some(line) = line {
            assert!(e.contains(&format!("line {line}")), "no line {line} in: {e}");
        }
        assert_eq!(snapshot(&out), before, "a refused config changed {}", out.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shard_header_that_claims_too_much_is_refused_naming_the_file_and_the_field() {
    let dir = temp("data-bad", "header");
    let out = dir.join("out");
    good_shards(&dir, &out);
    let bin = out.join("train.bin");
    let header = out.join("train.json");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&header).unwrap()).unwrap();
    let cases: [(&str, serde_json::Value, &str); 4] = [
        ("vocab_size", 1_000_000_000_000u64.into(), "1000000000000"),
        ("vocab_size", 0u64.into(), "vocab_size = 0"),
        ("num_tokens", 1_000_000_000_000u64.into(), "1000000000000"),
        ("num_tokens", u64::MAX.into(), &u64::MAX.to_string()),
    ];
    for (field, value, shown) in cases {
        let mut edited = good.clone();
        edited[field] = value;
        if field == "vocab_size" {
            edited["dtype"] = "u32".into();
        }
        std::fs::write(&header, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
        let before = snapshot(&out);
        let (ok, e) = run(&[
            "stats",
            "--tokens",
            bin.to_str().unwrap(),
            "--out",
            dir.join("s").to_str().unwrap(),
        ]);
        assert!(!ok, "{field} = {shown} was accepted: {e}");
        assert!(e.contains("train.json") || e.contains("train.bin"), "no file in: {e}");
        assert!(e.contains(shown), "{field} = {shown} not named in: {e}");
        assert!(!e.contains("memory allocation"), "{e}");
        assert_eq!(snapshot(&out), before);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_experiment_on_an_edge_list_graph_is_valid() {
    let dir = temp("data-bad", "edge-list");
    // A ring of 12 nodes with chords: connected, 12 tokens.
    let mut edges = String::from("# nodes: 12\n");
    for i in 0..12 {
        edges.push_str(&format!("{i} {}\n{i} {}\n", (i + 1) % 12, (i + 5) % 12));
    }
    let graph = dir.join("graph.txt");
    std::fs::write(&graph, edges).unwrap();
    let quickstart =
        std::fs::read_to_string(manifest_dir().join("../../configs/quickstart.toml")).unwrap();
    let start = quickstart.find("[data.walk.graph]").unwrap();
    let end = start + quickstart[start..].find("\n[model]").unwrap();
    let config_text = format!(
        "{}[data.walk.graph]\nkind = \"edge_list\"\npath = {:?}\n{}",
        &quickstart[..start],
        graph.to_str().unwrap(),
        &quickstart[end..]
    );
    let config = dir.join("edge_list.toml");
    std::fs::write(&config, config_text).unwrap();
    let (ok, e) = run(&["check", config.to_str().unwrap()]);
    assert!(ok, "an edge-list experiment was refused: {e}");
    assert!(e.contains("12 tokens"), "the vocabulary is not the file's 12 nodes: {e}");
    assert!(!e.contains("vocab_size = 0"), "{e}");
    // A missing edge list is refused naming the file.
    let missing = dir.join("missing.txt");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(graph.to_str().unwrap(), missing.to_str().unwrap());
    std::fs::write(&config, text).unwrap();
    let (ok, e) = run(&["check", config.to_str().unwrap()]);
    assert!(!ok && e.contains("missing.txt"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_tokenizer_file_is_refused_naming_it_and_the_shards_already_there_are_kept() {
    let dir = temp("data-bad", "tokenizer");
    let out = dir.join("shards");
    good_shards(&dir, &out);
    let before = snapshot(&out);
    let text = dir.join("good.txt");
    let cases: [(&str, &str, &[&str]); 4] = [
        ("empty.json", "", &["empty.json"]),
        ("notjson.json", "vocab: [a, b]", &["notjson.json"]),
        ("other.json", "{\"answer\": 42}", &["other.json"]),
        (
            "truncated.json",
            "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\", \"vocab\":",
            &["truncated.json"],
        ),
    ];
    for (name, body, wanted) in cases {
        let tok = dir.join(name);
        std::fs::write(&tok, body).unwrap();
        let tokenizer = format!("kind = \"pretrained\"\npath = {:?}", tok.to_str().unwrap());
        let config = corpus_config_with(&dir, &format!("{name}.toml"), &text, "text", &tokenizer);
        let (ok, e) = run(&["data", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(!ok, "{name} was accepted");
        for w in wanted {
            assert!(e.contains(w), "{name}: the refusal does not name {w}: {e}");
        }
        assert!(!e.contains("panicked"), "{name}: {e}");
        assert_eq!(snapshot(&out), before, "{name}: the shards already there changed");
    }
    // A missing tokenizer file names its path.
    let missing = "kind = \"pretrained\"\npath = \"/nonexistent/tokenizer.json\"";
    let config = corpus_config_with(&dir, "missing.toml", &text, "text", missing);
    let (ok, e) = run(&["data", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok && e.contains("/nonexistent/tokenizer.json"), "{e}");
    assert_eq!(snapshot(&out), before);
    let _ = std::fs::remove_dir_all(&dir);
}

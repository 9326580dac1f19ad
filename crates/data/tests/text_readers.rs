//! Corpus readers on text the tests write themselves, and the train/validation split.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::temp_dir;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_data::{DataError, DocumentSource, Split, split_of};

/// Stories of a few sentences over a small vocabulary, with characters that need care:
/// non-ASCII, JSON escapes, brackets and commas.
fn stories(n: usize, seed: u64) -> Vec<String> {
    let words = [
        "Once",
        "upon",
        "a",
        "time",
        "Lily",
        "saw",
        "the",
        "big",
        "dog",
        "café",
        "naïve",
        "—",
        "\"hi\"",
        "[box]",
        "{toy}",
        "a,b",
        "back\\slash",
        "tab\there",
        "日本",
    ];
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let sentences = rng.random_range(1..4);
            (0..sentences)
                .map(|_| {
                    let len = rng.random_range(3..12);
                    let s: Vec<&str> =
                        (0..len).map(|_| words[rng.random_range(0..words.len())]).collect();
                    s.join(" ") + "."
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

fn gzip(path: &Path, bytes: &[u8]) -> PathBuf {
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap();
    gz
}

fn read_all(source: &DocumentSource) -> Vec<String> {
    source.documents().unwrap().collect::<Result<Vec<_>, _>>().unwrap()
}

#[test]
fn tinystories_text_with_separators() {
    let dir = temp_dir("text-eot");
    let docs = stories(200, 1);
    // The TinyStories layout: the marker on its own line; one marker inline too.
    let mut text = String::new();
    for (i, d) in docs.iter().enumerate() {
        text.push_str(d);
        text.push_str(if i == 7 { " <|endoftext|>" } else { "\n<|endoftext|>\n" });
    }
    let path = dir.join("TinyStories-valid.txt");
    std::fs::write(&path, &text).unwrap();
    let gz = gzip(&path, text.as_bytes());
    for p in [path, gz] {
        let source = DocumentSource::Text { path: p.clone(), separator: "<|endoftext|>".into() };
        assert_eq!(read_all(&source), docs, "{}", p.display());
    }
    // A custom separator, and empty documents skipped.
    let path = dir.join("custom.txt");
    std::fs::write(&path, "a b\n@@\n\n@@c\n@@ d@@").unwrap();
    let source = DocumentSource::Text { path, separator: "@@".into() };
    assert_eq!(read_all(&source), vec!["a b", "c", "d"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tinystories_json_array_streams_element_by_element() {
    let dir = temp_dir("text-json");
    let docs = stories(150, 2);
    let records: Vec<serde_json::Value> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            serde_json::json!({
                "story": d,
                "instruction": {"words": ["a", "]", "{"], "features": []},
                "source": format!("GPT-4 \"{i}\""),
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&records).unwrap();
    let path = dir.join("data00.json");
    std::fs::write(&path, &text).unwrap();
    let gz = gzip(&path, text.as_bytes());
    for p in [path.clone(), gz] {
        let source = DocumentSource::JsonArray { path: p, field: "story".into() };
        assert_eq!(read_all(&source), docs);
    }
    // Compact JSON, another field, the empty array.
    let compact = dir.join("compact.json");
    std::fs::write(&compact, r#"[{"t":"x, y]"},{"t":"z"}]"#).unwrap();
    let source = DocumentSource::JsonArray { path: compact, field: "t".into() };
    assert_eq!(read_all(&source), vec!["x, y]", "z"]);
    let empty = dir.join("empty.json");
    std::fs::write(&empty, " [ ]\n").unwrap();
    assert!(read_all(&DocumentSource::JsonArray { path: empty, field: "story".into() }).is_empty());

    // Streaming: the good elements come out before the error in a broken tail, which names
    // the file and the line where the bad element starts.
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "[\n{\"story\": \"one\"},\n{\"story\": \"two\"},\n{\"story\": 3}\n]")
        .unwrap();
    let source = DocumentSource::JsonArray { path: broken, field: "story".into() };
    let out: Vec<_> = source.documents().unwrap().collect();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].as_deref().unwrap(), "one");
    assert_eq!(out[1].as_deref().unwrap(), "two");
    let err = out[2].as_ref().unwrap_err().to_string();
    assert!(err.ends_with("broken.json:4: field \"story\" is not a string but a number"), "{err}");
    let not_array = dir.join("object.json");
    std::fs::write(&not_array, "{\"story\": \"x\"}").unwrap();
    let err = DocumentSource::JsonArray { path: not_array, field: "story".into() }
        .documents()
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("object.json:1: expected a JSON array '[', found '{'"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn jsonl_with_a_configurable_field() {
    let dir = temp_dir("text-jsonl");
    let docs = stories(100, 3);
    let mut text = String::new();
    for (i, d) in docs.iter().enumerate() {
        text += &serde_json::json!({"id": i, "content": d}).to_string();
        text += if i % 10 == 0 { "\n\n" } else { "\n" };
    }
    let path = dir.join("train.jsonl");
    std::fs::write(&path, &text).unwrap();
    let gz = gzip(&path, text.as_bytes());
    for p in [path.clone(), gz] {
        assert_eq!(read_all(&DocumentSource::Jsonl { path: p, field: "content".into() }), docs);
    }
    let err = DocumentSource::Jsonl { path, field: "text".into() }
        .documents()
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("train.jsonl:1: no field \"text\""), "{err}");
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"ok\"}\n{\"text\": \n").unwrap();
    let out: Vec<_> =
        DocumentSource::Jsonl { path: bad, field: "text".into() }.documents().unwrap().collect();
    assert_eq!(out[0].as_deref().unwrap(), "ok");
    assert!(out[1].as_ref().unwrap_err().to_string().contains("bad.jsonl:2: invalid JSON"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wikitext_articles_split_on_top_level_headings() {
    let dir = temp_dir("text-wikitext");
    let text = " \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 is a game . \n \
                \n = = Gameplay = = \n \n As with previous games , ... \n \
                \n = Tower Building of the Little Rock Arsenal = \n \n The building is old . \n \
                \n = = = History = = = \n Built in 1840 . \n";
    let path = dir.join("wiki.valid.raw");
    std::fs::write(&path, text).unwrap();
    let docs = read_all(&DocumentSource::WikiText { path: path.clone() });
    assert_eq!(docs.len(), 2);
    assert!(docs[0].starts_with("= Valkyria Chronicles III ="));
    assert!(
        docs[0].contains("= = Gameplay = =") && docs[0].ends_with("As with previous games , ...")
    );
    assert!(docs[1].starts_with("= Tower Building of the Little Rock Arsenal ="));
    assert!(docs[1].ends_with("Built in 1840 ."));
    let gz = gzip(&path, text.as_bytes());
    assert_eq!(read_all(&DocumentSource::WikiText { path: gz }), docs);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn folder_of_files_in_sorted_order() {
    let dir = temp_dir("text-folder");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("b.txt"), "second").unwrap();
    std::fs::write(dir.join("a.txt"), "first\n").unwrap();
    gzip(&dir.join("sub/c.txt"), "third".as_bytes());
    std::fs::write(dir.join(".hidden.txt"), "hidden").unwrap();
    std::fs::write(dir.join("notes.md"), "markdown").unwrap();
    std::fs::write(dir.join("empty.txt"), "  \n").unwrap();
    let txt = DocumentSource::Folder { path: dir.clone(), extension: Some("txt".into()) };
    assert_eq!(read_all(&txt), vec!["first", "second", "third"]);
    let all = DocumentSource::Folder { path: dir.clone(), extension: None };
    assert_eq!(read_all(&all), vec!["first", "second", "markdown", "third"]);
    // Invalid UTF-8 names the file and line.
    std::fs::write(dir.join("z.txt"), b"ok\nbad \xff byte").unwrap();
    let err = txt.documents().unwrap().find_map(Result::err).unwrap().to_string();
    assert!(err.ends_with("z.txt:2: invalid UTF-8"), "{err}");
    let missing = DocumentSource::Folder { path: dir.join("nope"), extension: None };
    assert!(matches!(missing.documents().unwrap_err(), DataError::Io { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sources_from_toml() {
    let s: DocumentSource =
        toml::from_str("format = \"tinystories_json\"\npath = \"data00.json\"\n").unwrap();
    assert_eq!(s, DocumentSource::JsonArray { path: "data00.json".into(), field: "story".into() });
    let s: DocumentSource = toml::from_str("format = \"text\"\npath = \"a.txt\"\n").unwrap();
    assert_eq!(s, DocumentSource::Text { path: "a.txt".into(), separator: "<|endoftext|>".into() });
    let s: DocumentSource = toml::from_str("format = \"wikitext\"\npath = \"w.raw\"\n").unwrap();
    assert!(s.describe().starts_with("WikiText raw file w.raw"));
    assert!(
        toml::from_str::<DocumentSource>("format = \"jsonl\"\npath = \"a\"\nfeild = \"x\"\n")
            .is_err()
    );
}

#[test]
fn split_is_deterministic_with_the_requested_fraction() {
    let n = 20_000u64;
    let fraction = 0.1;
    let val: Vec<u64> = (0..n).filter(|&i| split_of(i, 7, fraction) == Split::Validation).collect();
    // Binomial(20000, 0.1): mean 2000, sd 42.4; allow 5σ.
    assert!((val.len() as f64 - 2000.0).abs() < 5.0 * 42.4, "{} validation documents", val.len());
    let again: Vec<u64> =
        (0..n).filter(|&i| split_of(i, 7, fraction) == Split::Validation).collect();
    assert_eq!(val, again, "same seed, same split");
    let other: Vec<u64> =
        (0..n).filter(|&i| split_of(i, 8, fraction) == Split::Validation).collect();
    assert_ne!(val, other, "another seed, another split");
    // Roughly independent of the index: both halves get their share.
    let first_half = val.iter().filter(|&&i| i < n / 2).count() as f64;
    assert!((first_half - 1000.0).abs() < 5.0 * 30.0, "{first_half}");
    assert!((0..1000).all(|i| split_of(i, 7, 0.0) == Split::Train));
    assert!((0..1000).all(|i| split_of(i, 7, 1.0) == Split::Validation));
}

//! Token files of nanoGPT and llm.c imported into shards (`kind = "import"`): the tokens come
//! back unchanged, and malformed files are refused naming the file (and, for a token, its
//! index and value) with nothing written.

use std::path::Path;

mod common;
use common::temp_dir;

use scalinglab_data::{DataBuildConfig, TokenShard, build_data};

fn nanogpt_bytes(tokens: &[u16]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}

fn llmc_bytes(tokens: &[u32], version: i32, count: i32) -> Vec<u8> {
    let mut header = [0i32; 256];
    header[0] = 20_240_520;
    header[1] = version;
    header[2] = count;
    let mut out: Vec<u8> = header.iter().flat_map(|w| w.to_le_bytes()).collect();
    for &t in tokens {
        if version == 1 {
            out.extend((t as u16).to_le_bytes());
        } else {
            out.extend(t.to_le_bytes());
        }
    }
    out
}

fn config(format: &str, train: &Path, validation: Option<&Path>, vocab: usize) -> DataBuildConfig {
    let mut text = format!(
        "kind = \"import\"\nformat = \"{format}\"\ntrain = {:?}\nvocab_size = {vocab}\n",
        train.to_str().unwrap()
    );
    if let Some(v) = validation {
        text += &format!("validation = {:?}\n", v.to_str().unwrap());
    }
    toml::from_str(&text).unwrap()
}

fn tokens_of(shard: &Path) -> Vec<u32> {
    let s = TokenShard::open(shard).unwrap();
    (0..s.len()).map(|i| s.get(i)).collect()
}

#[test]
fn nanogpt_and_llmc_files_import_unchanged() {
    let dir = temp_dir("import-ok");
    let train: Vec<u16> = (0..70_000u32).map(|i| ((i * 7919 + 13) % 50_257) as u16).collect();
    let val: Vec<u16> = (0..1_000u32).map(|i| ((i * 31) % 50_257) as u16).collect();
    std::fs::write(dir.join("train.bin"), nanogpt_bytes(&train)).unwrap();
    std::fs::write(dir.join("val.bin"), nanogpt_bytes(&val)).unwrap();
    let out = dir.join("nanogpt");
    let cfg = config("nanogpt", &dir.join("train.bin"), Some(&dir.join("val.bin")), 50_257);
    build_data(&cfg, &out, |_| {}).unwrap();
    let want: Vec<u32> = train.iter().map(|&t| u32::from(t)).collect();
    assert_eq!(tokens_of(&out.join("train.bin")), want);
    let want: Vec<u32> = val.iter().map(|&t| u32::from(t)).collect();
    assert_eq!(tokens_of(&out.join("validation.bin")), want);
    assert_eq!(TokenShard::open(&out.join("train.bin")).unwrap().vocab_size(), 50_257);
    // llm.c, u16 (version 1) and u32 (version 2, a LLaMA-3-sized vocabulary).
    for (version, vocab) in [(1, 50_257usize), (2, 128_256)] {
        let toks: Vec<u32> = (0..5_000u32).map(|i| (i * 104_729 + 7) % vocab as u32).collect();
        let file = dir.join(format!("llmc_v{version}.bin"));
        std::fs::write(&file, llmc_bytes(&toks, version, toks.len() as i32)).unwrap();
        let out = dir.join(format!("llmc{version}"));
        build_data(&config("llmc", &file, None, vocab), &out, |_| {}).unwrap();
        assert_eq!(tokens_of(&out.join("train.bin")), toks);
        assert!(!out.join("validation.bin").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_token_files_are_refused_naming_the_file_and_nothing_is_written() {
    let dir = temp_dir("import-bad");
    let good: Vec<u32> = (0..100).collect();
    let cases: Vec<(&str, &str, Vec<u8>, usize, &[&str])> = vec![
        ("odd.bin", "nanogpt", vec![1, 2, 3], 256, &["odd.bin", "3 bytes"]),
        (
            "big.bin",
            "nanogpt",
            nanogpt_bytes(&[1, 2, 300, 4]),
            256,
            &["big.bin", "token 300", "index 2", "256"],
        ),
        ("empty.bin", "nanogpt", Vec::new(), 256, &["empty.bin", "no token"]),
        ("magic.bin", "llmc", nanogpt_bytes(&[7; 600]), 256, &["magic.bin", "magic"]),
        ("short.bin", "llmc", vec![0; 100], 256, &["short.bin", "1024-byte header"]),
        (
            "count.bin",
            "llmc",
            llmc_bytes(&good, 1, 101),
            256,
            &["count.bin", "101 tokens", "200 bytes"],
        ),
        ("version.bin", "llmc", llmc_bytes(&good, 3, 100), 256, &["version.bin", "version 3"]),
        ("negative.bin", "llmc", llmc_bytes(&good, 1, -5), 256, &["negative.bin", "-5 tokens"]),
    ];
    for (name, format, bytes, vocab, wanted) in cases {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = dir.join(format!("out-{name}"));
        let e =
            build_data(&config(format, &file, None, vocab), &out, |_| {}).unwrap_err().to_string();
        for w in wanted {
            assert!(e.contains(w), "{name}: the refusal does not name {w:?}: {e}");
        }
        assert!(!out.exists(), "{name}: {} was left behind", out.display());
    }
    let missing = config("nanogpt", &dir.join("nope.bin"), None, 256);
    let e = build_data(&missing, &dir.join("out-missing"), |_| {}).unwrap_err().to_string();
    assert!(e.contains("nope.bin"), "{e}");
    // A folder where a file is expected.
    let folder = dir.join("a_folder.bin");
    std::fs::create_dir_all(&folder).unwrap();
    for format in ["nanogpt", "llmc"] {
        let e = build_data(&config(format, &folder, None, 256), &dir.join("out-folder"), |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("a_folder.bin"), "{format}: {e}");
        assert!(!dir.join("out-folder").exists());
    }
    let zero = config("nanogpt", &dir.join("odd.bin"), None, 0);
    let e = build_data(&zero, &dir.join("out-zero"), |_| {}).unwrap_err().to_string();
    assert!(e.contains("vocab_size"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

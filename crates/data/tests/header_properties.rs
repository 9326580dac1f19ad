//! Property tests of the shard reader: whatever a shard's header and token file hold — any
//! value in any header field, every truncation of the header, arbitrary bytes, a token file of
//! any length — `TokenShard::open` returns the shard or an error that names the file, and never
//! panics or allocates what the files do not hold. Seeded cases, no framework (see
//! `crates/training/tests/config_properties.rs` for why).

use std::path::Path;

mod common;
use common::temp_dir;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_data::TokenShard;
use scalinglab_data::shard::{ShardInfo, ShardWriter, header_path};
use serde_json::{Value, json};

fn good_shard(bin: &Path) {
    let info = ShardInfo {
        tokenizer: "t".into(),
        source: "s".into(),
        end_of_text: Some(3),
        entropy_rate: Some(1.5),
        entropy_rate_se: Some(0.01),
        window_floor: None,
    };
    let mut w = ShardWriter::create(bin, 300, info).unwrap();
    w.write_tokens(&(0..1000u32).map(|i| i % 300).collect::<Vec<_>>()).unwrap();
    w.end_document();
    w.finish().unwrap();
}

/// Generated JSON values: extreme numbers, wrong types, nulls, nesting.
fn value(rng: &mut ChaCha12Rng) -> Value {
    match rng.random_range(0..10) {
        0 => json!(null),
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1e300),
        4 => json!(rng.random::<u32>()),
        5 => json!("many"),
        6 => json!([1, 2, 3]),
        7 => json!({"a": 1}),
        8 => json!(0),
        _ => json!(rng.random::<f64>() * 1e6 - 5e5),
    }
}

fn check(bin: &Path, what: &str) {
    if let Err(e) = TokenShard::open(bin) {
        let e = e.to_string();
        assert!(e.contains("train.bin") || e.contains("train.json"), "{what}: no file named: {e}");
    }
}

#[test]
fn any_header_and_any_token_file_is_opened_or_refused_naming_the_file() {
    let dir = temp_dir("header-props");
    let bin = dir.join("train.bin");
    good_shard(&bin);
    let header = header_path(&bin);
    let good_header = std::fs::read_to_string(&header).unwrap();
    let good_tokens = std::fs::read(&bin).unwrap();
    assert_eq!(TokenShard::open(&bin).unwrap().len(), 1000);
    let fields: Vec<String> = match serde_json::from_str::<Value>(&good_header).unwrap() {
        Value::Object(m) => m.keys().cloned().collect(),
        _ => panic!("the header is not an object"),
    };
    let mut rng = ChaCha12Rng::seed_from_u64(7);
    let mut cases = 0;
    // One field replaced, or removed, or an unknown one added.
    for _ in 0..400 {
        let mut h: Value = serde_json::from_str(&good_header).unwrap();
        let m = h.as_object_mut().unwrap();
        let f = &fields[rng.random_range(0..fields.len())];
        match rng.random_range(0..6) {
            0 => {
                m.remove(f);
            }
            1 => {
                m.insert("unexpected".into(), value(&mut rng));
            }
            _ => {
                m.insert(f.clone(), value(&mut rng));
            }
        }
        std::fs::write(&header, h.to_string()).unwrap();
        check(&bin, &h.to_string());
        cases += 1;
    }
    // Every truncation of the header, and arbitrary bytes.
    for cut in 0..good_header.len() {
        std::fs::write(&header, &good_header.as_bytes()[..cut]).unwrap();
        check(&bin, "truncated header");
        cases += 1;
    }
    for _ in 0..100 {
        let bytes: Vec<u8> = (0..rng.random_range(0..300)).map(|_| rng.random()).collect();
        std::fs::write(&header, bytes).unwrap();
        check(&bin, "arbitrary header bytes");
        cases += 1;
    }
    // The good header over token files of other lengths and contents.
    std::fs::write(&header, &good_header).unwrap();
    for _ in 0..100 {
        let len = rng.random_range(0..2 * good_tokens.len());
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        std::fs::write(&bin, bytes).unwrap();
        check(&bin, "token file");
        cases += 1;
    }
    assert!(cases > 800, "{cases}");
    let _ = std::fs::remove_dir_all(&dir);
}

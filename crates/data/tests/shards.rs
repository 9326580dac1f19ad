//! Token shards on disk and the batch samplers.

mod common;

use common::{assert_close, temp_dir};
use scalinglab_data::{
    DataError, RandomWindows, SequentialWindows, ShardInfo, ShardWriter, TokenDtype, TokenShard,
};

/// A deterministic token sequence with every value below `vocab`.
fn tokens(n: usize, vocab: u32) -> Vec<u32> {
    (0..n as u64).map(|i| ((i * 2_654_435_761 + 7) % vocab as u64) as u32).collect()
}

fn write_shard(path: &std::path::Path, vocab: usize, data: &[u32], docs: usize) {
    let info = ShardInfo {
        tokenizer: "test".into(),
        source: "generated".into(),
        end_of_text: None,
        entropy_rate: Some(1.5),
        entropy_rate_se: None,
        window_floor: None,
    };
    let mut w = ShardWriter::create(path, vocab, info).unwrap();
    for chunk in data.chunks(data.len().div_ceil(docs).max(1)) {
        w.write_tokens(chunk).unwrap();
        w.end_document();
    }
    w.finish().unwrap();
}

#[test]
fn round_trip_u16_and_u32() {
    let dir = temp_dir("shard-round-trip");
    for (vocab, dtype) in [(65_536usize, TokenDtype::U16), (70_000, TokenDtype::U32)] {
        let path = dir.join(format!("v{vocab}.bin"));
        let data = tokens(10_001, vocab as u32);
        assert!(data.iter().any(|&t| t >= 60_000), "exercise the high range");
        write_shard(&path, vocab, &data, 7);
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, 10_001 * dtype.bytes() as u64, "raw little-endian tokens, no header");
        // The first token's bytes, little-endian.
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw[0] as u32 | (raw[1] as u32) << 8, data[0] & 0xffff);

        let shard = TokenShard::open(&path).unwrap();
        let h = shard.header();
        assert_eq!(
            (h.vocab_size, h.dtype, h.num_tokens, h.num_documents),
            (vocab, dtype, 10_001, 7)
        );
        assert_eq!((h.tokenizer.as_str(), h.source.as_str()), ("test", "generated"));
        assert_eq!(h.entropy_rate, Some(1.5));
        assert_eq!(shard.window(0, shard.len()), data);
        assert_eq!(shard.get(10_000), data[10_000]);
        assert_eq!(shard.window(4321, 5), data[4321..4326]);
        // The header is readable JSON next to the tokens.
        let json = std::fs::read_to_string(path.with_extension("json")).unwrap();
        assert!(json.contains("\"format\": \"scalinglab-token-shard\""), "{json}");
    }
    // A shard converts into an in-memory corpus of consecutive windows.
    let shard = TokenShard::open(&dir.join("v65536.bin")).unwrap();
    let corpus = shard.to_corpus(9, Some(3)).unwrap();
    assert_eq!(corpus.sequence(2), &tokens(30, 65_536)[20..30]);
    assert_eq!(shard.to_corpus(9, None).unwrap().num_sequences(), 1000);
    assert!(shard.to_corpus(9, Some(1001)).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_shards_are_errors_naming_the_file() {
    let dir = temp_dir("shard-errors");
    let path = dir.join("a.bin");
    let mut w = ShardWriter::create(&path, 10, ShardInfo::default()).unwrap();
    w.write_tokens(&[1, 2, 3]).unwrap();
    let err = w.write_tokens(&[4, 10]).unwrap_err().to_string();
    assert!(
        err.contains("token 4 of") && err.ends_with("= 10 is out of range for vocab_size = 10"),
        "{err}"
    );
    // Not finished: no header yet.
    drop(w);
    let err = TokenShard::open(&path).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
    assert!(err.to_string().contains("a.json: cannot read the shard header"), "{err}");

    write_shard(&path, 10, &[1, 2, 3, 4], 1);
    // Truncated tokens.
    std::fs::write(&path, [1u8, 0, 2, 0, 3]).unwrap();
    let err = TokenShard::open(&path).unwrap_err().to_string();
    assert!(err.contains("a.bin") && err.contains("= 5 bytes does not match"), "{err}");
    // A token beyond the vocabulary.
    std::fs::write(&path, [1u8, 0, 2, 0, 3, 0, 12, 0]).unwrap();
    let err = TokenShard::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("token 3 of") && err.ends_with("= 12 is out of range for vocab_size = 10"),
        "{err}"
    );
    // A header that is not a shard header.
    std::fs::write(path.with_extension("json"), "{\"format\": 1}").unwrap();
    let err = TokenShard::open(&path).unwrap_err().to_string();
    assert!(err.contains("a.json:1: not a shard header"), "{err}");
    // An empty shard opens (nothing to map) but has no windows.
    let empty = dir.join("empty.bin");
    write_shard(&empty, 10, &[], 1);
    let shard = TokenShard::open(&empty).unwrap();
    assert!(shard.is_empty());
    let err = RandomWindows::new(&shard, 4, 2, 0).unwrap_err().to_string();
    assert!(err.contains("has only 0 tokens"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn random_windows_are_seeded_shifted_and_uniform() {
    let dir = temp_dir("shard-random");
    let path = dir.join("t.bin");
    let data = tokens(5_000, 1000);
    write_shard(&path, 1000, &data, 1);
    let shard = TokenShard::open(&path).unwrap();
    let (context, batch) = (16, 8);
    let a: Vec<_> = RandomWindows::new(&shard, context, batch, 3).unwrap().take(50).collect();
    let b: Vec<_> = RandomWindows::new(&shard, context, batch, 3).unwrap().take(50).collect();
    let c: Vec<_> = RandomWindows::new(&shard, context, batch, 4).unwrap().take(50).collect();
    assert_eq!(a, b, "same seed, same batches");
    assert_ne!(a, c, "another seed, other batches");
    let last_start = 5_000 - (context + 1);
    let mut starts = Vec::new();
    for batch_ in &a {
        assert_eq!(batch_.inputs.len(), batch * context);
        for (row, &s) in batch_.starts.iter().enumerate() {
            assert!(s <= last_start);
            let window = &data[s..s + context + 1];
            let inputs = &batch_.inputs[row * context..(row + 1) * context];
            let targets = &batch_.targets[row * context..(row + 1) * context];
            assert!(inputs.iter().zip(&window[..context]).all(|(&x, &y)| x == y as i64));
            assert!(targets.iter().zip(&window[1..]).all(|(&x, &y)| x == y as i64));
            starts.push(s as f64);
        }
    }
    // Starts are uniform on 0..=last_start: mean last/2, sd last/√12 per start.
    let mean = starts.iter().sum::<f64>() / starts.len() as f64;
    let se = last_start as f64 / 12f64.sqrt() / (starts.len() as f64).sqrt();
    assert_close(mean, last_start as f64 / 2.0, 5.0 * se, "mean window start");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sequential_windows_cover_every_target_once() {
    let dir = temp_dir("shard-sequential");
    let path = dir.join("t.bin");
    let data = tokens(1_000, 50);
    write_shard(&path, 50, &data, 3);
    let shard = TokenShard::open(&path).unwrap();
    let (context, batch) = (7, 10);
    let windows = SequentialWindows::new(&shard, context, batch).unwrap();
    // K = ⌊999/7⌋ = 142 windows, in ⌈142/10⌉ = 15 batches, the last of 2.
    assert_eq!((windows.num_windows(), windows.num_batches()), (142, 15));
    let batches: Vec<_> = windows.collect();
    assert_eq!(batches.len(), 15);
    assert_eq!(batches.last().unwrap().batch_size, 2);
    let inputs: Vec<i64> = batches.iter().flat_map(|b| b.inputs.iter().copied()).collect();
    let targets: Vec<i64> = batches.iter().flat_map(|b| b.targets.iter().copied()).collect();
    let k = 142 * context;
    let expect = |range: std::ops::Range<usize>| -> Vec<i64> {
        data[range].iter().map(|&t| i64::from(t)).collect()
    };
    assert_eq!(targets, expect(1..k + 1), "targets are tokens 1..=K·context, once each");
    assert_eq!(inputs, expect(0..k));
    // A shard of exactly one window.
    let one = dir.join("one.bin");
    write_shard(&one, 50, &data[..8], 1);
    let shard = TokenShard::open(&one).unwrap();
    assert_eq!(SequentialWindows::new(&shard, 7, 4).unwrap().count(), 1);
    assert!(SequentialWindows::new(&shard, 8, 4).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

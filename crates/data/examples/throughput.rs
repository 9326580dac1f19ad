//! Generation and tokenisation throughput on this machine.
//!
//! `cargo run -p scalinglab-data --example throughput` (the dev profile: dependencies at
//! opt-level 3, this crate at 2). Prints tokens per second of walk sampling, n-gram sampling,
//! shard writing and batch sampling, and byte, character, word and BPE tokenisation of
//! generated text.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_data::{
    GraphSpec, NgramModel, RandomWindows, ShardInfo, ShardWriter, Smoothing, TokenShard, Tokenize,
    TokenizerSpec, WalkBias, WalkConfig,
};

fn rate(what: &str, tokens: usize, start: Instant) {
    let s = start.elapsed().as_secs_f64();
    println!(
        "{what:<48} {:>8.1} M tokens/s  ({tokens} tokens in {s:.2} s)",
        tokens as f64 / s / 1e6
    );
}

/// About `bytes` of text: sentences over 50 000 made-up words with Zipfian frequencies.
fn text(bytes: usize, seed: u64) -> Vec<String> {
    let syllables = [
        "ka", "lo", "mi", "nu", "re", "sa", "to", "vi", "ze", "po", "da", "fe", "gu", "hi", "jo",
        "bre", "st", "th", "an", "in", "er", "qu", "ou", "y",
    ];
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let words: Vec<String> = (0..50_000)
        .map(|_| {
            let len = rng.random_range(1..6);
            (0..len).map(|_| syllables[rng.random_range(0..syllables.len())]).collect()
        })
        .collect();
    let mut docs = Vec::new();
    let mut total = 0;
    while total < bytes {
        let mut doc = String::new();
        for _ in 0..rng.random_range(50..300) {
            let u: f64 = rng.random();
            let r = ((words.len() as f64 + 1.0).powf(u) - 1.0) as usize;
            doc.push_str(&words[r.min(words.len() - 1)]);
            doc.push(if rng.random::<f64>() < 0.08 { '.' } else { ' ' });
        }
        total += doc.len();
        docs.push(doc);
    }
    docs
}

fn main() {
    println!("data throughput (dev profile)");
    for (name, bias) in
        [("unbiased", WalkBias::Unbiased), ("power-law κ=1", WalkBias::PowerLaw { exponent: 1.0 })]
    {
        let chain =
            WalkConfig { graph: GraphSpec::ErdosRenyi { nodes: 1000, edges: 5000 }, bias, seed: 0 }
                .build()
                .unwrap();
        let start = Instant::now();
        let walk = chain.sample_walk(20_000_000, &mut ChaCha12Rng::seed_from_u64(1));
        rate(&format!("walk sampling, ER 1K/5K, {name}"), walk.len(), start);
    }
    // n-gram models of a walk on the default 128-node graph.
    let small = WalkConfig::default()
        .build()
        .unwrap()
        .sample_walk(2_000_000, &mut ChaCha12Rng::seed_from_u64(3));
    for order in [2, 3] {
        let model = NgramModel::estimate(order, 128, Smoothing::AddK { k: 0.0 }, &small).unwrap();
        let start = Instant::now();
        let sample = model.sample(20_000_000, 2);
        rate(&format!("n-gram sampling, order {order}, k = 0, V = 128"), sample.len(), start);
    }
    let chain = WalkConfig {
        graph: GraphSpec::ErdosRenyi { nodes: 50_000, edges: 2_000_000 },
        bias: WalkBias::Unbiased,
        seed: 0,
    }
    .build()
    .unwrap();
    let start = Instant::now();
    let walk = chain.sample_walk(20_000_000, &mut ChaCha12Rng::seed_from_u64(1));
    rate("walk sampling, ER 50K/2M, unbiased", walk.len(), start);

    // n-gram models of the walk (vocabulary 50 000).
    let stream = &walk[..5_000_000];
    for (order, smoothing) in [
        (2, Smoothing::AddK { k: 0.0 }),
        (3, Smoothing::AddK { k: 0.0 }),
        (2, Smoothing::AddK { k: 0.01 }),
    ] {
        let model = NgramModel::estimate(order, 50_000, smoothing, stream).unwrap();
        let start = Instant::now();
        let sample = model.sample(10_000_000, 2);
        rate(
            &format!("n-gram sampling, order {order}, {smoothing:?}, V = 50K"),
            sample.len(),
            start,
        );
    }

    // Shards: write and draw batches.
    let dir = std::env::temp_dir().join(format!("scalinglab-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("walk.bin");
    let start = Instant::now();
    let mut w = ShardWriter::create(&path, 50_000, ShardInfo::default()).unwrap();
    for piece in walk.chunks(1 << 16) {
        w.write_tokens(piece).unwrap();
    }
    w.finish().unwrap();
    rate("shard writing (u16)", walk.len(), start);
    let start = Instant::now();
    let shard = TokenShard::open(&path).unwrap();
    rate("shard opening (validates every token)", shard.len(), start);
    let start = Instant::now();
    let batches: usize =
        RandomWindows::new(&shard, 256, 64, 0).unwrap().take(1000).map(|b| b.targets.len()).sum();
    rate("random-window batches (context 256, batch 64)", batches, start);
    std::fs::remove_dir_all(&dir).unwrap();

    // Tokenisers on ~20 MB of generated text.
    let docs = text(20_000_000, 3);
    let bytes: usize = docs.iter().map(String::len).sum();
    println!("tokenising {} documents, {:.1} MB", docs.len(), bytes as f64 / 1e6);
    let train = &docs[..docs.len() / 4];
    for spec in [
        TokenizerSpec::Byte {},
        TokenizerSpec::Char { max_vocab: None },
        TokenizerSpec::Word { vocab_size: 8192 },
        TokenizerSpec::Bpe { vocab_size: 8192, min_frequency: 2 },
    ] {
        let start = Instant::now();
        let tokenizer = spec.build(train.iter().cloned().map(Ok)).unwrap();
        let trained = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let mut ids = Vec::new();
        for d in &docs {
            tokenizer.encode_into(d, &mut ids).unwrap();
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "{:<48} {:>8.2} M tokens/s  ({:.1} MB/s, {} tokens; trained in {trained:.2} s)",
            tokenizer.describe(),
            ids.len() as f64 / s / 1e6,
            bytes as f64 / s / 1e6,
            ids.len()
        );
        let start = Instant::now();
        let mut n = 0;
        for chunk in docs.chunks(256) {
            n += tokenizer.encode_batch(chunk).unwrap().iter().map(Vec::len).sum::<usize>();
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "{:<48} {:>8.2} M tokens/s  (encode_batch of 256 documents)",
            "",
            n as f64 / s / 1e6
        );
    }
}

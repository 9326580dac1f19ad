//! Tokenizers: round trips, vocabulary sizes, BPE training, saving and loading.

mod common;

use common::temp_dir;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_data::tokenizer::{ByteTokenizer, CharTokenizer, HfTokenizer, WordTokenizer};
use scalinglab_data::{DataError, Tokenize, Tokenizer, TokenizerSpec};

/// Generated "stories": sentences over a Zipf-ish vocabulary of made-up words, so that BPE
/// has many pairs to merge.
fn corpus(n: usize, seed: u64) -> Vec<String> {
    let syllables = ["ka", "lo", "mi", "nu", "ré", "sa", "to", "vi", "ze", "ü", "qu", "x"];
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let words: Vec<String> = (0..600)
        .map(|_| {
            let len = rng.random_range(1..5);
            (0..len).map(|_| syllables[rng.random_range(0..syllables.len())]).collect()
        })
        .collect();
    (0..n)
        .map(|_| {
            let len = rng.random_range(5..40);
            let mut doc: Vec<&str> = Vec::with_capacity(len);
            for _ in 0..len {
                // Rank r with probability ∝ 1/(r + 1) (approximately, by inversion).
                let u: f64 = rng.random();
                let r = ((words.len() as f64 + 1.0).powf(u) - 1.0) as usize;
                doc.push(&words[r.min(words.len() - 1)]);
            }
            doc.join(" ") + "."
        })
        .collect()
}

fn docs(texts: &[String]) -> impl Iterator<Item = Result<String, DataError>> + Send + '_ {
    texts.iter().cloned().map(Ok)
}

#[test]
fn byte_tokenizer_round_trips_any_text() {
    let t = ByteTokenizer;
    let text = "Tiny stories — naïve café, 日本語, emoji 🦀.\n\ttabs";
    let ids = t.encode(text).unwrap();
    assert_eq!(ids.len(), text.len(), "one token per UTF-8 byte");
    assert_eq!(&ids[..4], &[84, 105, 110, 121], "\"Tiny\" in ASCII");
    assert_eq!(t.decode(&ids).unwrap(), text);
    assert_eq!((t.vocab_size(), t.end_of_text()), (257, Some(256)));
    let mut with_eot = ids.clone();
    with_eot.push(256);
    assert_eq!(t.decode(&with_eot).unwrap(), format!("{text}<|endoftext|>"));
    let err = t.decode(&[1, 257]).unwrap_err().to_string();
    assert_eq!(err, "token id = 257 is out of range for vocab_size = 257");
    // A window cut inside a character decodes with a replacement character.
    let cut = text.find('🦀').unwrap() + 2;
    assert_eq!(t.decode(&ids[..cut]).unwrap(), format!("{}\u{FFFD}", &text[..cut - 2]));
}

#[test]
fn char_tokenizer_orders_by_frequency_and_round_trips() {
    let texts = vec!["abracadabra".to_string(), "cab".to_string()];
    // Counts: a 6, b 3, r 2, c 2, d 1: ties (c, r) in code-point order.
    let t = CharTokenizer::train(docs(&texts), None).unwrap();
    assert_eq!(t.chars(), &['a', 'b', 'c', 'r', 'd']);
    assert_eq!(t.vocab_size(), 7);
    assert_eq!(t.encode("abcrd").unwrap(), vec![2, 3, 4, 5, 6]);
    assert_eq!(t.encode("az").unwrap(), vec![2, 0], "unknown character is <unk> = 0");
    assert_eq!(t.decode(&[2, 0, 1]).unwrap(), "a\u{FFFD}<|endoftext|>");
    let capped = CharTokenizer::train(docs(&texts), Some(4)).unwrap();
    assert_eq!(capped.chars(), &['a', 'b']);

    let texts = corpus(200, 1);
    let t = CharTokenizer::train(docs(&texts), None).unwrap();
    let distinct: std::collections::HashSet<char> = texts.iter().flat_map(|s| s.chars()).collect();
    assert_eq!(t.vocab_size(), distinct.len() + 2);
    for text in &texts[..20] {
        assert_eq!(t.decode(&t.encode(text).unwrap()).unwrap(), *text);
    }
}

#[test]
fn word_tokenizer_keeps_the_top_words() {
    let texts = vec!["the cat saw the dog".to_string(), "the dog  ran\n".to_string()];
    // Counts: the 3, dog 2, cat 1, ran 1, saw 1.
    let t = WordTokenizer::train(docs(&texts), 5).unwrap();
    assert_eq!(t.words(), &["the", "dog", "cat"]);
    assert_eq!(t.vocab_size(), 5);
    assert_eq!(t.encode("the dog\tate  the cat").unwrap(), vec![2, 3, 0, 2, 4]);
    assert_eq!(t.decode(&[2, 3, 0, 1]).unwrap(), "the dog <unk> <|endoftext|>");
    let all = WordTokenizer::train(docs(&texts), 100).unwrap();
    assert_eq!(all.vocab_size(), 7, "fewer distinct words than asked for");
    // Round trip up to whitespace.
    let text = "the  cat\nran";
    assert_eq!(all.decode(&all.encode(text).unwrap()).unwrap(), "the cat ran");
    assert!(WordTokenizer::train(docs(&texts), 2).is_err());
}

#[test]
fn bpe_reaches_the_vocabulary_size_and_round_trips() {
    let texts = corpus(2000, 2);
    let t = HfTokenizer::train_bpe(docs(&texts), 600, 2).unwrap();
    assert_eq!(t.vocab_size(), 600);
    assert_eq!(t.end_of_text(), Some(0), "<|endoftext|> is the first special token");
    assert_eq!(t.describe(), "byte-level BPE, 600 tokens");
    // Held-out text, including characters the corpus never had: exact round trip.
    let held_out = corpus(50, 3);
    let mut bytes = 0;
    let mut tokens = 0;
    for text in held_out.iter().chain(std::iter::once(&"Ωmega 🦀 <|endoftext|> end".to_string()))
    {
        let ids = t.encode(text).unwrap();
        assert!(ids.iter().all(|&id| (id as usize) < 600));
        assert_eq!(t.decode(&ids).unwrap(), *text);
        bytes += text.len();
        tokens += ids.len();
    }
    // Merges compress: well under one token per byte.
    assert!((tokens as f64) < 0.5 * bytes as f64, "{tokens} tokens for {bytes} bytes");
    // Batch encoding (parallel) agrees with one text at a time.
    let batch = t.encode_batch(&held_out).unwrap();
    for (text, ids) in held_out.iter().zip(&batch) {
        assert_eq!(*ids, t.encode(text).unwrap());
    }
    // The special token is one id.
    assert_eq!(t.encode("<|endoftext|>").unwrap(), vec![0]);

    // Asking for more than the corpus supports stops early and says why.
    let small = HfTokenizer::train_bpe(docs(&texts[..20]), 50_000, 2).unwrap();
    assert!(small.vocab_size() < 50_000);
    assert!(small.describe().contains("asked for 50000"), "{}", small.describe());
    let err = HfTokenizer::train_bpe(docs(&texts), 100, 2).unwrap_err().to_string();
    assert!(err.starts_with("tokenizer.vocab_size = 100 must be at least 257"), "{err}");
    // A read error during training is reported, not swallowed.
    let failing = vec![
        Ok("a b".to_string()),
        Err(DataError::Invalid { field: "x".into(), value: "1".into(), reason: "broken".into() }),
    ];
    let err = HfTokenizer::train_bpe(failing.into_iter(), 300, 2).unwrap_err();
    assert_eq!(err.to_string(), "x = 1 broken");
}

#[test]
fn save_and_load_every_kind() {
    let dir = temp_dir("tokenizer-save");
    let texts = corpus(300, 4);
    let specs = [
        TokenizerSpec::Byte {},
        TokenizerSpec::Char { max_vocab: None },
        TokenizerSpec::Word { vocab_size: 100 },
        TokenizerSpec::Bpe { vocab_size: 400, min_frequency: 2 },
    ];
    for (k, spec) in specs.iter().enumerate() {
        let t = spec.build(docs(&texts)).unwrap();
        let path = dir.join(format!("tokenizer-{k}.json"));
        t.save(&path).unwrap();
        let back = Tokenizer::load(&path).unwrap();
        let loaded = TokenizerSpec::Pretrained { path: path.clone() }.build(docs(&[])).unwrap();
        assert_eq!(back.vocab_size(), t.vocab_size(), "{spec:?}");
        for text in &texts[..10] {
            let ids = t.encode(text).unwrap();
            assert_eq!(back.encode(text).unwrap(), ids, "{spec:?}");
            assert_eq!(loaded.encode(text).unwrap(), ids, "{spec:?}");
        }
    }
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"model\": 3}").unwrap();
    let err = Tokenizer::load(&garbage).unwrap_err().to_string();
    assert!(err.contains("garbage.json:1: not a tokenizer.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn loads_a_users_gpt2_style_tokenizer_json() {
    // A hand-written GPT-2-format file: byte-level pre-tokenizer and decoder, a BPE with
    // vocabulary {a, b, Ġ, ab, Ġab} and merges "a b", "Ġ ab", and <|endoftext|> as id 5.
    let json = r#"{
      "version": "1.0", "truncation": null, "padding": null,
      "added_tokens": [{"id": 5, "content": "<|endoftext|>", "single_word": false,
        "lstrip": false, "rstrip": false, "normalized": true, "special": true}],
      "normalizer": null,
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
        "use_regex": true},
      "post_processor": null,
      "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
        "use_regex": true},
      "model": {"type": "BPE", "dropout": null, "unk_token": null,
        "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false,
        "byte_fallback": false,
        "vocab": {"a": 0, "b": 1, "Ġ": 2, "ab": 3, "Ġab": 4, "<|endoftext|>": 5},
        "merges": ["a b", "Ġ ab"]}
    }"#;
    let dir = temp_dir("tokenizer-gpt2");
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, json).unwrap();
    let t = TokenizerSpec::Pretrained { path }.build(docs(&[])).unwrap();
    assert_eq!((t.vocab_size(), t.end_of_text()), (6, Some(5)));
    // "ab ab" pre-tokenises to "ab", "Ġab"; merges give ids 3 and 4.
    assert_eq!(t.encode("ab ab<|endoftext|>").unwrap(), vec![3, 4, 5]);
    assert_eq!(t.decode(&[3, 4, 0]).unwrap(), "ab aba");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn specs_from_toml() {
    let spec: TokenizerSpec = toml::from_str("kind = \"bpe\"\n").unwrap();
    assert_eq!(spec, TokenizerSpec::Bpe { vocab_size: 8192, min_frequency: 2 });
    let spec: TokenizerSpec = toml::from_str("kind = \"byte\"\n").unwrap();
    assert!(!spec.needs_corpus());
    assert!(toml::from_str::<TokenizerSpec>("kind = \"word\"\n").is_err(), "vocab_size required");
    assert!(toml::from_str::<TokenizerSpec>("kind = \"byte\"\nvocab_size = 3\n").is_err());
}

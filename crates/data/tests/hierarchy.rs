//! The Random Hierarchy Model: unambiguous grammars, the exact document distribution and
//! entropy, seeding, validation, and correlations that fall off with distance.

mod common;

use std::collections::{HashMap, HashSet};

use common::assert_close;
use scalinglab_data::{Hierarchy, HierarchyConfig};

fn config(vocab: usize, rules: usize, branching: usize, depth: usize) -> HierarchyConfig {
    HierarchyConfig { vocab, rules, branching, depth, seed: 0 }
}

/// The grammar's rules of one level, inverted: tuple → (symbol, rule index).
fn inverse(grammar: &Hierarchy, level: usize) -> HashMap<Vec<u32>, (u32, usize)> {
    let c = grammar.config();
    let mut map = HashMap::new();
    for a in 0..c.vocab as u32 {
        for k in 0..c.rules {
            map.insert(grammar.rule(level, a, k).to_vec(), (a, k));
        }
    }
    map
}

#[test]
fn rules_are_distinct_and_unambiguous() {
    // Dense shapes (every or most tuples used: the shuffle) and sparse ones (rejection).
    let dense = [(2, 2, 2, 3), (4, 4, 2, 2), (4, 3, 2, 3), (3, 5, 3, 2)];
    let sparse = [(32, 4, 2, 4), (10, 3, 3, 2), (1000, 5, 3, 2), (3, 1, 5, 2)];
    for (v, m, s, l) in dense.into_iter().chain(sparse) {
        let c = HierarchyConfig { seed: 11, ..config(v, m, s, l) };
        let grammar = c.build().unwrap();
        for level in 0..l {
            let mut owner: HashMap<&[u32], u32> = HashMap::new();
            for a in 0..v as u32 {
                let mut own = HashSet::new();
                for k in 0..m {
                    let rule = grammar.rule(level, a, k);
                    assert_eq!(rule.len(), s);
                    assert!(rule.iter().all(|&b| (b as usize) < v), "{c:?}: {rule:?}");
                    assert!(own.insert(rule), "{c:?}: symbol {a} repeats {rule:?}");
                    if let Some(b) = owner.insert(rule, a) {
                        panic!("{c:?}, level {level}: {rule:?} belongs to {b} and {a}");
                    }
                }
                assert_eq!(own.len(), m, "symbol {a} has m distinct rules");
            }
            assert_eq!(owner.len(), m * v);
        }
    }
    // m·v = v^s: every tuple is dealt out, once.
    let full = config(4, 4, 2, 2).build().unwrap();
    for level in 0..2 {
        assert_eq!(inverse(&full, level).len(), 16);
    }
    // Levels are independent draws (the same draw twice is vanishingly unlikely).
    let g = config(32, 4, 2, 3).build().unwrap();
    assert_ne!(inverse(&g, 0), inverse(&g, 1));
}

#[test]
fn tiny_grammar_has_sixteen_equiprobable_documents() {
    // v = m = s = L = 2: a root (2 ways) and 1 + 2 = 3 rule choices (2 ways each),
    // v·m^3 = 16 documents of 4 tokens, each of probability 1/16.
    let grammar = config(2, 2, 2, 2).build().unwrap();
    assert_eq!(grammar.document_len(), 4);
    let n = 64_000;
    let tokens = grammar.sample(n, 3);
    assert_eq!(tokens.len(), 4 * n);
    let mut counts: HashMap<&[u32], usize> = HashMap::new();
    for doc in tokens.chunks(4) {
        *counts.entry(doc).or_default() += 1;
    }
    assert_eq!(counts.len(), 16, "exactly v·m^3 distinct documents");
    let p = 1.0 / 16.0;
    let standard_error = (p * (1.0 - p) / n as f64).sqrt();
    for (doc, &c) in &counts {
        let f = c as f64 / n as f64;
        assert!((f - p).abs() < 5.0 * standard_error, "{doc:?}: frequency {f}");
    }
    // Plug-in entropy of the documents. For a uniform law on K outcomes,
    // H − Ĥ = Σ_i δ_i²/(2p_i) + O(δ³) ≈ χ²_(K−1)/(2N) ≥ 0 (δ_i the frequency errors):
    // mean (K − 1)/(2N), standard deviation √(2(K − 1))/(2N). Allow the mean plus 6 standard
    // deviations: (15 + 6√30)/(2N) ≈ 3.7e-4 for N = 64000.
    let plug_in: f64 = counts
        .values()
        .map(|&c| {
            let f = c as f64 / n as f64;
            -f * f.ln()
        })
        .sum();
    let exact = grammar.entropy_per_document();
    assert_close(exact, 16f64.ln(), 1e-15, "ln 16");
    let tolerance = (15.0 + 6.0 * 30f64.sqrt()) / (2.0 * n as f64);
    assert!(plug_in <= exact + 1e-12, "uniform on 16 documents is the maximum: {plug_in}");
    assert!(exact - plug_in < tolerance, "plug-in {plug_in} vs exact {exact} (tol {tolerance})");
    assert_close(grammar.entropy_per_token(), exact / 4.0, 1e-15, "per token");
}

#[test]
fn entropy_formula_hand_values() {
    // v = 10, m = 3, s = 3, L = 3: 27 tokens, 1 + 3 + 9 = 13 rule choices,
    // H = ln 10 + 13 ln 3 = 16.584544845679474 nats, / 27 = 0.6142424016918324 per token.
    let g = config(10, 3, 3, 3).build().unwrap();
    assert_eq!(g.document_len(), 27);
    assert_close(g.entropy_per_document(), 16.584_544_845_679_474, 1e-12, "H_doc");
    assert_close(g.entropy_per_token(), 0.614_242_401_691_832_4, 1e-14, "H_token");
    // The configs/data default: ln 32 + 127 ln 4 over 128 tokens.
    let g = config(32, 4, 2, 7).build().unwrap();
    assert_eq!(g.document_len(), 128);
    assert_close(g.entropy_per_document(), 179.525_119_765_025_83, 1e-11, "H_doc");
    assert_close(g.entropy_per_token(), 1.402_539_998_164_264_3, 1e-13, "H_token");
    // m = 1: the root decides everything; H = ln v and only v documents occur.
    let g = config(5, 1, 2, 3).build().unwrap();
    assert_close(g.entropy_per_document(), 5f64.ln(), 1e-15, "m = 1");
    let tokens = g.sample(500, 0);
    let distinct: HashSet<&[u32]> = tokens.chunks(8).collect();
    assert_eq!(distinct.len(), 5);
}

#[test]
fn sampled_documents_parse_under_their_grammar() {
    // Every document reduces bottom-up, level by level, to one root symbol.
    let g = HierarchyConfig { seed: 5, ..config(6, 3, 3, 3) }.build().unwrap();
    let inverses: Vec<_> = (0..3).map(|level| inverse(&g, level)).collect();
    let tokens = g.sample(300, 9);
    for doc in tokens.chunks(27) {
        let mut symbols = doc.to_vec();
        for level in (0..3).rev() {
            symbols = symbols.chunks(3).map(|t| inverses[level][t].0).collect();
        }
        assert_eq!(symbols.len(), 1);
    }
}

#[test]
fn seeds_reproduce_and_differ() {
    let c = HierarchyConfig { seed: 7, ..config(16, 4, 2, 5) };
    let g = c.build().unwrap();
    assert_eq!(c.build().unwrap(), g, "same seed, same grammar");
    let other = HierarchyConfig { seed: 8, ..c.clone() }.build().unwrap();
    assert_ne!(other, g, "another seed, another grammar");
    let a = g.sample(50, 1);
    assert_eq!(g.sample(50, 1), a, "same seed, same documents");
    assert_ne!(g.sample(50, 2), a, "another seed, other documents");
    assert_ne!(other.sample(50, 1), a, "another grammar, other documents");
    // sample_document continues a generator's stream: two calls are two documents.
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(0);
    let mut out = vec![99];
    g.sample_document(&mut rng, &mut out);
    g.sample_document(&mut rng, &mut out);
    assert_eq!(out.len(), 1 + 64);
    assert_eq!(out[0], 99, "appends");
}

#[test]
fn validation_errors_name_the_field() {
    let message = |c: HierarchyConfig| {
        let err = c.validate().unwrap_err();
        assert_eq!(c.build().unwrap_err(), err, "build validates first");
        err.to_string()
    };
    assert_eq!(message(config(1, 1, 2, 1)), "vocab = 1 must be at least 2");
    assert_eq!(message(config(8, 0, 2, 1)), "rules = 0 must be at least 1");
    assert_eq!(message(config(8, 1, 1, 1)), "branching = 1 must be at least 2");
    assert_eq!(message(config(8, 1, 2, 0)), "depth = 0 must be at least 1");
    let e = message(config(8, 9, 2, 3));
    assert!(
        e.starts_with(
            "rules = 9 is too many for vocab = 8 and branching = 2: rules × vocab = 72 must be \
             at most vocab^branching = 64"
        ),
        "{e}"
    );
    let e = message(config(2, 1, 2, 25));
    assert!(e.starts_with("depth = 25 is too deep for branching = 2"), "{e}");
    assert!(e.contains("16777216"), "{e}");
    let e = message(config(2, 1, 3, usize::MAX));
    assert!(e.starts_with(&format!("depth = {} is too deep", usize::MAX)), "{e}");
    let e = message(config(1 << 14, 1 << 12, 2, 1));
    assert!(e.starts_with("vocab = 16384 with rules = 4096, branching = 2 and depth = 1"), "{e}");
    // The limits themselves are accepted: 2^24-token documents, m·v = v^s.
    config(2, 1, 2, 24).validate().unwrap();
    config(8, 8, 2, 1).validate().unwrap();

    // TOML: the seed defaults to 0, a typo is rejected.
    let c: HierarchyConfig =
        toml::from_str("vocab = 32\nrules = 4\nbranching = 2\ndepth = 7\n").unwrap();
    assert_eq!(c, config(32, 4, 2, 7));
    let err = toml::from_str::<HierarchyConfig>("vocab = 32\nrule = 4\nbranching = 2\ndepth = 7\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("rule"), "{err}");
}

/// Plug-in mutual information (nats) of a table of joint counts `[a · vocab + b]`.
fn mutual_information(joint: &[f64], vocab: usize) -> f64 {
    let total: f64 = joint.iter().sum();
    let mut left = vec![0f64; vocab];
    let mut right = vec![0f64; vocab];
    for a in 0..vocab {
        for b in 0..vocab {
            left[a] += joint[a * vocab + b];
            right[b] += joint[a * vocab + b];
        }
    }
    let mut mi = 0.0;
    for a in 0..vocab {
        for b in 0..vocab {
            let n = joint[a * vocab + b];
            if n > 0.0 {
                mi += n / total * (n * total / (left[a] * right[b])).ln();
            }
        }
    }
    mi
}

/// Mutual information between the tokens at positions `t` and `t + lag` of a document,
/// estimated over the documents for each `t` (less the plug-in bias (v − 1)²/(2N)) and
/// averaged over `t`; and the same statistic pooled over all positions of the stream.
fn lag_mutual_information(tokens: &[u32], doc_len: usize, vocab: usize, lag: usize) -> (f64, f64) {
    let documents = tokens.len() / doc_len;
    let mut joints = vec![vec![0f64; vocab * vocab]; doc_len - lag];
    for doc in tokens.chunks_exact(doc_len) {
        for (t, joint) in joints.iter_mut().enumerate() {
            joint[doc[t] as usize * vocab + doc[t + lag] as usize] += 1.0;
        }
    }
    let bias = ((vocab - 1) * (vocab - 1)) as f64 / (2.0 * documents as f64);
    let positional = joints.iter().map(|j| mutual_information(j, vocab) - bias).sum::<f64>()
        / joints.len() as f64;
    let mut pooled = vec![0f64; vocab * vocab];
    for joint in &joints {
        pooled.iter_mut().zip(joint).for_each(|(p, j)| *p += j);
    }
    (positional, mutual_information(&pooled, vocab))
}

#[test]
fn correlations_fall_off_with_distance() {
    // 128-token documents over 8 symbols. Tokens 1 apart are siblings half of the time (one
    // rule apart); tokens 32 apart meet 6 or 7 levels up, with up to 12 random rule choices
    // between them. Measured at fixed positions, the dependence drops by a roughly constant
    // factor per doubling of the distance (a power law): about 0.33, 0.016, 0.0007 nats at
    // lags 1, 2, 4, and below the noise (≈ 3e-4 per position) by lag 8.
    let (v, doc_len, documents) = (8, 128, 20_000);
    let g = HierarchyConfig { seed: 2, ..config(v, 4, 2, 7) }.build().unwrap();
    let tokens = g.sample(documents, 4);
    let mi = |lag| lag_mutual_information(&tokens, doc_len, v, lag);
    let ((near, near_pooled), (two, _), (four, _), (far, far_pooled)) =
        (mi(1), mi(2), mi(4), mi(32));
    eprintln!(
        "positional mutual information: lag 1 {near:.5}, 2 {two:.5}, 4 {four:.5}, 32 {far:.5}; \
         pooled over positions: lag 1 {near_pooled:.5}, lag 32 {far_pooled:.5}"
    );
    assert!(near > 0.1, "lag 1: {near} nats");
    assert!(near > 5.0 * two && two > 5.0 * four, "lags 1, 2, 4: {near}, {two}, {four}");
    assert!(far.abs() < 3e-4, "lag 32: {far} nats");
    // Pooled over positions (the concatenated stream, as a stream statistic sees it), lag 1
    // still stands far above lag 32, which keeps a floor from position-dependent token
    // frequencies (see the module docs).
    assert!(near_pooled > 10.0 * far_pooled, "pooled: {near_pooled} vs {far_pooled}");
}

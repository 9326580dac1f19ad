//! n-gram models: hand-computed tables and entropies, sampled statistics against the table.

mod common;

use common::assert_close;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use scalinglab_data::{GraphSpec, NgramCounter, NgramModel, Smoothing, WalkBias, WalkConfig};

const MLE: Smoothing = Smoothing::AddK { k: 0.0 };

#[test]
fn hand_computed_bigram() {
    // Cyclic stream 0 1 0 2 0 1 (→ 0): bigrams 01 10 02 20 01 10.
    // c(0) = 3 with 0→1 twice and 0→2 once; 1 → 0 and 2 → 0 surely.
    // H = (3/6) H(2/3, 1/3) = ½ (ln 3 − (2/3) ln 2) = 0.3182570841474064.
    let m = NgramModel::estimate(2, 4, MLE, &[0, 1, 0, 2, 0, 1]).unwrap();
    assert_eq!((m.num_tokens(), m.num_histories(), m.num_ngrams()), (6, 3, 4));
    assert_eq!(m.count(&[0], 1), 2);
    assert_eq!(m.count(&[1], 0), 2, "the cycle closes 1 → 0");
    assert_close(m.probability(&[0], 1), 2.0 / 3.0, 1e-15, "P(1|0)");
    assert_close(m.probability(&[2], 0), 1.0, 1e-15, "P(0|2)");
    assert_close(m.probability(&[3], 2), 0.25, 1e-15, "unseen history: uniform");
    let h = 0.318_257_084_147_406_4;
    assert_close(m.entropy_rate().unwrap().unwrap(), h, 1e-15, "closed form");
    // The same model as a Markov chain on tokens (power iteration): π = (3, 2, 1, 0)/6.
    let chain = m.history_chain().unwrap().unwrap();
    let pi = chain.stationary();
    for (got, want) in pi.iter().zip([0.5, 1.0 / 3.0, 1.0 / 6.0, 0.0]) {
        assert_close(*got, want, 1e-9, "π");
    }
    assert_close(chain.entropy_rate(), h, 1e-9, "chain entropy rate");

    // Laplace (k = 1, V = 4): P(1|0) = (2 + 1)/(3 + 4), P(3|0) = 1/7.
    let m = NgramModel::estimate(2, 4, Smoothing::AddK { k: 1.0 }, &[0, 1, 0, 2, 0, 1]).unwrap();
    assert_close(m.probability(&[0], 1), 3.0 / 7.0, 1e-15, "P(1|0), k = 1");
    assert_close(m.probability(&[0], 3), 1.0 / 7.0, 1e-15, "P(3|0), k = 1");
    assert_close(m.probability(&[1], 0), 3.0 / 6.0, 1e-15, "P(0|1), k = 1");
}

#[test]
fn hand_computed_trigram_with_smoothing() {
    // Cyclic 0 0 1 1: trigrams 001 011 110 100, each history seen once, deterministic.
    let m = NgramModel::estimate(3, 2, MLE, &[0, 0, 1, 1]).unwrap();
    assert_eq!(m.entropy_rate().unwrap(), Some(0.0));
    // k = 1: each row is (2/3, 1/3). The chain on histories is doubly stochastic (each
    // history is entered with total probability 1), so π is uniform and H = H(2/3, 1/3).
    let m = NgramModel::estimate(3, 2, Smoothing::AddK { k: 1.0 }, &[0, 0, 1, 1]).unwrap();
    assert_close(m.probability(&[0, 0], 1), 2.0 / 3.0, 1e-15, "P(1|00)");
    let h = 3f64.ln() - 2.0 / 3.0 * 2f64.ln();
    assert_close(m.entropy_rate().unwrap().unwrap(), h, 1e-9, "H");
}

/// Counts of bigrams (i, j) in a stream, as a V×V table.
fn bigram_counts(tokens: &[u32], v: usize) -> Vec<u64> {
    let mut c = vec![0u64; v * v];
    tokens.windows(2).for_each(|w| c[w[0] as usize * v + w[1] as usize] += 1);
    c
}

/// Σ over rows with at least `min_row` draws of Pearson's χ² against `prob(i, j)`, and the
/// degrees of freedom (outcomes with non-zero probability, minus one, per row).
fn chi_square(
    counts: &[u64],
    v: usize,
    min_row: u64,
    prob: impl Fn(usize, usize) -> f64,
) -> (f64, f64) {
    let (mut chi2, mut df) = (0.0, 0.0);
    for i in 0..v {
        let n: u64 = counts[i * v..(i + 1) * v].iter().sum();
        if n < min_row {
            continue;
        }
        let mut outcomes = 0;
        for j in 0..v {
            let p = prob(i, j);
            let obs = counts[i * v + j] as f64;
            if p == 0.0 {
                assert_eq!(obs, 0.0, "sampled a transition {i} → {j} of probability 0");
                continue;
            }
            let expected = n as f64 * p;
            chi2 += (obs - expected).powi(2) / expected;
            outcomes += 1;
        }
        df += (outcomes - 1) as f64;
    }
    (chi2, df)
}

/// Mean of `f` over the windows of `order` tokens of `sample`, and its standard error from
/// 100 batch means (which absorb the stream's autocorrelation).
fn batch_mean(sample: &[u32], order: usize, f: impl Fn(&[u32]) -> f64) -> (f64, f64) {
    let batches: Vec<f64> = sample
        .chunks(sample.len() / 100)
        .map(|b| b.windows(order).map(&f).sum::<f64>() / (b.len() - order + 1) as f64)
        .collect();
    let n = batches.len() as f64;
    let mean = batches.iter().sum::<f64>() / n;
    let var = batches.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// A bigram "language": the stream of a biased walk on a small graph.
fn training_stream() -> (Vec<u32>, usize) {
    let chain = WalkConfig {
        graph: GraphSpec::BarabasiAlbert { nodes: 30, m: 3 },
        bias: WalkBias::PowerLaw { exponent: 1.0 },
        seed: 1,
    }
    .build()
    .unwrap();
    (chain.sample_walk(20_000, &mut ChaCha12Rng::seed_from_u64(2)), 30)
}

#[test]
fn sampled_bigrams_match_the_table() {
    let (stream, v) = training_stream();
    for smoothing in [MLE, Smoothing::AddK { k: 0.5 }] {
        let model = NgramModel::estimate(2, v, smoothing, &stream).unwrap();
        let sample = model.sample(1_000_000, 7);
        assert_eq!(sample.len(), 1_000_000);
        let counts = bigram_counts(&sample, v);
        let (chi2, df) =
            chi_square(&counts, v, 1000, |i, j| model.probability(&[i as u32], j as u32));
        // χ²(df) has mean df and standard deviation √(2 df).
        assert!(df > 100.0, "{df} degrees of freedom");
        assert!(
            (chi2 - df).abs() < 5.0 * (2.0 * df).sqrt(),
            "{smoothing:?}: χ² = {chi2}, df = {df}"
        );

        // The sample's conditional entropy against the model's exact rate, within five
        // batch-means standard errors of the sampled negative log-likelihood (the plug-in
        // estimate is further biased low by about (#bigrams − #histories)/(2N) < 5e-4).
        let exact = model.entropy_rate().unwrap().unwrap();
        let nll = |w: &[u32]| -model.probability(&w[..1], w[1]).ln();
        let (mean, se) = batch_mean(&sample, 2, nll);
        assert!(se < 0.005, "standard error {se} too large for a useful test");
        assert_close(mean, exact, 5.0 * se, &format!("{smoothing:?}: sampled log-loss"));
        let empirical = NgramModel::estimate(2, v, MLE, &sample).unwrap();
        let h = empirical.entropy_rate().unwrap().unwrap();
        assert_close(h, exact, 5.0 * se + 5e-4, &format!("{smoothing:?}: plug-in entropy"));
        // Smoothing adds entropy.
        assert!(exact > 0.5, "{exact}");
    }
    // A χ² that would fail: the sample against another table.
    let model = NgramModel::estimate(2, v, MLE, &stream).unwrap();
    let laplace = NgramModel::estimate(2, v, Smoothing::AddK { k: 0.5 }, &stream).unwrap();
    let counts = bigram_counts(&laplace.sample(1_000_000, 7), v);
    let model_prob = |i: usize, j: usize| model.probability(&[i as u32], j as u32);
    let mut sampled_impossible = false;
    for i in 0..v {
        for j in 0..v {
            sampled_impossible |= model_prob(i, j) == 0.0 && counts[i * v + j] > 0;
        }
    }
    assert!(sampled_impossible, "smoothed samples leave the maximum-likelihood support");
}

#[test]
fn trigram_samples_match_the_exact_entropy_rate() {
    // V = 3, order 3, k = 0.2: the exact rate comes from the 9-history chain.
    let stream: Vec<u32> = [0u32, 1, 2, 2, 1, 0, 0, 0, 1, 2, 1, 1].repeat(50);
    let model = NgramModel::estimate(3, 3, Smoothing::AddK { k: 0.2 }, &stream).unwrap();
    let exact = model.entropy_rate().unwrap().unwrap();
    let sample = model.sample(1_000_000, 3);
    let (mean, se) = batch_mean(&sample, 3, |w| -model.probability(&w[..2], w[2]).ln());
    assert!(se < 0.005, "standard error {se}");
    assert_close(mean, exact, 5.0 * se, "trigram sampled log-loss");
    let empirical =
        NgramModel::estimate(3, 3, MLE, &sample).unwrap().entropy_rate().unwrap().unwrap();
    assert_close(empirical, exact, 5.0 * se + 5e-4, "trigram plug-in entropy");
    // The maximum-likelihood trigram of a periodic stream is nearly deterministic.
    let mle = NgramModel::estimate(3, 3, MLE, &stream).unwrap();
    assert!(mle.entropy_rate().unwrap().unwrap() < exact);
}

#[test]
fn sampling_is_seeded_and_starts_from_a_seen_history() {
    let (stream, v) = training_stream();
    let model = NgramModel::estimate(3, v, MLE, &stream).unwrap();
    let a = model.sample(5000, 1);
    assert_eq!(a, model.sample(5000, 1));
    assert_ne!(a, model.sample(5000, 2));
    assert!(model.count(&a[..2], a[2]) > 0, "the first trigram was seen");
    // Every sampled trigram was seen (maximum likelihood).
    assert!(a.windows(3).all(|w| model.count(&w[..2], w[2]) > 0));
    assert_eq!(model.sample(1, 1).len(), 1);
    assert!(model.sample(0, 1).is_empty());
    // Entropy of a trigram with V = 30 and k > 0 needs 27 000 transitions: computable.
    let smooth = NgramModel::estimate(3, v, Smoothing::AddK { k: 1.0 }, &stream).unwrap();
    assert!(smooth.entropy_rate().unwrap().is_some());
    // With V = 5000 and k > 0 a bigram chain has 25 million transitions: not computed.
    let big = NgramModel::estimate(2, 5000, Smoothing::AddK { k: 1.0 }, &stream).unwrap();
    assert_eq!(big.entropy_rate().unwrap(), None);
}

#[test]
fn streaming_counts_equal_one_pass() {
    let (stream, v) = training_stream();
    let whole = NgramModel::estimate(3, v, MLE, &stream).unwrap();
    let mut counter = NgramCounter::new(3, v).unwrap();
    for piece in stream.chunks(777) {
        counter.push(piece).unwrap();
    }
    assert_eq!(counter.num_tokens(), stream.len() as u64);
    let pieces = counter.finish(MLE).unwrap();
    assert_eq!(pieces.num_ngrams(), whole.num_ngrams());
    assert_eq!(pieces.entropy_rate().unwrap(), whole.entropy_rate().unwrap());
    assert_eq!(pieces.sample(1000, 4), whole.sample(1000, 4));
}

#[test]
fn bad_arguments_are_errors() {
    let msg = |r: Result<NgramModel, scalinglab_data::DataError>| r.unwrap_err().to_string();
    assert_eq!(msg(NgramModel::estimate(1, 4, MLE, &[0, 1])), "ngram.order = 1 must be at least 2");
    assert_eq!(
        msg(NgramModel::estimate(2, 4, MLE, &[0, 1, 4])),
        "token 2 of the stream = 4 is out of range for vocab_size = 4"
    );
    assert_eq!(
        msg(NgramModel::estimate(3, 4, MLE, &[0, 1])),
        "tokens = 2 are too few for an order-3 model (need at least 3)"
    );
    assert_eq!(
        msg(NgramModel::estimate(2, 4, Smoothing::AddK { k: -1.0 }, &[0, 1])),
        "smoothing.k = -1 must be finite and ≥ 0"
    );
    assert!(msg(NgramModel::estimate(20, 65_536, MLE, &[0, 1])).contains("exceeds 127"));
}

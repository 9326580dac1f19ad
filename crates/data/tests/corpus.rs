//! Token corpora for next-token training.

use scalinglab_data::{TokenCorpus, WalkConfig};

#[test]
fn new_checks_length_and_tokens() {
    let c = TokenCorpus::new(5, 3, vec![0, 1, 2, 3, 4, 3, 2, 1]).unwrap();
    assert_eq!(c.num_sequences(), 2);
    assert_eq!(c.num_target_tokens(), 6);
    assert_eq!(c.sequence(1), &[4, 3, 2, 1]);

    let err = TokenCorpus::new(5, 3, vec![0, 1, 2]).unwrap_err();
    assert_eq!(err.to_string(), "tokens.len() = 3 is not a multiple of seq_len + 1 = 4");
    let err = TokenCorpus::new(5, 1, vec![0, 1, 2, 5]).unwrap_err();
    assert_eq!(err.to_string(), "tokens[3] = 5 is out of range for vocab_size = 5");
    assert_eq!(TokenCorpus::new(5, 3, vec![]).unwrap().num_sequences(), 0);
}

#[test]
fn batches_are_shifted_by_one() {
    let c = TokenCorpus::new(10, 3, vec![0, 1, 2, 3, 9, 8, 7, 6, 4, 4, 5, 5]).unwrap();
    let (inputs, targets) = c.batch(&[2, 0]);
    assert_eq!(inputs, vec![4, 4, 5, 0, 1, 2]);
    assert_eq!(targets, vec![4, 5, 5, 1, 2, 3]);
    let (inputs, targets) = c.batch(&[]);
    assert!(inputs.is_empty() && targets.is_empty());
}

#[test]
fn walk_corpus_shapes_and_shift() {
    let chain = WalkConfig::default().build().unwrap();
    let (seq_len, n) = (50, 40);
    let c = TokenCorpus::from_walks(&chain, seq_len, n, 1);
    assert_eq!(c.vocab_size, 128);
    assert_eq!(c.seq_len, seq_len);
    assert_eq!(c.num_sequences(), n);
    assert_eq!(c.num_target_tokens(), (n * seq_len) as u64);
    assert_eq!(c.tokens().len(), n * (seq_len + 1));
    let indices = [3, 0, 39];
    let (inputs, targets) = c.batch(&indices);
    assert_eq!(inputs.len(), indices.len() * seq_len);
    assert_eq!(targets.len(), indices.len() * seq_len);
    for (b, &i) in indices.iter().enumerate() {
        let row = b * seq_len;
        assert_eq!(inputs[row], i64::from(c.sequence(i)[0]));
        for t in 0..seq_len - 1 {
            assert_eq!(targets[row + t], inputs[row + t + 1], "targets[t] = inputs[t + 1]");
        }
        assert_eq!(targets[row + seq_len - 1], i64::from(c.sequence(i)[seq_len]));
        // Each sequence is a walk on the graph.
        for w in c.sequence(i).windows(2) {
            assert!(chain.row(w[0] as usize).iter().any(|e| e.0 == w[1]));
        }
    }
    // Sequences are independent walks, not one walk cut up: consecutive sequences are not
    // generally joined by an edge.
    let joined = (1..n)
        .filter(|&i| {
            let last = *c.sequence(i - 1).last().unwrap();
            chain.row(last as usize).iter().any(|e| e.0 == c.sequence(i)[0])
        })
        .count();
    assert!(joined < n / 2, "{joined} of {n} sequences continue the previous one");
}

#[test]
fn take_and_seeds_nest() {
    let chain = WalkConfig::default().build().unwrap();
    let big = TokenCorpus::from_walks(&chain, 20, 100, 5);
    let small = big.take(30);
    assert_eq!(small.num_sequences(), 30);
    assert_eq!(small.sequence(29), big.sequence(29));
    // Nested training sets: a smaller corpus from the same seed is a prefix of a larger one.
    assert_eq!(TokenCorpus::from_walks(&chain, 20, 30, 5), small);
    assert_eq!(TokenCorpus::from_walks(&chain, 20, 100, 5), big, "reproducible");
    assert_ne!(TokenCorpus::from_walks(&chain, 20, 100, 6), big);
    assert_eq!(big.take(1000), big, "take clamps to the corpus size");
}

#[test]
fn corpus_frequencies_follow_the_stationary_distribution() {
    // Every position of every sequence is distributed as π, including the first.
    let chain = WalkConfig::default().build().unwrap();
    let c = TokenCorpus::from_walks(&chain, 9, 100_000, 3);
    let pi = chain.stationary();
    let mut first = vec![0usize; chain.num_states()];
    for i in 0..c.num_sequences() {
        first[c.sequence(i)[0] as usize] += 1;
    }
    for (s, &count) in first.iter().enumerate() {
        let f = count as f64 / c.num_sequences() as f64;
        // Binomial standard deviation √(π(1−π)/N) ≤ 0.0016; allow 5σ.
        let sigma = (pi[s] * (1.0 - pi[s]) / c.num_sequences() as f64).sqrt();
        assert!((f - pi[s]).abs() < 5.0 * sigma + 1e-4, "state {s}: {f} vs {}", pi[s]);
    }
}

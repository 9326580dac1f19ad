//! Stationary distributions and entropy rates against hand-computed values, and sampled walks
//! against the exact quantities.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use scalinglab_data::{DataError, Graph, GraphSpec, MarkovChain, WalkBias, WalkConfig};

fn unbiased(n: usize, edges: &[(u32, u32)]) -> MarkovChain {
    let g = Graph::from_edges(n, edges).unwrap();
    MarkovChain::from_graph(&g, &WalkBias::Unbiased, 0).unwrap()
}

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol})");
}

fn assert_vec_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "{what}[{i}]: {x} vs {y}");
    }
}

#[test]
fn path_of_three_nodes() {
    // 0-1-2: degrees (1, 2, 1), |E| = 2, π = deg/2|E| = (1/4, 1/2, 1/4).
    // Only node 1 has a choice (2 neighbours): H = π_1 ln 2 = ½ ln 2 = 0.34657359027997264.
    // Unigram: −(2·¼ ln ¼ + ½ ln ½) = (3/2) ln 2 = 1.0397207708399179.
    let c = unbiased(3, &[(0, 1), (1, 2)]);
    assert_vec_close(&c.stationary(), &[0.25, 0.5, 0.25], 1e-15, "π");
    assert_close(c.entropy_rate(), 0.346_573_590_279_972_64, 1e-14, "H");
    assert_close(c.unigram_entropy(), 1.039_720_770_839_917_9, 1e-14, "unigram");
}

#[test]
fn star_with_three_leaves() {
    // Centre 0, leaves 1..3: |E| = 3, π = (3/6, 1/6, 1/6, 1/6).
    // Leaves are deterministic; the centre chooses among 3: H = ½ ln 3 = 0.5493061443340549.
    // Unigram: −(½ ln ½ + 3·(1/6) ln(1/6)) = ½ ln 2 + ½ ln 6 = 1.2424533248940002.
    let c = unbiased(4, &[(0, 1), (0, 2), (0, 3)]);
    assert_vec_close(&c.stationary(), &[0.5, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0], 1e-15, "π");
    assert_close(c.entropy_rate(), 0.549_306_144_334_054_9, 1e-14, "H");
    assert_close(c.unigram_entropy(), 1.242_453_324_894_000_2, 1e-14, "unigram");
}

#[test]
fn triangle() {
    // Every node has degree 2: π uniform, H = ln 2 = 0.6931471805599453, unigram ln 3.
    let c = unbiased(3, &[(0, 1), (1, 2), (2, 0)]);
    assert_close(c.entropy_rate(), std::f64::consts::LN_2, 1e-14, "H");
    assert_close(c.unigram_entropy(), 3f64.ln(), 1e-14, "unigram");
}

#[test]
fn four_cycle_with_chord() {
    // Cycle 0-1-2-3-0 plus chord 0-2: degrees (3, 2, 3, 2), |E| = 5, π = (3, 2, 3, 2)/10.
    // H = 2·(3/10) ln 3 + 2·(2/10) ln 2 = 0.6 ln 3 + 0.4 ln 2 = 0.936426245424844.
    // Unigram: −(2·0.3 ln 0.3 + 2·0.2 ln 0.2) = 1.366158847569202.
    let c = unbiased(4, &[(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]);
    assert_vec_close(&c.stationary(), &[0.3, 0.2, 0.3, 0.2], 1e-15, "π");
    assert_close(c.entropy_rate(), 0.936_426_245_424_844, 1e-14, "H");
    assert_close(c.unigram_entropy(), 1.366_158_847_569_202, 1e-14, "unigram");
}

#[test]
fn weighted_path_from_rows() {
    // Path 0-1-2 with edge weights w01 = 1, w12 = 3 (a reversible weighted walk):
    // s = (1, 4, 3), π = s/8 = (1/8, 1/2, 3/8); row 1 is (1/4, 3/4), others deterministic.
    // H = ½ (¼ ln 4 + ¾ ln(4/3)) = 0.28116757230940415.
    let c =
        MarkovChain::from_rows(vec![vec![(1, 1.0)], vec![(2, 0.75), (0, 0.25)], vec![(1, 1.0)]])
            .unwrap();
    assert_eq!(c.row(1), &[(0, 0.25), (2, 0.75)], "rows are sorted by target");
    assert_vec_close(&c.stationary(), &[0.125, 0.5, 0.375], 1e-10, "π");
    assert_close(c.entropy_rate(), 0.281_167_572_309_404_15, 1e-10, "H");
}

#[test]
fn non_reversible_three_state_chain() {
    // 0 → 1 surely, 1 → 2 surely, 2 → 0 or 1 with ½ each.
    // π P = π: π_0 = π_2/2, π_1 = π_0 + π_2/2, π_2 = π_1  ⇒  π = (0.2, 0.4, 0.4).
    // Not reversible: π_0 P_01 = 0.2 but π_1 P_10 = 0. Only state 2 is random: H = 0.4 ln 2.
    let c = MarkovChain::from_rows(vec![vec![(1, 1.0)], vec![(2, 1.0)], vec![(0, 0.5), (1, 0.5)]])
        .unwrap();
    assert_vec_close(&c.stationary(), &[0.2, 0.4, 0.4], 1e-10, "π");
    assert_close(c.entropy_rate(), 0.277_258_872_223_978_1, 1e-10, "H");
}

#[test]
fn periodic_cycle_power_iteration() {
    // The directed 3-cycle has period 3; its π is uniform. The lazy iteration must converge.
    let c = MarkovChain::from_rows(vec![vec![(1, 1.0)], vec![(2, 1.0)], vec![(0, 1.0)]]).unwrap();
    assert_vec_close(&c.stationary(), &[1.0 / 3.0; 3], 1e-12, "π");
    assert_eq!(c.entropy_rate(), 0.0);
}

#[test]
fn power_iteration_matches_closed_form_for_graph_walks() {
    for (bias, spec) in [
        (WalkBias::Unbiased, GraphSpec::ErdosRenyi { nodes: 60, edges: 200 }),
        (WalkBias::PowerLaw { exponent: 1.5 }, GraphSpec::ErdosRenyi { nodes: 60, edges: 200 }),
        (WalkBias::Unbiased, GraphSpec::BarabasiAlbert { nodes: 80, m: 2 }),
    ] {
        let g = spec.generate(4).unwrap();
        let closed = MarkovChain::from_graph(&g, &bias, 9).unwrap();
        // from_rows always uses power iteration.
        let general = MarkovChain::from_rows(closed.to_rows()).unwrap();
        assert_vec_close(&general.stationary(), &closed.stationary(), 1e-9, "π");
        assert_close(general.entropy_rate(), closed.entropy_rate(), 1e-9, "H");
        if bias == WalkBias::Unbiased {
            let two_e = 2.0 * g.num_edges() as f64;
            let by_degree: Vec<f64> =
                (0..g.num_nodes()).map(|i| g.degree(i) as f64 / two_e).collect();
            assert_vec_close(&closed.stationary(), &by_degree, 1e-15, "π = deg/2|E|");
            let h: f64 = (0..g.num_nodes()).map(|i| by_degree[i] * (g.degree(i) as f64).ln()).sum();
            assert_close(closed.entropy_rate(), h, 1e-12, "H = Σ π ln deg");
        }
    }
}

#[test]
fn power_law_walk_is_reversible_and_seeded() {
    let g = GraphSpec::ErdosRenyi { nodes: 50, edges: 150 }.generate(1).unwrap();
    let bias = WalkBias::PowerLaw { exponent: 2.0 };
    let c = MarkovChain::from_graph(&g, &bias, 5).unwrap();
    let pi = c.stationary();
    // Detailed balance π_i P_ij = π_j P_ji (symmetric weights).
    for i in 0..c.num_states() {
        for &(j, p) in c.row(i) {
            let back = c.row(j as usize).iter().find(|e| e.0 as usize == i).unwrap().1;
            assert_close(pi[i] * p, pi[j as usize] * back, 1e-15, "detailed balance");
        }
    }
    // Bias lowers the entropy rate below the unbiased walk's.
    let u = MarkovChain::from_graph(&g, &WalkBias::Unbiased, 5).unwrap();
    assert!(c.entropy_rate() < u.entropy_rate() - 0.1);
    // Same seed, same weights; another seed, other weights.
    let same = MarkovChain::from_graph(&g, &bias, 5).unwrap();
    let other = MarkovChain::from_graph(&g, &bias, 6).unwrap();
    assert_eq!(c.to_rows(), same.to_rows());
    assert_ne!(c.to_rows(), other.to_rows());
    // Exponent 0 is the unbiased walk.
    let zero = MarkovChain::from_graph(&g, &WalkBias::PowerLaw { exponent: 0.0 }, 5).unwrap();
    assert_eq!(zero.to_rows(), u.to_rows());
}

#[test]
fn power_law_weights_follow_the_documented_law() {
    // A star's rows are the normalised weights of its edges; with one huge star the ratios
    // w_k / w_min reveal the law: ln w = a ξ, ξ ~ Exp(1), so ln(w_k / w_min) = a (ξ_k − ξ_min)
    // and the sample mean of ξ_k − ξ_min is ≈ 1 (memorylessness).
    let n = 20_001;
    let edges: Vec<(u32, u32)> = (1..n as u32).map(|j| (0, j)).collect();
    let g = Graph::from_edges(n, &edges).unwrap();
    let a = 0.5;
    let c = MarkovChain::from_graph(&g, &WalkBias::PowerLaw { exponent: a }, 3).unwrap();
    let logs: Vec<f64> = c.row(0).iter().map(|&(_, p)| p.ln()).collect();
    let min = logs.iter().copied().fold(f64::INFINITY, f64::min);
    let mean_excess = logs.iter().map(|l| (l - min) / a).sum::<f64>() / (n - 2) as f64;
    assert_close(mean_excess, 1.0, 0.03, "mean of ξ − ξ_min");
}

/// Plug-in conditional entropy of the next token given the current one, from bigram counts:
/// `−Σ_ij (c_ij / N) ln(c_ij / c_i)`.
fn empirical_conditional_entropy(tokens: &[u32], n: usize) -> f64 {
    let mut pair = vec![0u64; n * n];
    let mut first = vec![0u64; n];
    for w in tokens.windows(2) {
        pair[w[0] as usize * n + w[1] as usize] += 1;
        first[w[0] as usize] += 1;
    }
    let total = (tokens.len() - 1) as f64;
    -pair
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c > 0)
        .map(|(k, &c)| (c as f64 / total) * (c as f64 / first[k / n] as f64).ln())
        .sum::<f64>()
}

#[test]
fn sampled_walks_match_entropy_rate_and_stationary_distribution() {
    for bias in [WalkBias::Unbiased, WalkBias::PowerLaw { exponent: 0.5 }] {
        let config =
            WalkConfig { graph: GraphSpec::ErdosRenyi { nodes: 64, edges: 256 }, bias, seed: 11 };
        let chain = config.build().unwrap();
        let n = chain.num_states();
        let len = 10_000_000;
        let walk = chain.sample_walk(len, &mut ChaCha12Rng::seed_from_u64(5));
        assert_eq!(walk.len(), len);
        // Every step follows an edge of the chain.
        for w in walk.windows(2).take(10_000) {
            assert!(chain.row(w[0] as usize).iter().any(|e| e.0 == w[1]));
        }
        // Standard error from 100 batch means of −ln P(x_{t+1} | x_t), whose expectation is
        // exactly H on a stationary walk (batch means absorb the walk's autocorrelation).
        let batches: Vec<f64> = walk
            .chunks(len / 100)
            .map(|b| {
                let nll: f64 = b
                    .windows(2)
                    .map(|w| -chain.row(w[0] as usize).iter().find(|e| e.0 == w[1]).unwrap().1.ln())
                    .sum();
                nll / (b.len() - 1) as f64
            })
            .collect();
        let mean = batches.iter().sum::<f64>() / 100.0;
        let var = batches.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / 99.0;
        let std_error = (var / 100.0).sqrt();
        assert!(std_error < 1e-3, "standard error {std_error} too large for a useful test");
        // The plug-in estimate is biased low by about (#bigrams − n)/(2N) ≤ 2e-5 here.
        let h = empirical_conditional_entropy(&walk, n);
        let tolerance = 5.0 * std_error + 1e-4;
        assert_close(h, chain.entropy_rate(), tolerance, "empirical conditional entropy");
        let mut counts = vec![0u64; n];
        walk.iter().for_each(|&t| counts[t as usize] += 1);
        let freq: Vec<f64> = counts.iter().map(|&c| c as f64 / len as f64).collect();
        assert_vec_close(&freq, &chain.stationary(), 1e-3, "unigram frequency");
    }
}

#[test]
fn first_token_is_drawn_from_stationary_distribution() {
    // Star centre has π = ½; many length-1 walks.
    let c = unbiased(4, &[(0, 1), (0, 2), (0, 3)]);
    let mut rng = ChaCha12Rng::seed_from_u64(0);
    let draws = 100_000;
    let centre = (0..draws).filter(|_| c.sample_walk(1, &mut rng)[0] == 0).count();
    assert_close(centre as f64 / draws as f64, 0.5, 0.01, "P(first = centre)");
    assert!(c.sample_walk(0, &mut rng).is_empty());
}

#[test]
fn from_rows_rejects_bad_rows() {
    let msg = |rows: Vec<Vec<(u32, f64)>>| MarkovChain::from_rows(rows).unwrap_err().to_string();
    assert!(msg(vec![]).contains("rows.len() = 0"));
    assert!(msg(vec![vec![(0, 0.5), (1, 0.4)], vec![(0, 1.0)]]).contains("rows[0] sum = 0.9"));
    assert!(msg(vec![vec![(0, 1.0)], vec![]]).contains("rows[1].len() = 0"));
    assert!(msg(vec![vec![(2, 1.0)], vec![(0, 1.0)]]).contains("rows[0] target = 2"));
    assert!(
        msg(vec![vec![(0, 1.5), (1, -0.5)], vec![(0, 1.0)]]).contains("must be finite and > 0")
    );
    assert!(msg(vec![vec![(0, f64::NAN)]]).contains("rows[0] probability of 0 = NaN"));
    assert!(msg(vec![vec![(1, 0.5), (1, 0.5)], vec![(0, 1.0)]]).contains("appears more than once"));
}

#[test]
fn power_iteration_reports_non_convergence() {
    // (The lazy walk on the path 0-1-2 would reach π from uniform in one step.)
    let c = unbiased(4, &[(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]);
    let err = c.stationary_power_iteration(1e-12, 3).unwrap_err();
    assert!(matches!(err, DataError::NotConverged { iterations: 3, .. }), "{err}");
    assert!(c.stationary_power_iteration(0.0, 10).is_err());
}

#[test]
fn from_graph_rejects_unusable_graphs() {
    let two_parts = Graph::from_edges(4, &[(0, 1), (2, 3)]).unwrap();
    let err = MarkovChain::from_graph(&two_parts, &WalkBias::Unbiased, 0).unwrap_err();
    assert_eq!(err, DataError::Disconnected { nodes: 4, components: 2 });
    let single = Graph::from_edges(1, &[]).unwrap();
    assert!(MarkovChain::from_graph(&single, &WalkBias::Unbiased, 0).is_err());
    let line = Graph::from_edges(2, &[(0, 1)]).unwrap();
    let err =
        MarkovChain::from_graph(&line, &WalkBias::PowerLaw { exponent: -1.0 }, 0).unwrap_err();
    assert!(err.to_string().starts_with("bias.exponent = -1 "), "{err}");
}

#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn sampling_ten_million_tokens_is_fast() {
    let chain = WalkConfig {
        graph: GraphSpec::ErdosRenyi { nodes: 1000, edges: 5000 },
        bias: WalkBias::PowerLaw { exponent: 1.0 },
        seed: 0,
    }
    .build()
    .unwrap();
    let start = std::time::Instant::now();
    let walk = chain.sample_walk(10_000_000, &mut ChaCha12Rng::seed_from_u64(5));
    let elapsed = start.elapsed();
    println!("10M tokens in {elapsed:?}");
    assert_eq!(walk.len(), 10_000_000);
    assert!(elapsed.as_secs_f64() < 2.0);
}

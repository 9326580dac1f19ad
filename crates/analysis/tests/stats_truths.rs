//! The statistics of `scalinglab_analysis::stats` against independent truths (issue #5):
//! Markov chains with exact correlations and entropies, a k-th order Markov source with
//! known `H_n`, spheres of known dimension, and a stream built with power-law correlations.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use scalinglab_analysis::stats::correlation::{BlockSums, LagStat, NoiseFloor};
use scalinglab_analysis::stats::synth::{PowerLawSource, sphere_points};
use scalinglab_analysis::stats::*;
use scalinglab_data::MarkovChain;

/// Entropy of a distribution in nats.
fn entropy(p: &[f64]) -> f64 {
    -p.iter().filter(|&&x| x > 0.0).map(|x| x * x.ln()).sum::<f64>()
}

/// Stationary distribution of a dense row-stochastic matrix by power iteration.
fn stationary(p: &[Vec<f64>]) -> Vec<f64> {
    let n = p.len();
    let mut x = vec![1.0 / n as f64; n];
    for _ in 0..10_000 {
        let mut y = vec![0.0; n];
        for i in 0..n {
            for j in 0..n {
                y[j] += x[i] * p[i][j];
            }
        }
        x = y;
    }
    x
}

/// Top singular value of a dense square matrix by power iteration on `CᵀC`.
fn dense_top_sv(c: &[Vec<f64>]) -> f64 {
    let n = c.len();
    let mut x = vec![1.0; n];
    x[0] = 2.0;
    let mut lam = 0.0;
    for _ in 0..5000 {
        let cx: Vec<f64> = (0..n).map(|i| (0..n).map(|j| c[i][j] * x[j]).sum()).collect();
        let y: Vec<f64> = (0..n).map(|j| (0..n).map(|i| c[i][j] * cx[i]).sum()).collect();
        lam = y.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>()
            / x.iter().map(|a| a * a).sum::<f64>();
        let ny = y.iter().map(|a| a * a).sum::<f64>().sqrt();
        x = y.iter().map(|a| a / ny).collect();
    }
    lam.sqrt()
}

fn walk(rows: Vec<Vec<(u32, f64)>>, len: usize, seed: u64) -> Vec<u32> {
    let chain = MarkovChain::from_rows(rows).unwrap();
    chain.sample_walk(len, &mut ChaCha12Rng::seed_from_u64(seed))
}

fn corr_opts(lags: Vec<usize>) -> CorrelationOptions {
    CorrelationOptions { lags, bootstrap: 100, ..Default::default() }
}

#[test]
fn symmetric_markov_chain_correlations_are_powers_of_its_second_eigenvalue() {
    // Lazy walk on a cycle of 8 states: P = ½ I + ¼ (shift + shift⁻¹), symmetric, π uniform.
    // C(n) = (Pⁿ − 11ᵀ/V)/V, so ‖C(n)‖_op = λ₁ⁿ/V and ‖C(n)‖_F = sqrt(Σ_{k≥1} λ_k²ⁿ)/V with
    // λ_k = ½ + ½ cos(2πk/V).
    let v = 8usize;
    let rows: Vec<Vec<(u32, f64)>> = (0..v)
        .map(|i| {
            vec![(i as u32, 0.5), (((i + 1) % v) as u32, 0.25), (((i + v - 1) % v) as u32, 0.25)]
        })
        .collect();
    let tokens = walk(rows, 2_000_000, 1);
    let lam: Vec<f64> = (0..v)
        .map(|k| 0.5 + 0.5 * (2.0 * std::f64::consts::PI * k as f64 / v as f64).cos())
        .collect();
    let stats = correlation_decay(&tokens, v, &corr_opts((1..=12).chain([150]).collect())).unwrap();
    for s in stats.lags.iter().filter(|s| s.lag <= 12) {
        let n = s.lag as i32;
        let op = lam[1].powi(n) / v as f64;
        let frob = (1..v).map(|k| lam[k].powi(2 * n)).sum::<f64>().sqrt() / v as f64;
        assert!(
            (s.op_norm - op).abs() < 0.03 * op + 2.0 * stats.floor.op_norm,
            "lag {n}: {} vs exact {op}",
            s.op_norm
        );
        assert!(
            (s.frob_norm - frob).abs() < 0.03 * frob + 2.0 * stats.floor.frob_norm,
            "lag {n}: {} vs {frob}",
            s.frob_norm
        );
        assert!(s.resolved && s.lanczos_converged);
    }
    // Lag 150: λ₁^150/8 ≈ 4e-12, far below the noise: flagged, not fitted.
    let far = stats.lags.iter().find(|s| s.lag == 150).unwrap();
    assert!(!far.resolved, "{far:?}");
    assert!(far.op_norm < 5.0 * stats.floor.op_norm && far.op_norm > 0.2 * stats.floor.op_norm);
    let fit = fit_correlation_decay(&stats, &corr_opts(vec![1])).unwrap();
    assert_eq!(fit.first_unresolved, Some(150));
    assert_eq!(fit.lags_used, (1..=12).collect::<Vec<_>>());
    assert!(fit.warnings.iter().any(|w| w.contains("below the noise threshold")));
    // The decay is geometric, not a power law: the ratio of successive norms is λ₁.
    let ratios: Vec<f64> =
        stats.lags.windows(2).take(11).map(|w| w[1].op_norm / w[0].op_norm).collect();
    let mean_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
    assert!((mean_ratio - lam[1]).abs() < 0.01, "ratio {mean_ratio} vs λ₁ = {}", lam[1]);

    // H_0 = ln 8; H_n = entropy rate = 1.5 ln 2 for every n ≥ 1.
    let h =
        ngram_entropies(&tokens, v, &EntropyOptions { max_n: 6, ..Default::default() }).unwrap();
    assert!((h[0].miller_madow - 8f64.ln()).abs() < 0.002, "{:?}", h[0]);
    for c in &h[1..] {
        assert!((c.miller_madow - 1.5 * 2f64.ln()).abs() < 0.003, "{c:?}");
        assert!((c.grassberger - 1.5 * 2f64.ln()).abs() < 0.003, "{c:?}");
        assert!(c.reliable);
    }
}

#[test]
fn two_state_chain_has_exact_geometric_correlations_and_entropy() {
    // P = [[1 − p, p], [q, 1 − q]]: C(n) = π₀π₁ λⁿ [[1, −1], [−1, 1]] with λ = 1 − p − q, so
    // ‖C(n)‖_op = 2 π₀ π₁ |λ|ⁿ; H_n = π₀ h(p) + π₁ h(q) for n ≥ 1.
    let (p, q) = (0.1, 0.3);
    let tokens = walk(vec![vec![(0, 1.0 - p), (1, p)], vec![(0, q), (1, 1.0 - q)]], 2_000_000, 2);
    let (pi0, pi1, lam) = (q / (p + q), p / (p + q), 1.0 - p - q);
    let stats = correlation_decay(&tokens, 2, &corr_opts((1..=6).collect())).unwrap();
    for s in &stats.lags {
        let exact = 2.0 * pi0 * pi1 * lam.powi(s.lag as i32);
        assert!(
            (s.op_norm - exact).abs() < 0.03 * exact + 3.0 * stats.floor.op_norm,
            "lag {}: {} vs {exact}",
            s.lag,
            s.op_norm
        );
    }
    let h =
        ngram_entropies(&tokens, 2, &EntropyOptions { max_n: 4, ..Default::default() }).unwrap();
    let rate = pi0 * entropy(&[p, 1.0 - p]) + pi1 * entropy(&[q, 1.0 - q]);
    assert!((h[0].miller_madow - entropy(&[pi0, pi1])).abs() < 0.003);
    for c in &h[1..] {
        assert!((c.miller_madow - rate).abs() < 0.003, "{c:?} vs {rate}");
    }
}

#[test]
fn second_order_markov_source_has_known_conditional_entropies() {
    // Ternary source with P(x_t | x_{t−2}, x_{t−1}) from a fixed table; the chain runs on
    // pairs (a, b) → (b, c), tokens are the last symbol.
    let table: [[f64; 3]; 9] = [
        [0.7, 0.2, 0.1],
        [0.1, 0.1, 0.8],
        [0.3, 0.4, 0.3],
        [0.05, 0.9, 0.05],
        [0.5, 0.25, 0.25],
        [0.2, 0.2, 0.6],
        [0.6, 0.3, 0.1],
        [0.15, 0.7, 0.15],
        [0.34, 0.33, 0.33],
    ];
    let rows: Vec<Vec<(u32, f64)>> =
        (0..9).map(|s| (0..3).map(|c| ((3 * (s % 3) + c) as u32, table[s][c])).collect()).collect();
    let chain = MarkovChain::from_rows(rows).unwrap();
    let states = chain.sample_walk(1_000_000, &mut ChaCha12Rng::seed_from_u64(3));
    let tokens: Vec<u32> = states.iter().map(|s| s % 3).collect();
    // Exact values from the stationary distribution over pairs (computed here independently).
    let dense: Vec<Vec<f64>> = (0..9)
        .map(|s| (0..9).map(|t| if t / 3 == s % 3 { table[s][t % 3] } else { 0.0 }).collect())
        .collect();
    let pi = stationary(&dense);
    let marg: Vec<f64> = (0..3).map(|b| (0..3).map(|a| pi[3 * a + b]).sum()).collect();
    let h0 = entropy(&marg);
    let h1 = entropy(&pi) - h0; // H(X_{t−1}, X_t) − H(X_{t−1})
    let h2: f64 = (0..9).map(|s| pi[s] * entropy(&table[s])).sum();
    let exact = [h0, h1, h2, h2, h2, h2];
    assert!(
        h0 - h1 > 0.05 && h1 - h2 > 0.05,
        "the test source must have distinct H_0 > H_1 > H_2: {exact:?}"
    );
    let h =
        ngram_entropies(&tokens, 3, &EntropyOptions { max_n: 5, ..Default::default() }).unwrap();
    for (c, e) in h.iter().zip(exact) {
        assert!(
            (c.miller_madow - e).abs() < 0.004,
            "n = {}: MM {} vs exact {e}",
            c.n,
            c.miller_madow
        );
        assert!(
            (c.grassberger - e).abs() < 0.004,
            "n = {}: Grassberger {} vs exact {e}",
            c.n,
            c.grassberger
        );
        // The plug-in estimate is biased low, the corrections move it up.
        assert!(c.plugin <= c.miller_madow);
    }
}

#[test]
fn sphere_dimensions_from_2_to_10_within_ten_percent() {
    for d in 2..=10usize {
        let n = 6000;
        let points = sphere_points(d, 100, n, 10 + d as u64).unwrap();
        let est =
            intrinsic_dimension(&points, 100, &IdOptions { batch_size: n, ..Default::default() })
                .unwrap();
        let (mle, two) = (est.mle.mean, est.two_nn.mean);
        assert!((mle / d as f64 - 1.0).abs() < 0.1, "d = {d}: Levina–Bickel {mle}");
        assert!((two / d as f64 - 1.0).abs() < 0.1, "d = {d}: TwoNN {two}");
        if d == 5 {
            // On a sphere about the origin the cosine (chord) distance is the same geometry.
            let cos = intrinsic_dimension(
                &points,
                100,
                &IdOptions { batch_size: n, metric: Metric::Cosine, ..Default::default() },
            )
            .unwrap();
            assert!((cos.mle.mean - mle).abs() < 1e-3, "{} vs {mle}", cos.mle.mean);
        }
    }
}

#[test]
fn batched_dimension_reports_spread_over_batches() {
    let points = sphere_points(4, 30, 9000, 5).unwrap();
    let est =
        intrinsic_dimension(&points, 30, &IdOptions { batch_size: 3000, ..Default::default() })
            .unwrap();
    assert_eq!(est.batches.len(), 3);
    assert!(est.batches.iter().all(|b| b.points == 3000));
    assert!(
        (est.mle.mean - 4.0).abs() < 0.4 && est.mle.std > 0.0 && est.mle.std < 0.3,
        "{:?}",
        est.mle
    );
    let p = predict_from_dimension(est.mle.mean, est.mle.half_width.unwrap(), 1.0, "mle").unwrap();
    assert!((p.alpha_d - 2.0 / (2.0 + est.mle.mean)).abs() < 1e-12);
}

/// Top singular value of diag π − π πᵀ.
fn unigram_covariance_norm(pi: &[f64]) -> f64 {
    let c: Vec<Vec<f64>> = (0..pi.len())
        .map(|i| (0..pi.len()).map(|j| if i == j { pi[i] } else { 0.0 } - pi[i] * pi[j]).collect())
        .collect();
    dense_top_sv(&c)
}

#[test]
fn power_law_correlations_recover_a_known_beta_within_the_interval() {
    for (beta, shape, cap, seed) in [(0.5, 0.02, 2000.0, 7), (0.8, 0.2, 1000.0, 8)] {
        let src =
            PowerLawSource { vocab: 8, zipf: 1.0, beta, shape, doc_len: 20_000, max_mean_run: cap };
        let s = src.generate(10_000_000, seed).unwrap();
        let opts = CorrelationOptions {
            lags: log_spaced_lags(1, 200, 30),
            fit_window: Some((4, 200)),
            ..Default::default()
        };
        let stats = correlation_decay(&s.tokens, 8, &opts).unwrap();
        let fit = fit_correlation_decay(&stats, &opts).unwrap();
        // Amplitude: E C(n) = r(n) (diag π − π πᵀ) exactly.
        let norm = unigram_covariance_norm(&s.unigram);
        for l in stats.lags.iter().filter(|l| l.lag <= 10) {
            let exact = s.correlation_factor(l.lag) * norm;
            assert!(
                (l.op_norm / exact - 1.0).abs() < 0.05,
                "β = {beta}, lag {}: {} vs {exact}",
                l.lag,
                l.op_norm
            );
        }
        // The truth over the fitted lags: the log-log slope of the exact E‖C(n)‖, which the
        // construction makes a power law with exponent β.
        let lx: Vec<f64> = fit.lags_used.iter().map(|&l| (l as f64).ln()).collect();
        let ly: Vec<f64> = fit.lags_used.iter().map(|&l| s.correlation_factor(l).ln()).collect();
        let (mx, my) =
            (lx.iter().sum::<f64>() / lx.len() as f64, ly.iter().sum::<f64>() / ly.len() as f64);
        let truth = -lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum::<f64>()
            / lx.iter().map(|a| (a - mx) * (a - mx)).sum::<f64>();
        assert!((truth - beta).abs() < 0.04, "construction: exact slope {truth} vs β = {beta}");
        let (lo, hi) = fit.beta_ci.unwrap();
        assert!(
            lo <= truth && truth <= hi,
            "β = {beta}: exact slope {truth} outside [{lo}, {hi}] (fit {})",
            fit.beta
        );
        assert!(hi - lo < 0.6, "interval uselessly wide: [{lo}, {hi}]");
        assert!((fit.beta - truth).abs() < 0.06, "β̂ = {} vs {truth}", fit.beta);
        assert_eq!(
            fit.lags_used.len(),
            stats.lags.iter().filter(|l| l.lag >= 4).count(),
            "every lag resolved"
        );
        assert!(!fit.warnings.iter().any(|w| w.contains("broken")), "{:?}", fit.warnings);
        // Prediction with a known γ propagates both errors.
        let p = predict_from_correlations(fit.beta, (hi - lo) / 2.0, 0.3, 0.01, "given").unwrap();
        assert!((p.alpha_d - 0.15 / fit.beta).abs() < 1e-12 && p.alpha_d_err > 0.0);
    }
}

#[test]
fn independent_tokens_have_no_resolved_lag() {
    let mut rng = ChaCha12Rng::seed_from_u64(4);
    let tokens: Vec<u32> =
        (0..1_000_000).map(|_| rand::Rng::random_range(&mut rng, 0..50u32)).collect();
    let opts = corr_opts(vec![1, 2, 5, 10, 20]);
    let stats = correlation_decay(&tokens, 50, &opts).unwrap();
    assert!(stats.lags.iter().all(|l| !l.resolved), "{:?}", stats.lags);
    let r = stats.floor.op_norm / stats.floor.rule_of_thumb;
    assert!(
        r > 0.05 && r < 3.0,
        "floor {} vs P^-1/2 {}",
        stats.floor.op_norm,
        stats.floor.rule_of_thumb
    );
    let err = fit_correlation_decay(&stats, &opts).unwrap_err().to_string();
    assert!(
        err.contains("0 points but 3 are needed") && err.contains("first unresolved lag Some(1)"),
        "{err}"
    );
}

#[test]
fn broken_power_law_is_flagged() {
    // Hand-made statistics: slope 0.3 up to lag 20, 1.5 beyond.
    let lags = log_spaced_lags(1, 200, 30);
    let stat = |lag: usize| {
        let x = (lag as f64).ln();
        let y = (-3.0 - 0.3 * x - 1.2 * (x - 20f64.ln()).max(0.0)).exp();
        LagStat {
            lag,
            pairs: 1_000_000,
            nnz: 100,
            op_norm: y,
            frob_norm: 1.2 * y,
            resolved: true,
            lanczos_iterations: 5,
            lanczos_converged: true,
            blocks: BlockSums::default(),
        }
    };
    let stats = CorrelationStats {
        tokens: 1_000_000,
        vocab: 10,
        tokens_seen: 10,
        lags: lags.iter().map(|&l| stat(l)).collect(),
        floor: NoiseFloor {
            rule_of_thumb: 1e-3,
            op_norm: 1e-6,
            frob_norm: 1e-6,
            lags: vec![1],
            threshold: 2e-6,
        },
        blocks: 0,
        seconds: 0.0,
    };
    let fit = fit_correlation_decay(&stats, &corr_opts(lags)).unwrap();
    let b = fit.broken.as_ref().unwrap();
    assert!(
        fit.warnings.iter().any(|w| w.contains("broken power law fits better")),
        "{:?}",
        fit.warnings
    );
    assert!(
        (b.beta_low - 0.3).abs() < 0.02
            && (b.beta_high - 1.5).abs() < 0.02
            && (b.break_lag / 20.0 - 1.0).abs() < 0.1,
        "{b:?}"
    );
    // Window sensitivity shows the drift too.
    let first = fit.windows.iter().find(|w| w.hi <= 20).unwrap();
    let last = fit.windows.iter().max_by_key(|w| w.lo).unwrap();
    assert!((first.beta - 0.3).abs() < 0.02 && last.beta > 1.2, "{:?}", fit.windows);
}

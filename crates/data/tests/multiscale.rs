//! Multiscale hidden topics: the exact marginal and lag covariance against long samples,
//! stationarity, the power law of the default configuration, the operator norm against a
//! dense eigensolver, seeding, validation and the build path.

mod common;

use common::{assert_close, manifest_dir, temp_dir};
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use scalinglab_data::{DataBuildConfig, Multiscale, MultiscaleConfig, TokenShard, build_data};

/// The small process of the sampling tests: V = 16, K = 6 (timescales 2..64), q = 4, S = 4.
fn small(seed: u64) -> MultiscaleConfig {
    MultiscaleConfig {
        vocab: 16,
        levels: 6,
        states: 4,
        beta: 0.5,
        support: 4,
        background: 0.1,
        seed,
    }
}

/// `tokens` tokens of `model` from `seed`, streamed in chunks: unigram counts and, for each
/// lag, the counts of pairs `(x_t, x_{t+lag})` (row-major `V × V`) over `t < tokens − lag`.
fn count_pairs(
    model: &Multiscale,
    seed: u64,
    tokens: usize,
    lags: &[usize],
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let v = model.config().vocab;
    let max_lag = lags.iter().copied().max().unwrap_or(0);
    let mut stream = model.stream(ChaCha12Rng::seed_from_u64(seed));
    let mut unigram = vec![0f64; v];
    let mut pairs = vec![vec![0f64; v * v]; lags.len()];
    // `window` holds the last `max_lag` tokens of the previous chunk, then the chunk.
    let mut window: Vec<u32> = Vec::new();
    let mut done = 0;
    while done < tokens {
        let len = (tokens - done).min(1 << 20);
        let carried = window.len().min(max_lag);
        window.drain(..window.len() - carried);
        stream.sample_into(len, &mut window);
        for &t in &window[carried..] {
            unigram[t as usize] += 1.0;
        }
        for (joint, &lag) in pairs.iter_mut().zip(lags) {
            // Pairs whose later token is new in this chunk.
            let first = carried.max(lag);
            for i in first..window.len() {
                joint[window[i - lag] as usize * v + window[i] as usize] += 1.0;
            }
        }
        done += len;
    }
    (unigram, pairs)
}

/// Long-run variance of the indicator of each token, `P(1 − P) + 2 Σ_{n ≥ 1} C(n)_aa`
/// (the variance of a frequency over N positions is this over N), from the exact covariances;
/// the tail beyond `16 τ_K` is below `e^−16` of the sum and left out.
fn long_run_variance(model: &Multiscale) -> Vec<f64> {
    let v = model.config().vocab;
    let p = model.marginal();
    let mut out: Vec<f64> = p.iter().map(|p| p * (1.0 - p)).collect();
    for lag in 1..=16usize << model.config().levels {
        let c = model.exact_covariance(lag);
        for (a, o) in out.iter_mut().enumerate() {
            *o += 2.0 * c[a * v + a];
        }
    }
    out
}

#[test]
fn exact_covariance_matches_the_empirical_covariance() {
    // 2^25 tokens. An entry of the empirical covariance is a pair frequency (minus a product of
    // unigram frequencies, whose error is far smaller); its standard error is √(p/N) for
    // independent pairs, and the autocorrelation of the stream inflates the variance by a
    // factor of 1.2 to 1.8 for this process (see `long_run_variance`), so 6 √(p/N) is at
    // least 4.5 true standard errors. The Frobenius norm of the sampling noise is about
    // √(1.6/N) = 2.2e-4 (all entries together), so ‖Ĉ(32)‖_F ≈ √(‖C‖² + 1.6/N) is biased up
    // by about 4% of ‖C(32)‖_F = 7.6e-4; 10% leaves room for that.
    let model = small(3).build().unwrap();
    let v = 16;
    let n_tokens = 1 << 25;
    let lags = [1, 8, 32];
    let (unigram, pairs) = count_pairs(&model, 11, n_tokens, &lags);
    let freq: Vec<f64> = unigram.iter().map(|c| c / n_tokens as f64).collect();
    let marginal = model.marginal();
    for (joint, &lag) in pairs.iter().zip(&lags) {
        let n = (n_tokens - lag) as f64;
        let exact = model.exact_covariance(lag);
        let mut frobenius = 0.0;
        let mut worst: f64 = 0.0;
        for a in 0..v {
            for b in 0..v {
                let empirical = joint[a * v + b] / n - freq[a] * freq[b];
                let c = exact[a * v + b];
                let p = c + marginal[a] * marginal[b];
                let standard_error = (p / n).sqrt();
                worst = worst.max((empirical - c).abs() / standard_error);
                assert!(
                    (empirical - c).abs() <= 6.0 * standard_error,
                    "lag {lag}, ({a}, {b}): empirical {empirical:.3e} vs exact {c:.3e} \
                     (standard error {standard_error:.1e})"
                );
                frobenius += empirical * empirical;
            }
        }
        let frobenius = frobenius.sqrt();
        let exact_frobenius = model.exact_frobenius_norm(lag);
        eprintln!(
            "lag {lag}: ‖C‖_F exact {exact_frobenius:.4e}, empirical {frobenius:.4e}; largest \
             entry error {worst:.2} √(p/N)"
        );
        assert!(
            (frobenius / exact_frobenius - 1.0).abs() < 0.1,
            "lag {lag}: ‖Ĉ‖_F = {frobenius:.4e} vs ‖C‖_F = {exact_frobenius:.4e}"
        );
    }
    // The correlations are there to be measured: lag 1 stands far above lag 32.
    assert!(model.exact_frobenius_norm(1) > 5.0 * model.exact_frobenius_norm(32));
}

#[test]
fn marginal_matches_unigram_frequencies() {
    let model = small(4).build().unwrap();
    let marginal = model.marginal();
    assert_close(marginal.iter().sum::<f64>(), 1.0, 1e-12, "Σ P");
    assert!(marginal.iter().all(|&p| p > 0.0), "the background reaches every token");
    // P = Σ_k w_k m_k, each m_k a distribution.
    let weights = model.weights();
    assert_close(weights.iter().sum::<f64>(), 1.0, 1e-12, "Σ w");
    for k in 1..=6 {
        assert_close(model.level_marginal(k).iter().sum::<f64>(), 1.0, 1e-12, "Σ m_k");
    }
    let n = 1 << 22;
    let tokens = model.sample(n, 5);
    let mut counts = [0f64; 16];
    tokens.iter().for_each(|&t| counts[t as usize] += 1.0);
    // Standard errors from the exact long-run variance (the stream is autocorrelated).
    let lrv = long_run_variance(&model);
    for a in 0..16 {
        let f = counts[a] / n as f64;
        let standard_error = (lrv[a] / n as f64).sqrt();
        assert!(
            (f - marginal[a]).abs() <= 5.0 * standard_error,
            "token {a}: frequency {f} vs P = {} (standard error {standard_error:.1e})",
            marginal[a]
        );
    }
    // The unigram entropy is that of the marginal, below ln V.
    let h: f64 = -marginal.iter().map(|p| p * p.ln()).sum::<f64>();
    assert_close(model.unigram_entropy(), h, 1e-12, "unigram entropy");
    assert!(h < 16f64.ln());
}

#[test]
fn stream_is_stationary_and_aperiodic() {
    let model = small(6).build().unwrap();
    let marginal = model.marginal();
    let lrv = long_run_variance(&model);
    // The frequencies of two sets of positions differ by at most 5 (√(LRV/N₁) + √(LRV/N₂)):
    // a frequency over N positions of any set has variance at most LRV/N (the
    // autocovariances C(n)_aa are all ≥ 0), and the standard deviation of a difference is at
    // most the sum of theirs.
    let compare = |what: &str, first: &[f64], n1: f64, second: &[f64], n2: f64| {
        for a in 0..16 {
            let (f1, f2) = (first[a] / n1, second[a] / n2);
            let tolerance = 5.0 * ((lrv[a] / n1).sqrt() + (lrv[a] / n2).sqrt());
            assert!(
                (f1 - f2).abs() <= tolerance,
                "{what}, token {a}: {f1} vs {f2} (±{tolerance:.1e})"
            );
        }
    };
    let n = 1 << 22;
    let tokens = model.sample(n, 7);
    let count = |it: &mut dyn Iterator<Item = &u32>| {
        let mut c = vec![0f64; 16];
        it.for_each(|&t| c[t as usize] += 1.0);
        c
    };
    let half = n / 2;
    let first = count(&mut tokens[..half].iter());
    let second = count(&mut tokens[half..].iter());
    compare("first vs second half", &first, half as f64, &second, (n - half) as f64);
    let sevens = count(&mut tokens.iter().step_by(7));
    let others = count(&mut tokens.iter().enumerate().filter(|(i, _)| i % 7 != 0).map(|(_, t)| t));
    let n7 = n.div_ceil(7);
    compare("t ≡ 0 mod 7 vs others", &sevens, n7 as f64, &others, (n - n7) as f64);

    // From the very first position: many independent streams, position 0 alone and the first
    // 64 positions (τ_K = 64) pooled, against the exact marginal.
    let streams = 20_000;
    let mut at_zero = [0f64; 16];
    let mut early = [0f64; 16];
    for seed in 0..streams {
        let tokens = model.sample(64, 1_000 + seed);
        at_zero[tokens[0] as usize] += 1.0;
        tokens.iter().for_each(|&t| early[t as usize] += 1.0);
    }
    for a in 0..16 {
        let p = marginal[a];
        let f0 = at_zero[a] / streams as f64;
        let se0 = (p * (1.0 - p) / streams as f64).sqrt();
        assert!((f0 - p).abs() <= 5.0 * se0, "position 0, token {a}: {f0} vs {p}");
        let pooled = (64 * streams) as f64;
        let f = early[a] / pooled;
        let se = (lrv[a] / pooled).sqrt();
        assert!((f - p).abs() <= 5.0 * se, "positions 0..64, token {a}: {f} vs {p}");
    }
}

/// The repository's default configuration, configs/data/multiscale.toml.
fn repository_config() -> scalinglab_data::MultiscaleBuild {
    let path = manifest_dir().join("../../configs/data/multiscale.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let DataBuildConfig::Multiscale(m) = toml::from_str::<DataBuildConfig>(&text).unwrap() else {
        panic!("{} is not a multiscale config", path.display());
    };
    m
}

#[test]
fn default_config_has_the_design_power_law() {
    let config = repository_config().multiscale;
    let model = config.build().unwrap();
    let beta = config.beta;
    let op = |n: usize| model.exact_op_norm(n);
    let slope = |a: usize, b: usize| (op(b) / op(a)).ln() / (b as f64 / a as f64).ln();
    let s = slope(8, 128);
    assert!((s + beta).abs() <= 0.15, "slope over lags 8..128: {s}, design −β = {}", -beta);
    // Octave by octave over 4..256, and resolvable with 4M tokens (‖C‖ ≥ 1/√(4·10^6)).
    for n in [4, 8, 16, 32, 64, 128] {
        let s = slope(n, 2 * n);
        assert!((s + beta).abs() <= 0.15, "slope over lags {n}..{}: {s}", 2 * n);
    }
    for n in 4..=256 {
        assert!(op(n) >= 5e-4, "‖C({n})‖ = {:.3e}", op(n));
    }
    // Beyond τ_K = 2^K the slowest level decays exponentially: 4 τ_K is 10× below τ_K.
    let tau = 1usize << config.levels;
    assert!(op(4 * tau) < op(tau) / 10.0, "{:.3e} vs {:.3e}", op(4 * tau), op(tau));
    // And the operator norm lies between the largest and the sum of the level terms.
    for n in [1, 16, 256, 4096] {
        let terms: Vec<f64> = model
            .covariance_coefficients(n)
            .iter()
            .enumerate()
            .map(|(k, c)| c * level_norm(&model, k + 1))
            .collect();
        let max = terms.iter().cloned().fold(0.0, f64::max);
        let sum: f64 = terms.iter().sum();
        assert!(max * (1.0 - 1e-9) <= op(n) && op(n) <= sum * (1.0 + 1e-9), "lag {n}");
    }
}

/// `‖S_k‖`: the largest eigenvalue of level `k`'s state covariance, densely (Jacobi).
fn level_norm(model: &Multiscale, level: usize) -> f64 {
    let s = level_covariance(model, level);
    largest_abs_eigenvalue(s, model.config().vocab)
}

/// `S_k = (1/q) Σ_z θ_{k,z} θ_{k,z}ᵀ − m_k m_kᵀ`, densely from the supports.
fn level_covariance(model: &Multiscale, level: usize) -> Vec<f64> {
    let c = model.config();
    let (v, q, s) = (c.vocab, c.states, c.support);
    let mut m = vec![0.0; v];
    let mut out = vec![0.0; v * v];
    for z in 0..q {
        let support = model.support(level, z);
        assert_eq!(support.len(), s);
        for &a in support {
            m[a as usize] += 1.0 / (q * s) as f64;
            for &b in support {
                out[a as usize * v + b as usize] += 1.0 / (q * s * s) as f64;
            }
        }
    }
    for a in 0..v {
        for b in 0..v {
            out[a * v + b] -= m[a] * m[b];
        }
    }
    out
}

/// Largest |eigenvalue| of a symmetric `n × n` matrix by cyclic Jacobi rotations (on the
/// matrix scaled to a largest entry of 1, so that tiny covariances do not underflow).
fn largest_abs_eigenvalue(mut a: Vec<f64>, n: usize) -> f64 {
    let scale = a.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
    if scale == 0.0 {
        return 0.0;
    }
    a.iter_mut().for_each(|x| *x /= scale);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        let diag: f64 = (0..n).map(|i| a[i * n + i].powi(2)).sum();
        if off <= 1e-30 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    scale * (0..n).map(|i| a[i * n + i].abs()).fold(0.0, f64::max)
}

/// Frobenius norm, scaled against underflow.
fn frobenius(a: &[f64]) -> f64 {
    let scale = a.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
    if scale == 0.0 {
        return 0.0;
    }
    scale * a.iter().map(|x| (x / scale).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn op_norm_matches_a_dense_eigensolver() {
    let configs = [
        small(1),
        MultiscaleConfig {
            vocab: 96,
            levels: 10,
            states: 8,
            beta: 0.8,
            support: 5,
            background: 0.2,
            seed: 2,
        },
        MultiscaleConfig {
            vocab: 40,
            levels: 3,
            states: 2,
            beta: 1.0,
            support: 7,
            background: 0.0,
            seed: 0,
        },
        MultiscaleConfig {
            vocab: 12,
            levels: 4,
            states: 5,
            beta: 0.3,
            support: 6,
            background: 0.5,
            seed: 0,
        },
    ];
    for config in configs {
        let model = config.build().unwrap();
        let v = config.vocab;
        for lag in [0, 1, 7, 100, 5000] {
            let dense = model.exact_covariance(lag);
            // Symmetric, rows summing to 0, and (lag ≥ 1) Σ_k c_k S_k from the supports.
            for a in 0..v {
                let row_sum: f64 = dense[a * v..(a + 1) * v].iter().sum();
                assert!(row_sum.abs() < 1e-15, "{config:?} lag {lag}: row {a} sums to {row_sum}");
                for b in 0..v {
                    assert_eq!(dense[a * v + b], dense[b * v + a], "symmetric");
                }
            }
            if lag >= 1 {
                let mut expected = vec![0.0; v * v];
                for (k, c) in model.covariance_coefficients(lag).iter().enumerate() {
                    let s = level_covariance(&model, k + 1);
                    expected.iter_mut().zip(s).for_each(|(e, s)| *e += c * s);
                }
                for (x, y) in dense.iter().zip(&expected) {
                    assert!((x - y).abs() < 1e-15, "{config:?} lag {lag}: {x} vs {y}");
                }
            } else {
                let p = model.marginal();
                for a in 0..v {
                    for b in 0..v {
                        let e = if a == b { p[a] } else { 0.0 } - p[a] * p[b];
                        assert!((dense[a * v + b] - e).abs() < 1e-15, "lag 0");
                    }
                }
            }
            let frobenius = frobenius(&dense);
            assert_close(model.exact_frobenius_norm(lag), frobenius, 1e-12 * frobenius, "‖C‖_F");
            let jacobi = largest_abs_eigenvalue(dense, v);
            let lanczos = model.exact_op_norm(lag);
            if jacobi == 0.0 {
                assert!(lanczos.abs() < 1e-18, "{config:?} lag {lag}: {lanczos}");
            } else {
                assert!(
                    (lanczos - jacobi).abs() <= 1e-9 * jacobi,
                    "{config:?} lag {lag}: Lanczos {lanczos:e} vs Jacobi {jacobi:e}"
                );
            }
        }
    }
    // One state, or a support of the whole vocabulary: no hidden information, C(n) = 0 (up to
    // rounding, ~1e-18 here).
    for config in
        [MultiscaleConfig { states: 1, ..small(0) }, MultiscaleConfig { support: 16, ..small(0) }]
    {
        let model = config.build().unwrap();
        assert!(model.exact_op_norm(1) < 1e-15, "{config:?}");
        assert!(model.exact_frobenius_norm(1) < 1e-15, "{config:?}");
    }
}

#[test]
fn weights_supports_and_seeds() {
    let config = MultiscaleConfig { beta: 0.8, background: 0.25, ..small(9) };
    let model = config.build().unwrap();
    let w = model.weights();
    assert_eq!(w.len(), 7);
    assert_eq!(w[0], 0.25);
    assert_close(w[1..].iter().sum::<f64>(), 0.75, 1e-15, "levels share 1 − background");
    for k in 1..6 {
        assert_close(w[k + 1] / w[k], 2f64.powf(-0.4), 1e-14, "w_{k+1}/w_k = 2^(−β/2)");
    }
    for k in 1..=6 {
        assert_eq!(model.timescale(k), (1u64 << k) as f64);
        for z in 0..4 {
            let support = model.support(k, z);
            assert!(support.windows(2).all(|p| p[0] < p[1]), "sorted and distinct: {support:?}");
            assert!(support.iter().all(|&a| a < 16));
        }
    }
    let c = model.covariance_coefficients(10);
    assert_close(c[2], w[3] * w[3] * (1.0 - 0.125f64).powi(10), 1e-17, "c_3(10)");

    // Seeds: the model and the samples.
    assert_eq!(config.build().unwrap(), model, "same seed, same model");
    let other = MultiscaleConfig { seed: 10, ..config.clone() }.build().unwrap();
    assert_ne!(other, model, "another seed, other supports");
    let a = model.sample(500, 1);
    assert_eq!(model.sample(500, 1), a, "same seed, same tokens");
    assert_ne!(model.sample(500, 2), a, "another seed, other tokens");
    assert_ne!(other.sample(500, 1), a, "another model, other tokens");
    // A stream continues across calls: 200 + 300 tokens are the 500 of one call.
    let mut one = model.stream(ChaCha12Rng::seed_from_u64(4));
    let mut whole = Vec::new();
    one.sample_into(500, &mut whole);
    let mut two = model.stream(ChaCha12Rng::seed_from_u64(4));
    let mut parts = vec![7];
    two.sample_into(200, &mut parts);
    two.sample_into(300, &mut parts);
    assert_eq!(parts[0], 7, "appends");
    assert_eq!(parts[1..], whole[..]);
    assert_eq!(two.position(), 500);
    // No background: only support tokens; one state per level and S = 1: each level emits
    // a single token.
    let pure = MultiscaleConfig { background: 0.0, states: 1, support: 1, ..small(0) };
    let m = pure.build().unwrap();
    let allowed: std::collections::HashSet<u32> = (1..=6).map(|k| m.support(k, 0)[0]).collect();
    assert!(m.sample(2000, 0).iter().all(|t| allowed.contains(t)));
}

#[test]
fn validation_errors_name_the_field() {
    let message = |c: MultiscaleConfig| {
        let err = c.validate().unwrap_err();
        assert_eq!(c.build().unwrap_err(), err, "build validates first");
        err.to_string()
    };
    let base = small(0);
    assert_eq!(
        message(MultiscaleConfig { vocab: 1, support: 1, ..base.clone() }),
        "vocab = 1 must be at least 2"
    );
    assert_eq!(
        message(MultiscaleConfig { support: 0, ..base.clone() }),
        "support = 0 must be between 1 and vocab = 16"
    );
    assert_eq!(
        message(MultiscaleConfig { support: 17, ..base.clone() }),
        "support = 17 must be between 1 and vocab = 16"
    );
    assert_eq!(
        message(MultiscaleConfig { levels: 0, ..base.clone() }),
        "levels = 0 must be between 1 and 30"
    );
    assert_eq!(
        message(MultiscaleConfig { levels: 31, ..base.clone() }),
        "levels = 31 must be between 1 and 30"
    );
    assert_eq!(
        message(MultiscaleConfig { states: 0, ..base.clone() }),
        "states = 0 must be at least 1"
    );
    assert_eq!(
        message(MultiscaleConfig { beta: 0.0, ..base.clone() }),
        "beta = 0 must be finite and > 0"
    );
    assert_eq!(
        message(MultiscaleConfig { beta: f64::NAN, ..base.clone() }),
        "beta = NaN must be finite and > 0"
    );
    assert_eq!(
        message(MultiscaleConfig { beta: f64::INFINITY, ..base.clone() }),
        "beta = inf must be finite and > 0"
    );
    assert_eq!(
        message(MultiscaleConfig { background: 1.0, ..base.clone() }),
        "background = 1 must be in [0, 1)"
    );
    assert_eq!(
        message(MultiscaleConfig { background: -0.1, ..base.clone() }),
        "background = -0.1 must be in [0, 1)"
    );
    let e = message(MultiscaleConfig { states: 1 << 25, support: 4, levels: 2, ..base.clone() });
    assert!(e.starts_with("states = 33554432 with levels = 2 and support = 4"), "{e}");
    let e = message(MultiscaleConfig { vocab: 1 << 22, levels: 30, ..base.clone() });
    assert!(e.starts_with("vocab = 4194304 with levels = 30"), "{e}");
    // The limits themselves are accepted.
    MultiscaleConfig { levels: 30, support: 16, background: 0.0, ..base.clone() }
        .validate()
        .unwrap();

    // TOML: background and seed have defaults, a typo is rejected.
    let c: MultiscaleConfig =
        toml::from_str("vocab = 16\nlevels = 6\nstates = 4\nbeta = 0.5\nsupport = 4\n").unwrap();
    assert_eq!(c, small(0));
    let err = toml::from_str::<MultiscaleConfig>(
        "vocab = 16\nlevels = 6\nstates = 4\nbeta = 0.5\nsupport = 4\nbackgroud = 0.2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("backgroud"), "{err}");
}

#[test]
fn multiscale_build_writes_one_stream_per_split() {
    let dir = temp_dir("build-multiscale");
    let config: DataBuildConfig = toml::from_str(
        r#"
kind = "multiscale"
tokens = 150000
validation_tokens = 70000
seed = 4
[multiscale]
vocab = 16
levels = 6
states = 4
beta = 0.5
support = 4
seed = 3
"#,
    )
    .unwrap();
    let mut last_done = 0;
    let mut stages = Vec::new();
    let summary = build_data(&config, &dir, |p| {
        last_done = p.done;
        if stages.last() != Some(&p.stage) {
            stages.push(p.stage.clone());
        }
    })
    .unwrap();
    assert_eq!(stages, ["writing train", "writing validation"]);
    assert_eq!(last_done, 70_000, "progress reaches the end of the last stage");
    assert_eq!(summary.kind, "multiscale");
    assert_eq!(summary.vocab_size, 16);
    assert_eq!((summary.train_tokens, summary.validation_tokens), (150_000, 70_000));
    assert_eq!((summary.train_documents, summary.validation_documents), (1, 1));
    assert_eq!(summary.entropy_rate, None, "no exact entropy rate is known");
    let DataBuildConfig::Multiscale(m) = &config else { unreachable!() };
    assert_eq!(m.multiscale, small(3), "background defaults to 0.1");
    let model = m.multiscale.build().unwrap();
    assert!(summary.notes[0].contains("design beta = 0.5"), "{:?}", summary.notes);
    assert!(summary.notes[0].contains("levels = 6 with timescales 2..64"), "{:?}", summary.notes);
    let entropy = format!("unigram entropy {:.6} nats", model.unigram_entropy());
    assert!(summary.notes[1].starts_with(&entropy), "{:?}", summary.notes);
    assert!(summary.notes[2].contains("single document"), "{:?}", summary.notes);
    assert!(summary.tokens_per_second > 0.0);
    let mut streams = Vec::new();
    for (split, len) in [("train", 150_000), ("validation", 70_000)] {
        let shard = TokenShard::open(&dir.join(format!("{split}.bin"))).unwrap();
        assert_eq!(shard.len(), len);
        assert_eq!(shard.vocab_size(), 16);
        assert_eq!(shard.header().num_documents, 1);
        assert_eq!(shard.header().end_of_text, None);
        assert_eq!(shard.header().entropy_rate, None);
        assert!(shard.header().source.starts_with("multiscale hidden topics: "));
        let tokens = shard.window(0, shard.len());
        assert!(tokens.iter().all(|&t| t < 16));
        streams.push(tokens);
    }
    assert_ne!(streams[0][..1000], streams[1][..1000], "validation is another stream");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    assert_eq!(record["config"]["kind"], "multiscale");
    assert_eq!(record["config"]["multiscale"]["levels"], 6);

    // Zero tokens and the process's errors come through, naming the field.
    let zero: DataBuildConfig = toml::from_str(
        "kind = \"multiscale\"\ntokens = 0\n[multiscale]\nvocab = 16\nlevels = 6\nstates = 4\n\
         beta = 0.5\nsupport = 4\n",
    )
    .unwrap();
    assert_eq!(
        build_data(&zero, &dir, |_| {}).unwrap_err().to_string(),
        "tokens = 0 must be at least 1"
    );
    let bad: DataBuildConfig = toml::from_str(
        "kind = \"multiscale\"\ntokens = 10\n[multiscale]\nvocab = 16\nlevels = 6\nstates = 4\n\
         beta = -1.0\nsupport = 4\n",
    )
    .unwrap();
    let err = build_data(&bad, &dir, |_| {}).unwrap_err().to_string();
    assert_eq!(err, "beta = -1 must be finite and > 0");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn repository_multiscale_config_is_a_valid_default() {
    let m = repository_config();
    m.multiscale.validate().unwrap();
    assert_eq!(m.tokens, 4_194_304);
    assert_eq!(m.validation_tokens, 262_144);
    let c = &m.multiscale;
    assert_eq!((c.levels, c.beta), (12, 0.5));
    let model = c.build().unwrap();
    // The values the file's comments quote.
    assert_close(model.unigram_entropy(), 1.9453, 5e-5, "unigram entropy");
    for (lag, norm) in [(1, 1.19e-2), (16, 3.96e-3), (256, 9.45e-4), (4096, 9.05e-5)] {
        assert_close(model.exact_op_norm(lag), norm, 0.005 * norm, "‖C‖_op");
    }
    let slope = (model.exact_op_norm(256) / model.exact_op_norm(4)).ln() / 64f64.ln();
    assert_close(slope, -0.499, 5e-4, "slope over lags 4..256");
}

//! The power-law copy process against closed forms (a lag-1 copy chain) and against samples.

use scalinglab_data::{CopyBuild, CopyConfig, DataBuildConfig, TokenShard, build_data};

fn cfg(vocab: usize, q: f64, mu: f64, max_lag: usize) -> CopyConfig {
    CopyConfig { vocab, copy_prob: q, exponent: mu, max_lag }
}

#[test]
fn lag_one_copies_match_their_closed_forms() {
    // L_max = 1: x_t = x_{t−1} with probability q. Then ρ(n) = q^n and the entropy rate is the
    // entropy of (q + (1−q)/V, (1−q)/V × (V−1)).
    let (v, q) = (5usize, 0.7);
    let p = cfg(v, q, 1.0, 1).build().unwrap();
    let rho = p.identity_by_descent(6);
    for (n, r) in rho.iter().enumerate() {
        assert!((r - q.powi(n as i32 + 1)).abs() < 1e-12, "ρ({}) = {r}", n + 1);
    }
    let stay = q + (1.0 - q) / v as f64;
    let other = (1.0 - q) / v as f64;
    let exact = -(stay * stay.ln() + (v - 1) as f64 * other * other.ln());
    let (h, se) = p.entropy_rate(200_000, 3);
    assert!((h - exact).abs() < 5.0 * se + 1e-3, "H = {h} ± {se}, exact {exact}");
    let ops = p.exact_op_norms(3);
    assert!((ops[0] - q / v as f64).abs() < 1e-12);
}

#[test]
fn identity_by_descent_matches_samples() {
    let p = cfg(8, 0.9, 0.5, 256).build().unwrap();
    let x = p.sample(2_000_000, 7);
    let v = 8.0;
    let rho = p.identity_by_descent(32);
    for n in [1usize, 4, 32] {
        let pairs = x.len() - n - 256;
        let equal = (256..256 + pairs).filter(|&t| x[t] == x[t + n]).count() as f64 / pairs as f64;
        let est = (equal - 1.0 / v) / (1.0 - 1.0 / v);
        // Pairs are correlated; a generous standard error (×4 of the independent one).
        let se = 4.0 * (equal * (1.0 - equal) / pairs as f64).sqrt() / (1.0 - 1.0 / v);
        assert!(
            (est - rho[n - 1]).abs() < 5.0 * se,
            "n = {n}: sampled {est}, exact {}",
            rho[n - 1]
        );
    }
    // Correlations fall with the lag, and the op norm is ρ/V.
    assert!(rho[0] > rho[3] && rho[3] > rho[31] && rho[31] > 0.0);
    let ops = p.exact_op_norms(32);
    assert!((ops[31] - rho[31] / v).abs() < 1e-15);
    // Every token is uniform.
    let mut counts = [0usize; 8];
    x.iter().for_each(|&t| counts[t as usize] += 1);
    for c in counts {
        let f = c as f64 / x.len() as f64;
        assert!((f - 0.125).abs() < 0.01, "frequency {f}");
    }
}

#[test]
fn the_entropy_rate_error_bar_covers_independent_estimates() {
    // The standard error comes from independent streams, so it describes how far another
    // independent estimate falls: over 8 seeds, the spread of the estimates matches it.
    let p = cfg(8, 0.9, 0.5, 1024).build().unwrap();
    let est: Vec<(f64, f64)> = (0..8).map(|s| p.entropy_rate(64_000, 100 + s)).collect();
    let mean = est.iter().map(|e| e.0).sum::<f64>() / 8.0;
    let sd = (est.iter().map(|e| (e.0 - mean).powi(2)).sum::<f64>() / 7.0).sqrt();
    let se = est.iter().map(|e| e.1).sum::<f64>() / 8.0;
    eprintln!("copy entropy rate: {mean:.4}, spread over seeds {sd:.4}, mean reported se {se:.4}");
    // With 8 seeds the sample sd is within a factor of about 2 of the truth (chi-square, 7 dof).
    assert!(sd < 2.2 * se && sd > 0.35 * se, "spread {sd} against the reported {se}");
}

#[test]
fn context_makes_the_stream_predictable_and_the_build_records_it() {
    let p = cfg(8, 0.9, 0.5, 1024).build().unwrap();
    let (h, se) = p.entropy_rate(100_000, 1);
    assert!(h + 5.0 * se < 8f64.ln() - 0.5, "H∞ = {h} should be far below ln 8");
    let dir = std::env::temp_dir().join(format!("scalinglab-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let recipe = DataBuildConfig::Copy(CopyBuild {
        copy: cfg(8, 0.9, 0.5, 1024),
        tokens: 50_000,
        validation_tokens: 5_000,
        seed: 0,
    });
    let summary = build_data(&recipe, &dir, |_| {}).unwrap();
    let rate = summary.entropy_rate.unwrap();
    assert!((rate - h).abs() < 0.05, "{rate} vs {h}");
    let shard = TokenShard::open(&dir.join("train.bin")).unwrap();
    assert_eq!((shard.len(), shard.vocab_size()), (50_000, 8));
    // JSON keeps the rate to within a unit in the last place.
    let stored = shard.header().entropy_rate.unwrap();
    assert!((stored - rate).abs() <= 1e-15 * rate, "{stored} vs {rate}");
    // It is a Monte Carlo estimate, so the header carries its standard error.
    let se = shard.header().entropy_rate_se.expect("a standard error");
    assert!(se > 0.0 && se < 0.01, "{se}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_fields_are_named() {
    for (c, field) in [
        (cfg(1, 0.5, 0.5, 10), "vocab"),
        (cfg(8, 1.0, 0.5, 10), "copy_prob"),
        (cfg(8, 0.5, 0.0, 10), "exponent"),
        (cfg(8, 0.5, 0.5, 0), "max_lag"),
    ] {
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
    }
}

//! Special functions needed by the estimators: digamma and log-gamma.

/// Digamma `ψ(x)` for `x > 0`: upward recurrence to `x ≥ 10`, then the asymptotic series
/// (absolute error below `1e-12`). Returns NaN for `x ≤ 0` or non-finite `x`.
pub(crate) fn digamma(mut x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return f64::NAN;
    }
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // ln x − 1/(2x) − Σ B_2k / (2k x^2k)
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))));
    acc + x.ln() - 0.5 * inv - series
}

/// `ln Γ(x)` for `x > 0` (Lanczos approximation, g = 7, 9 terms; relative error ~1e-15).
/// Returns NaN for `x ≤ 0` or non-finite `x`.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return f64::NAN;
    }
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let s = (std::f64::consts::PI * x).sin();
        return std::f64::consts::PI.ln() - s.abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = COEF[0];
    let t = x + G + 0.5;
    for (i, c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Grassberger's (2003) `G(n) = ψ(n) + ½ (−1)^n [ψ((n+1)/2) − ψ(n/2)]` for a count `n ≥ 1`.
pub(crate) fn grassberger_g(n: u64) -> f64 {
    let x = n as f64;
    let sign = if n.is_multiple_of(2) { 1.0 } else { -1.0 };
    digamma(x) + 0.5 * sign * (digamma(0.5 * (x + 1.0)) - digamma(0.5 * x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_known_values() {
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-12);
        assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 1e-12);
        // ψ(n + 1) = H_n − γ.
        let h10: f64 = (1..=10).map(|k| 1.0 / k as f64).sum();
        assert!((digamma(11.0) - (h10 - euler)).abs() < 1e-12);
        assert!((digamma(1e6) - (1e6f64.ln() - 0.5e-6)).abs() < 1e-12);
        assert!(digamma(0.0).is_nan() && digamma(-1.0).is_nan());
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!(ln_gamma(1.0).abs() < 1e-13);
        assert!(ln_gamma(2.0).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        let ln_fact_20: f64 = (1..=20).map(|k| (k as f64).ln()).sum();
        assert!((ln_gamma(21.0) - ln_fact_20).abs() < 1e-10);
        assert!((ln_gamma(0.1) - 2.252_712_651_734_206).abs() < 1e-12);
    }

    #[test]
    fn grassberger_g_is_close_to_log_for_large_counts() {
        // G(1) = ψ(1) − ½ (ψ(1) − ψ(½)) = −γ − ln 2.
        let euler = 0.577_215_664_901_532_9;
        assert!((grassberger_g(1) - (-euler - 2f64.ln())).abs() < 1e-12);
        for n in [100u64, 1000, 12345] {
            assert!((grassberger_g(n) - (n as f64).ln()).abs() < 1.5 / n as f64);
        }
    }
}

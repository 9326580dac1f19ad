//! Number formatting shared by reports, plots and the terminal summary.

/// Formats `x` with `sig` significant digits in plain decimal notation when
/// `1e-3 <= |x| < 1e5`, else in scientific notation (`1.28e6`). Non-finite values print as
/// `NaN`, `inf`, `-inf`.
///
/// ```
/// use scalinglab_analysis::format::sig;
/// assert_eq!(sig(0.34012, 3), "0.340");
/// assert_eq!(sig(406.44, 3), "406");
/// assert_eq!(sig(1.7, 3), "1.70");
/// assert_eq!(sig(1.28e6, 3), "1.28e6");
/// ```
pub fn sig(x: f64, sig: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let sig = sig.max(1);
    let ax = x.abs();
    if !(1e-3..1e5).contains(&ax) {
        return sci(x, sig);
    }
    // Round first so that 9.996 with 3 digits becomes 10.0, not 9.100.
    let rounded: f64 = format!("{:.*e}", sig - 1, x).parse().unwrap_or(x);
    let mag = rounded.abs().log10().floor() as i64;
    let decimals = (sig as i64 - 1 - mag).max(0) as usize;
    format!("{rounded:.decimals$}")
}

/// Formats `x` in scientific notation with `sig` significant digits: `1.3e5`, `2.00e-3`.
///
/// ```
/// use scalinglab_analysis::format::sci;
/// assert_eq!(sci(128000.0, 2), "1.3e5");
/// assert_eq!(sci(1.0e9, 3), "1.00e9");
/// ```
pub fn sci(x: f64, sig: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    format!("{:.*e}", sig.max(1) - 1, x)
}

/// Formats an optional interval `[lo, hi]` with `digits` significant digits, or `–` when absent.
pub fn interval(ci: Option<(f64, f64)>, digits: usize) -> String {
    match ci {
        Some((lo, hi)) => format!("[{}, {}]", sig(lo, digits), sig(hi, digits)),
        None => "–".to_string(),
    }
}

/// A compact tick label: plain for `1e-2 <= |v| < 1e4` (at most 3 significant digits, trailing
/// zeros dropped), scientific otherwise (`1e5`, `2.5e6`).
pub fn tick(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let av = v.abs();
    if (1e-2..1e4).contains(&av) {
        let s = sig(v, 3);
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    } else {
        let s = format!("{v:.2e}");
        // "2.50e6" -> "2.5e6", "1.00e5" -> "1e5"
        match s.split_once('e') {
            Some((m, e)) => {
                let m =
                    if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
                format!("{m}e{e}")
            }
            None => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.34012, 3), "0.340");
        assert_eq!(sig(9.996, 3), "10.0");
        assert_eq!(sig(-0.0123456, 2), "-0.012");
        assert_eq!(sig(123456.0, 3), "1.23e5");
        assert_eq!(sig(0.0001234, 3), "1.23e-4");
        assert_eq!(sig(f64::NAN, 3), "NaN");
    }

    #[test]
    fn ticks() {
        assert_eq!(tick(1000.0), "1000");
        assert_eq!(tick(1e5), "1e5");
        assert_eq!(tick(2.5e6), "2.5e6");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(2.25), "2.25");
        assert_eq!(tick(0.5), "0.5");
    }
}

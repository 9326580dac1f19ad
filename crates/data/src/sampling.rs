//! Walker–Vose alias tables: O(1) draws from a fixed discrete distribution.

use rand::Rng;

/// Fill `threshold` and `alias` (both of length `probs.len()`) with an alias table for `probs`.
///
/// A draw picks a column `k` uniformly, then returns `k` with probability `threshold[k]` and
/// `alias[k]` otherwise. `probs` must be non-empty, non-negative and sum to (about) 1; column
/// masses are rescaled by their actual sum, so rounding in the input does not bias the table.
pub(crate) fn build_alias(probs: &[f64], threshold: &mut [f64], alias: &mut [u32]) {
    let n = probs.len();
    debug_assert!(n > 0 && threshold.len() == n && alias.len() == n);
    let total: f64 = probs.iter().sum();
    let scale = n as f64 / total;
    let mut small = Vec::new();
    let mut large = Vec::new();
    for (k, &p) in probs.iter().enumerate() {
        threshold[k] = p * scale;
        alias[k] = k as u32;
        if threshold[k] < 1.0 {
            small.push(k);
        } else {
            large.push(k);
        }
    }
    while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
        small.pop();
        // Column `s` keeps its own mass and borrows the rest from `l`.
        alias[s] = l as u32;
        threshold[l] -= 1.0 - threshold[s];
        if threshold[l] < 1.0 {
            large.pop();
            small.push(l);
        }
    }
    // Whatever is left is 1 up to rounding.
    for k in small.into_iter().chain(large) {
        threshold[k] = 1.0;
    }
}

/// One draw from the alias table (`threshold`, `alias`), as a column index.
#[inline]
pub(crate) fn draw_alias(threshold: &[f64], alias: &[u32], rng: &mut impl Rng) -> usize {
    let k = if threshold.len() == 1 { 0 } else { rng.random_range(0..threshold.len()) };
    if rng.random::<f64>() < threshold[k] { k } else { alias[k] as usize }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    #[test]
    fn alias_table_reproduces_probabilities() {
        let probs = [0.5, 0.1, 0.0, 0.25, 0.15];
        let mut threshold = [0.0; 5];
        let mut alias = [0u32; 5];
        build_alias(&probs, &mut threshold, &mut alias);
        // Exact mass of each outcome implied by the table.
        let mut mass = [0.0; 5];
        for k in 0..5 {
            mass[k] += threshold[k] / 5.0;
            mass[alias[k] as usize] += (1.0 - threshold[k]) / 5.0;
        }
        for k in 0..5 {
            assert!((mass[k] - probs[k]).abs() < 1e-12, "{mass:?}");
        }
        // And empirically.
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        let mut counts = [0usize; 5];
        let draws = 200_000;
        for _ in 0..draws {
            counts[draw_alias(&threshold, &alias, &mut rng)] += 1;
        }
        assert_eq!(counts[2], 0);
        for k in 0..5 {
            assert!((counts[k] as f64 / draws as f64 - probs[k]).abs() < 5e-3);
        }
    }
}

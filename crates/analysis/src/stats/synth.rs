//! Synthetic data with known statistics, for tests, examples and sanity checks.
//!
//! # Power-law correlated tokens ([`PowerLawSource`])
//!
//! The stream is a sequence of documents of `doc_len` tokens. Document `d` has a persistence
//! `ρ_d ∈ [0, 1)`: its first token is drawn from the unigram distribution `π` (Zipf with
//! exponent `zipf` over `vocab` tokens), and each next token repeats the previous one with
//! probability `ρ_d`, else is a fresh draw from `π`. Given `ρ`, tokens `n` apart in a document
//! are equal "by descent" with probability `ρ^n`, so
//!
//! ```text
//! E C(n) = r(n) (diag π − π πᵀ),   r(n) = Σ_d (L_d − n)⁺ ρ_d^n / (P − n)
//! ```
//!
//! exactly ([`SyntheticStream::correlation_factor`]). The `ρ_d` are the quantiles
//! `(d + ½)/D` of a Kumaraswamy(`shape`, `beta`) law (in a random document order), whose
//! moments `E ρ^n = β B(1 + n/shape, β) ∝ n^(−β)` for `n ≫ shape`: the correlations decay as a
//! power law with exponent `beta`. Stratified quantiles remove the document-level sampling
//! noise of the mixture; `ρ_d` is capped at `1 − 1/max_mean_run` so that no document is a
//! handful of runs.
//!
//! # Points on a sphere ([`sphere_points`])
//!
//! Uniform on the unit `d`-sphere `S^d ⊂ R^(d+1)`, mapped into `R^ambient` by a random
//! orthonormal frame: intrinsic dimension `d`.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::error::AnalysisError;
use crate::stats::correlation::AliasTable;
use crate::stats::special::ln_gamma;

/// A source of tokens with power-law correlations (see the module documentation).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PowerLawSource {
    /// Vocabulary size `V`.
    pub vocab: usize,
    /// Zipf exponent of the unigram distribution `π_r ∝ (r + 1)^(−zipf)` (0 = uniform).
    pub zipf: f64,
    /// Correlation exponent `β` (> 0).
    pub beta: f64,
    /// Kumaraswamy shape `a` (> 0); the power law holds for lags `n ≫ a` (default 0.02).
    pub shape: f64,
    /// Tokens per document (default 20 000).
    pub doc_len: usize,
    /// Cap on the mean run length `1/(1 − ρ_d)` (default 2000). Documents made of a few very
    /// long runs carry large sampling noise; the cap bends `r(n)` down only for lags of the
    /// order of the cap, and [`SyntheticStream::correlation_factor`] accounts for it exactly.
    pub max_mean_run: f64,
}

impl Default for PowerLawSource {
    fn default() -> Self {
        PowerLawSource {
            vocab: 16,
            zipf: 1.0,
            beta: 0.5,
            shape: 0.02,
            doc_len: 20_000,
            max_mean_run: 2000.0,
        }
    }
}

/// A generated stream with the persistence of each document.
#[derive(Clone, Debug)]
pub struct SyntheticStream {
    /// The tokens.
    pub tokens: Vec<u32>,
    /// Persistence `ρ_d` of each document, in stream order.
    pub rho: Vec<f64>,
    /// Tokens per document (the last one may be shorter).
    pub doc_len: usize,
    /// The unigram distribution `π`.
    pub unigram: Vec<f64>,
}

impl SyntheticStream {
    /// The exact `r(n)` with `E C(n) = r(n) (diag π − π πᵀ)` (module documentation).
    pub fn correlation_factor(&self, lag: usize) -> f64 {
        let p = self.tokens.len();
        if lag >= p {
            return 0.0;
        }
        let mut s = 0.0;
        for (d, rho) in self.rho.iter().enumerate() {
            let len = self.doc_len.min(p - d * self.doc_len);
            if len > lag {
                s += (len - lag) as f64 * rho.powi(lag as i32);
            }
        }
        s / (p - lag) as f64
    }
}

impl PowerLawSource {
    fn validate(&self) -> Result<(), AnalysisError> {
        let ctx = "PowerLawSource";
        if self.vocab < 2 || self.vocab > u32::MAX as usize {
            return Err(AnalysisError::invalid(
                ctx,
                format!("vocab = {} must be in 2..=2^32-1", self.vocab),
            ));
        }
        for (name, v) in [("beta", self.beta), ("shape", self.shape)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AnalysisError::invalid(
                    ctx,
                    format!("{name} = {v} must be finite and > 0"),
                ));
            }
        }
        if !(self.zipf.is_finite() && self.zipf >= 0.0) {
            return Err(AnalysisError::invalid(
                ctx,
                format!("zipf = {} must be finite and >= 0", self.zipf),
            ));
        }
        if self.max_mean_run.is_nan() || self.max_mean_run < 1.0 {
            return Err(AnalysisError::invalid(
                ctx,
                format!("max_mean_run = {} must be >= 1", self.max_mean_run),
            ));
        }
        if self.doc_len < 2 {
            return Err(AnalysisError::invalid(
                ctx,
                format!("doc_len = {} must be at least 2", self.doc_len),
            ));
        }
        Ok(())
    }

    /// The mixture's moment `E ρ^n = β B(1 + n/a, β)` for an infinite number of documents of
    /// infinite length (asymptotically `β Γ(β) (n/a)^(−β)`): the ideal `r(n)`.
    pub fn ideal_correlation(&self, lag: usize) -> f64 {
        let x = 1.0 + lag as f64 / self.shape;
        self.beta * (ln_gamma(x) + ln_gamma(self.beta) - ln_gamma(x + self.beta)).exp()
    }

    /// The unigram distribution `π`.
    pub fn unigram(&self) -> Vec<f64> {
        let w: Vec<f64> = (0..self.vocab).map(|r| ((r + 1) as f64).powf(-self.zipf)).collect();
        let s: f64 = w.iter().sum();
        w.into_iter().map(|x| x / s).collect()
    }

    /// Generates `len` tokens (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`AnalysisError::InvalidInput`] naming the field when `vocab` is not in `2..2^32`,
    /// `beta` or `shape` is not finite and positive, `zipf` is negative or not finite,
    /// `max_mean_run < 1`, or `doc_len < 2`.
    pub fn generate(&self, len: usize, seed: u64) -> Result<SyntheticStream, AnalysisError> {
        self.validate()?;
        let docs = len.div_ceil(self.doc_len);
        let mut rho: Vec<f64> = (0..docs)
            .map(|d| {
                let u = (d as f64 + 0.5) / docs as f64;
                // Kumaraswamy(a, b) quantile: (1 − (1 − u)^(1/b))^(1/a).
                (1.0 - (1.0 - u).powf(1.0 / self.beta))
                    .powf(1.0 / self.shape)
                    .min(1.0 - 1.0 / self.max_mean_run)
            })
            .collect();
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        rho.shuffle(&mut rng);
        let unigram = self.unigram();
        let table = AliasTable::new(&unigram);
        let mut tokens = Vec::with_capacity(len);
        for (d, &r) in rho.iter().enumerate() {
            let n = self.doc_len.min(len - d * self.doc_len);
            let mut cur = table.sample(&mut rng) as u32;
            tokens.push(cur);
            for _ in 1..n {
                if rng.random::<f64>() >= r {
                    cur = table.sample(&mut rng) as u32;
                }
                tokens.push(cur);
            }
        }
        Ok(SyntheticStream { tokens, rho, doc_len: self.doc_len, unigram })
    }
}

/// One standard normal draw (Box–Muller).
pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` points uniform on the unit `d`-sphere, randomly rotated into `ambient ≥ d + 1` dimensions,
/// row-major `f32`.
///
/// # Errors
///
/// Returns an error when `d = 0` or `ambient ≤ d`.
pub fn sphere_points(
    d: usize,
    ambient: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<f32>, AnalysisError> {
    if d == 0 || ambient <= d {
        return Err(AnalysisError::invalid(
            "sphere_points",
            format!("need 1 <= d < ambient, got d = {d}, ambient = {ambient}"),
        ));
    }
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    // Random orthonormal frame: Gram–Schmidt on Gaussian vectors.
    let mut frame: Vec<Vec<f64>> = Vec::with_capacity(d + 1);
    while frame.len() < d + 1 {
        let mut v: Vec<f64> = (0..ambient).map(|_| normal(&mut rng)).collect();
        for _ in 0..2 {
            for f in &frame {
                let c: f64 = v.iter().zip(f).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(f).for_each(|(a, b)| *a -= c * b);
            }
        }
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if nv > 1e-8 {
            frame.push(v.into_iter().map(|x| x / nv).collect());
        }
    }
    let mut out = Vec::with_capacity(n * ambient);
    let mut row = vec![0.0f64; ambient];
    for _ in 0..n {
        let z: Vec<f64> = (0..=d).map(|_| normal(&mut rng)).collect();
        let nz = z.iter().map(|x| x * x).sum::<f64>().sqrt();
        row.iter_mut().for_each(|x| *x = 0.0);
        for (zi, f) in z.iter().zip(&frame) {
            row.iter_mut().zip(f).for_each(|(r, fv)| *r += zi / nz * fv);
        }
        out.extend(row.iter().map(|&x| x as f32));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_points_lie_on_a_unit_sphere() {
        let p = sphere_points(3, 20, 500, 1).unwrap();
        for r in p.chunks(20) {
            let n: f64 = r.iter().map(|x| f64::from(*x).powi(2)).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
        // Mean near 0 (uniform on the sphere).
        let mean: Vec<f64> =
            (0..20).map(|c| p.chunks(20).map(|r| f64::from(r[c])).sum::<f64>() / 500.0).collect();
        assert!(mean.iter().all(|m| m.abs() < 0.15), "{mean:?}");
        assert!(sphere_points(5, 5, 10, 0).is_err());
    }

    #[test]
    fn power_law_source_basics() {
        let src = PowerLawSource { vocab: 4, doc_len: 1000, ..Default::default() };
        let s = src.generate(10_500, 3).unwrap();
        assert_eq!(s.tokens.len(), 10_500);
        assert_eq!(s.rho.len(), 11);
        assert!(s.tokens.iter().all(|&t| t < 4));
        assert!(s.rho.iter().all(|r| (0.0..1.0).contains(r)));
        assert!((s.unigram.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(s.correlation_factor(1) > s.correlation_factor(10));
        // Stratified documents reproduce the mixture's moments closely (many documents).
        let many = PowerLawSource { vocab: 2, doc_len: 10, ..Default::default() }
            .generate(200_000, 1)
            .unwrap();
        for lag in [1, 5] {
            let ideal = PowerLawSource::default().ideal_correlation(lag) * (10 - lag) as f64 / 10.0;
            assert!((many.correlation_factor(lag) / ideal - 1.0).abs() < 0.02, "lag {lag}");
        }
        assert!((PowerLawSource::default().ideal_correlation(0) - 1.0).abs() < 1e-12);
        assert!(PowerLawSource { beta: 0.0, ..src.clone() }.generate(10, 0).is_err());
        assert!(PowerLawSource { vocab: 1, ..src }.generate(10, 0).is_err());
    }
}

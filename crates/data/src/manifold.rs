//! Regression data on low-dimensional manifolds in a high-dimensional space, with targets of
//! a set Hölder smoothness (Havrilla & Liao 2024: the intrinsic dimension d and the
//! smoothness s set the scaling exponents, `α_D = 2s/(2s + d)`).
//!
//! # Points
//! * [`Manifold::Sphere`] `{ dim: d }`: the unit sphere `S^d ⊂ R^(d+1)`, drawn uniformly as
//!   `g/|g|`, `g ~ N(0, I)`.
//! * [`Manifold::Torus`] `{ dim: d }`: the flat torus `T^d = (S¹)^d ⊂ R^(2d)`, embedded as a
//!   product of unit circles `(cos θ_1, sin θ_1, …, cos θ_d, sin θ_d)` with `θ_i` uniform;
//!   the embedding is an isometry of the flat metric, and every point has norm `√d`.
//!
//! A point `y ∈ R^m` (m = d + 1 or 2d) is placed in the ambient space `R^D` as `x = Q y + ε`,
//! where `Q` is a `D × m` matrix with orthonormal columns, Haar-random (Gram–Schmidt of
//! Gaussian vectors, the Q of a QR factorisation with positive diagonal), and
//! `ε ~ N(0, σ² I_D)` optional noise. `Qᵀ x = y` when σ = 0.
//!
//! # Targets
//! The target is a function of the clean point `y`:
//!
//! ```text
//! f(y) = (Σ_j a_j |⟨w_j, y⟩ − b_j|^s − μ) / τ,
//! ```
//!
//! with `J` terms, `w_j` uniform on the unit sphere of `R^m`, `b_j = ⟨w_j, p_j⟩` for a uniform
//! point `p_j` of the manifold (so each term's kink crosses the manifold), `a_j ~ N(0, 1)`, and
//! `μ`, `τ` the mean and standard deviation of the sum over 4096 reference points (so targets
//! have about zero mean and unit variance).
//!
//! Why the smoothness is exactly s, for `0 < s ≤ 1`: `t ↦ |t|^s` is s-Hölder with constant 1
//! (`||u|^s − |v|^s| ≤ |u − v|^s`) and `y ↦ ⟨w, y⟩ − b` is 1-Lipschitz in the chordal metric,
//! which is at most the geodesic one; so each term, and the sum, is s-Hölder on the manifold.
//! It is no smoother: where the hyperplane `⟨w_j, y⟩ = b_j` crosses the manifold the term
//! grows like `|t|^s` along a transversal geodesic, and the other terms are smooth there
//! (almost surely), so the symmetric difference `f(γ(t)) + f(γ(−t)) − 2f(γ(0))` is of order
//! `t^s`. (Random-feature sums of this kind are the ridge-function analogue of a random
//! Fourier series with decaying coefficients; they are cheaper to evaluate and their
//! smoothness is visible term by term.)
//!
//! # Feeding a transformer
//! [`ManifoldData::encode_tokens`] quantises each of the D coordinates into one of `bins`
//! equal bins over `[−r, r]` (clipped), giving a sequence of D tokens over a vocabulary of
//! `bins` tokens, position i carrying coordinate i; the model regresses the target from the
//! last position with mean squared error. The default range `r` is four standard deviations
//! of a coordinate, `4 √(R²/D + σ²)` (`R² = |y|²`: 1 on the sphere, d on the torus).
//! Quantisation adds an error of standard deviation `(2r/bins)/√12` per coordinate.
//! [`ManifoldData::patches`] cuts the point into patches of `p` real coordinates instead, for
//! a model with a linear input embedding.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::{DataError, MANIFOLD_SAMPLE_STREAM, MANIFOLD_STREAM, derive_seed};

/// Reference points for centring and scaling the target.
const REFERENCE_POINTS: usize = 4096;

/// A manifold in its standard embedding (see the [module docs](self)).
///
/// In TOML: `kind = "sphere"` or `kind = "torus"`, with `dim = d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Manifold {
    /// The unit sphere `S^d ⊂ R^(d+1)`.
    Sphere {
        /// Intrinsic dimension d ≥ 1.
        dim: usize,
    },
    /// The flat torus `T^d ⊂ R^(2d)`, a product of d unit circles.
    Torus {
        /// Intrinsic dimension d ≥ 1.
        dim: usize,
    },
}

impl Manifold {
    /// Intrinsic dimension d.
    pub fn intrinsic_dim(&self) -> usize {
        match *self {
            Manifold::Sphere { dim } | Manifold::Torus { dim } => dim,
        }
    }

    /// Dimension m of the standard embedding: d + 1 for the sphere, 2d for the torus.
    pub fn embedding_dim(&self) -> usize {
        match *self {
            Manifold::Sphere { dim } => dim + 1,
            Manifold::Torus { dim } => 2 * dim,
        }
    }

    /// Squared norm of every embedded point: 1 for the sphere, d for the torus.
    pub fn squared_radius(&self) -> f64 {
        match *self {
            Manifold::Sphere { .. } => 1.0,
            Manifold::Torus { dim } => dim as f64,
        }
    }

    /// Append one uniform point of the manifold, in its standard embedding (m numbers).
    pub fn sample_point(&self, rng: &mut impl Rng, out: &mut Vec<f64>) {
        match *self {
            Manifold::Sphere { dim } => {
                let start = out.len();
                loop {
                    out.truncate(start);
                    out.extend((0..=dim).map(|_| rng.sample::<f64, _>(StandardNormal)));
                    let norm = out[start..].iter().map(|v| v * v).sum::<f64>().sqrt();
                    if norm > 1e-300 {
                        out[start..].iter_mut().for_each(|v| *v /= norm);
                        return;
                    }
                }
            }
            Manifold::Torus { dim } => {
                for _ in 0..dim {
                    let theta = rng.random::<f64>() * std::f64::consts::TAU;
                    out.extend([theta.cos(), theta.sin()]);
                }
            }
        }
    }
}

fn default_terms() -> usize {
    64
}

/// A random Hölder function of the intrinsic point (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderTarget {
    /// Hölder exponent s, in (0, 1].
    pub smoothness: f64,
    /// Number of terms J. Default: 64.
    #[serde(default = "default_terms")]
    pub terms: usize,
}

/// The recipe for a manifold regression data set.
///
/// In TOML:
///
/// ```toml
/// ambient_dim = 64
/// noise_std = 0.0        # optional
/// seed = 1               # optional: the rotation and the target function
/// [manifold]
/// kind = "sphere"
/// dim = 4
/// [target]
/// smoothness = 0.5
/// terms = 64             # optional
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifoldConfig {
    /// The manifold.
    pub manifold: Manifold,
    /// Ambient dimension D ≥ the embedding dimension m.
    pub ambient_dim: usize,
    /// Standard deviation σ of the Gaussian noise added to each ambient coordinate.
    /// Default: 0.
    #[serde(default)]
    pub noise_std: f64,
    /// The target function.
    pub target: HolderTarget,
    /// Seed of the rotation Q and of the target function (samples take their own seed).
    #[serde(default)]
    pub seed: u64,
}

impl ManifoldConfig {
    /// Check the fields without drawing anything.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the field, e.g. `target.smoothness = 1.5 must be in
    /// (0, 1]`: `manifold.dim = 0`, `ambient_dim` below the embedding dimension, a negative or
    /// non-finite `noise_std`, a smoothness outside `(0, 1]`, or `target.terms = 0`.
    pub fn validate(&self) -> Result<(), DataError> {
        let d = self.manifold.intrinsic_dim();
        if d == 0 {
            return Err(DataError::invalid("manifold.dim", d, "must be at least 1"));
        }
        let m = self.manifold.embedding_dim();
        if self.ambient_dim < m {
            return Err(DataError::invalid(
                "ambient_dim",
                self.ambient_dim,
                format!("must be at least the embedding dimension {m} of the manifold"),
            ));
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return Err(DataError::invalid("noise_std", self.noise_std, "must be finite and ≥ 0"));
        }
        let s = self.target.smoothness;
        if !(s > 0.0 && s <= 1.0) {
            return Err(DataError::invalid("target.smoothness", s, "must be in (0, 1]"));
        }
        if self.target.terms == 0 {
            return Err(DataError::invalid("target.terms", 0, "must be at least 1"));
        }
        Ok(())
    }

    /// Draw the rotation and the target function.
    ///
    /// # Errors
    ///
    /// The errors of [`validate`](Self::validate).
    pub fn build(&self) -> Result<ManifoldData, DataError> {
        self.validate()?;
        let (m, big_d) = (self.manifold.embedding_dim(), self.ambient_dim);
        let mut rng = StdRng::seed_from_u64(derive_seed(self.seed, MANIFOLD_STREAM, 0));
        let frame = orthonormal_frame(big_d, m, &mut rng);
        let mut rng = StdRng::seed_from_u64(derive_seed(self.seed, MANIFOLD_STREAM, 1));
        let mut terms = Vec::with_capacity(self.target.terms);
        for _ in 0..self.target.terms {
            let mut direction = Vec::with_capacity(m);
            Manifold::Sphere { dim: m - 1 }.sample_point(&mut rng, &mut direction);
            let mut anchor = Vec::with_capacity(m);
            self.manifold.sample_point(&mut rng, &mut anchor);
            let offset = dot(&direction, &anchor);
            let weight = rng.sample::<f64, _>(StandardNormal);
            terms.push(HolderTerm { weight, direction, offset, anchor });
        }
        let mut data = ManifoldData { config: self.clone(), frame, terms, mean: 0.0, scale: 1.0 };
        let mut rng = StdRng::seed_from_u64(derive_seed(self.seed, MANIFOLD_STREAM, 2));
        let mut y = Vec::with_capacity(m);
        let values: Vec<f64> = (0..REFERENCE_POINTS)
            .map(|_| {
                y.clear();
                self.manifold.sample_point(&mut rng, &mut y);
                data.raw_target(&y)
            })
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        data.mean = mean;
        data.scale = if var > 0.0 { var.sqrt() } else { 1.0 };
        Ok(data)
    }
}

/// One term `a |⟨w, y⟩ − b|^s` of the target, with the point `p` its kink passes through.
#[derive(Clone, Debug, PartialEq)]
pub struct HolderTerm {
    /// The weight a.
    pub weight: f64,
    /// The unit direction w in the embedding space `R^m`.
    pub direction: Vec<f64>,
    /// The offset b = ⟨w, p⟩.
    pub offset: f64,
    /// The manifold point p on the term's kink.
    pub anchor: Vec<f64>,
}

/// Samples of a manifold data set: row-major arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifoldSamples {
    /// Ambient dimension D.
    pub ambient_dim: usize,
    /// Embedding dimension m.
    pub embedding_dim: usize,
    /// `[n, D]`: the points `x = Q y + ε`.
    pub points: Vec<f64>,
    /// `[n, m]`: the clean points `y` in the manifold's standard embedding.
    pub intrinsic: Vec<f64>,
    /// `[n]`: the targets `f(y)`.
    pub targets: Vec<f64>,
}

impl ManifoldSamples {
    /// Number of samples n.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Point i (D numbers).
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn point(&self, i: usize) -> &[f64] {
        &self.points[i * self.ambient_dim..(i + 1) * self.ambient_dim]
    }
}

/// A built manifold data set: the rotation and the target function (see the
/// [module docs](self)).
#[derive(Clone, Debug)]
pub struct ManifoldData {
    config: ManifoldConfig,
    /// The m columns of Q, each of length D.
    frame: Vec<Vec<f64>>,
    terms: Vec<HolderTerm>,
    mean: f64,
    scale: f64,
}

impl ManifoldData {
    /// The configuration it was built from.
    pub fn config(&self) -> &ManifoldConfig {
        &self.config
    }

    /// The m orthonormal columns of Q, each of D numbers.
    pub fn frame(&self) -> &[Vec<f64>] {
        &self.frame
    }

    /// The target's terms.
    pub fn terms(&self) -> &[HolderTerm] {
        &self.terms
    }

    /// `Q y` (D numbers) for a point `y` of the embedding space.
    pub fn embed(&self, y: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0; self.config.ambient_dim];
        for (column, &yi) in self.frame.iter().zip(y) {
            x.iter_mut().zip(column).for_each(|(xk, qk)| *xk += yi * qk);
        }
        x
    }

    /// `Qᵀ x` (m numbers): the inverse rotation of an ambient point.
    pub fn project(&self, x: &[f64]) -> Vec<f64> {
        self.frame.iter().map(|column| dot(column, x)).collect()
    }

    fn raw_target(&self, y: &[f64]) -> f64 {
        let s = self.config.target.smoothness;
        self.terms.iter().map(|t| t.weight * (dot(&t.direction, y) - t.offset).abs().powf(s)).sum()
    }

    /// The target `f(y)` of a point in the standard embedding (centred and scaled).
    pub fn target(&self, y: &[f64]) -> f64 {
        (self.raw_target(y) - self.mean) / self.scale
    }

    /// `n` samples from the stream `seed` (independent of the configuration's seed, so that
    /// training and test sets share Q and f but not points).
    pub fn sample(&self, n: usize, seed: u64) -> ManifoldSamples {
        let (m, big_d) = (self.config.manifold.embedding_dim(), self.config.ambient_dim);
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, MANIFOLD_SAMPLE_STREAM, 0));
        let mut out = ManifoldSamples {
            ambient_dim: big_d,
            embedding_dim: m,
            points: Vec::with_capacity(n * big_d),
            intrinsic: Vec::with_capacity(n * m),
            targets: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let start = out.intrinsic.len();
            self.config.manifold.sample_point(&mut rng, &mut out.intrinsic);
            let y = &out.intrinsic[start..];
            let mut x = self.embed(y);
            if self.config.noise_std > 0.0 {
                for xk in &mut x {
                    *xk += self.config.noise_std * rng.sample::<f64, _>(StandardNormal);
                }
            }
            out.targets.push(self.target(y));
            out.points.extend(x);
        }
        out
    }

    /// The default quantisation range `r = 4 √(R²/D + σ²)` of [`encode_tokens`](Self::encode_tokens).
    pub fn default_range(&self) -> f64 {
        let c = &self.config;
        4.0 * (c.manifold.squared_radius() / c.ambient_dim as f64 + c.noise_std * c.noise_std)
            .sqrt()
    }

    /// Quantise a point into D tokens in `0..bins`: coordinate `x_i` clipped to `[−r, r]`,
    /// token `⌊(x_i + r)/(2r) · bins⌋` (the top edge into the last bin). `range` defaults to
    /// [`default_range`](Self::default_range).
    ///
    /// # Panics
    /// If `bins == 0`.
    pub fn encode_tokens(&self, x: &[f64], bins: usize, range: Option<f64>, out: &mut Vec<u32>) {
        assert!(bins > 0, "encode_tokens needs at least one bin");
        let r = range.unwrap_or_else(|| self.default_range());
        out.extend(x.iter().map(|&v| quantize(v, r, bins)));
    }

    /// The centre of a token's bin, the inverse of [`encode_tokens`](Self::encode_tokens)
    /// up to half a bin width.
    pub fn decode_token(&self, token: u32, bins: usize, range: Option<f64>) -> f64 {
        let r = range.unwrap_or_else(|| self.default_range());
        -r + (token as f64 + 0.5) * (2.0 * r / bins as f64)
    }

    /// Cut a point into patches of `patch` consecutive coordinates (the last one zero-padded),
    /// `⌈D / patch⌉` patches of `patch` numbers, row-major.
    pub fn patches(&self, x: &[f64], patch: usize) -> Vec<f32> {
        let patch = patch.max(1);
        let count = x.len().div_ceil(patch);
        let mut out = vec![0.0f32; count * patch];
        out.iter_mut().zip(x).for_each(|(o, &v)| *o = v as f32);
        out
    }
}

fn quantize(v: f64, r: f64, bins: usize) -> u32 {
    let u = ((v + r) / (2.0 * r)).clamp(0.0, 1.0);
    ((u * bins as f64) as usize).min(bins - 1) as u32
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// m orthonormal vectors in R^D: Gram–Schmidt (twice, for accuracy) of Gaussian vectors,
/// which is Haar-distributed on the Stiefel manifold.
fn orthonormal_frame(big_d: usize, m: usize, rng: &mut StdRng) -> Vec<Vec<f64>> {
    let mut frame: Vec<Vec<f64>> = Vec::with_capacity(m);
    while frame.len() < m {
        let mut v: Vec<f64> = (0..big_d).map(|_| rng.sample(StandardNormal)).collect();
        let original = dot(&v, &v).sqrt();
        for _ in 0..2 {
            for q in &frame {
                let c = dot(q, &v);
                v.iter_mut().zip(q).for_each(|(vk, qk)| *vk -= c * qk);
            }
        }
        let norm = dot(&v, &v).sqrt();
        // A draw (almost) inside the span so far is redrawn.
        if norm > 1e-8 * original {
            v.iter_mut().for_each(|vk| *vk /= norm);
            frame.push(v);
        }
    }
    frame
}

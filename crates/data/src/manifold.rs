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
//! The target is a function of the clean point `y`, of one of two kinds ([`HolderTarget`]),
//! both s-Hölder for `0 < s ≤ 1`, centred and scaled by the mean `μ` and standard deviation
//! `τ` of the raw function over 4096 reference points (so targets have about zero mean and
//! unit variance). They differ in how hard they are to learn, and only the second tests
//! `α_D = 2s/(2s + d)`.
//!
//! ## Ridge sums (`kind = "ridge"`, the default)
//!
//! ```text
//! f(y) = (Σ_j a_j |⟨w_j, y⟩ − b_j|^s − μ) / τ,
//! ```
//!
//! with `J` terms, `w_j` uniform on the unit sphere of `R^m`, `b_j = ⟨w_j, p_j⟩` for a uniform
//! point `p_j` of the manifold (so each term's kink crosses the manifold), and `a_j ~ N(0, 1)`.
//!
//! Why the smoothness is exactly s, for `0 < s ≤ 1`: `t ↦ |t|^s` is s-Hölder with constant 1
//! (`||u|^s − |v|^s| ≤ |u − v|^s`) and `y ↦ ⟨w, y⟩ − b` is 1-Lipschitz in the chordal metric,
//! which is at most the geodesic one; so each term, and the sum, is s-Hölder on the manifold.
//! It is no smoother: where the hyperplane `⟨w_j, y⟩ = b_j` crosses the manifold the term
//! grows like `|t|^s` along a transversal geodesic, and the other terms are smooth there
//! (almost surely), so the symmetric difference `f(γ(t)) + f(γ(−t)) − 2f(γ(0))` is of order
//! `t^s`.
//!
//! **What it predicts: not `2s/(2s + d)`.** Each term is a function of one linear coordinate,
//! so a sum of J ridge functions is a one-dimensional problem J times over: estimators that
//! find the directions (projection pursuit, neural networks) reach the one-dimensional rate
//! `n^(−2s/(2s+1))` whatever d is, `α_D = 2s/(2s + 1)`. Even estimators that only average
//! locally (k nearest neighbours, kernels), which do not see the ridge structure, find it
//! easier than an s-Hölder worst case: the roughness sits on the (d − 1)-dimensional kinks, a
//! fraction `δ` of the manifold within distance `δ` of them, so the mean squared increment
//! over a distance δ is `δ^(2s+1)`, not `δ^(2s)`: the target has smoothness `s + 1/2` in
//! mean square and local averages converge at `α_D = (2s + 1)/(2s + 1 + d)`.
//! [`HolderTarget::minimax_exponent`] and [`HolderTarget::local_average_exponent`] give both.
//!
//! ## Dyadic bumps (`kind = "bumps"`)
//!
//! ```text
//! f(y) = (Σ_{j=0}^{L−1} 2^(−js) Σ_c ε_{j,c} ψ((y − o_j)/ℓ_j − c) − μ) / τ,    ℓ_j = 2^(1−j),
//! ```
//!
//! where level j tiles the embedding space `R^m` with cubes of side `ℓ_j` (2, 1, 1/2, …; cell
//! `c ∈ Z^m`), shifted by a uniform random offset `o_j ∈ [0, ℓ_j)^m`;
//! `ψ(u) = Π_i sin²(π u_i)` on the unit cube `[0, 1)^m` and 0 outside (a bump that vanishes,
//! with its gradient, on the cube's faces); and `ε_{j,c} = ±1` are independent fair signs. The
//! signs are a hash of (seed, level, cell) rather than a table, so a point costs `O(L m)` to
//! evaluate (one cube per level) however many cubes there are, and the function is the
//! restriction to the manifold of a function on `R^m`, so it exists on every manifold kind.
//!
//! Why the smoothness is exactly s, and why the difficulty grows with d:
//! * *s-Hölder.* The level-j term has sup norm `2^(−js)` and Lipschitz constant
//!   `≲ 2^(j(1−s))`. For two points at distance δ, with `ℓ_J ≈ δ`, the levels `j ≤ J` change by
//!   `≲ Σ_{j≤J} 2^(j(1−s)) δ ≈ δ^s` and the levels `j > J` by `≲ Σ_{j>J} 2^(−js) ≈ δ^s` (for
//!   s = 1 the first sum carries a `log(1/δ)`: the Zygmund class). The chordal distance is at
//!   most the geodesic one, so this holds on the manifold.
//! * *No smoother, in mean square either.* Neighbouring cubes have independent signs, so over a
//!   distance `δ ≈ ℓ_j` the level-j term changes by about `2^(−js)` at a fixed fraction of all
//!   points, everywhere on the manifold (the random offsets keep every level's grid from
//!   aligning with the manifold or with the other levels). The mean squared increment is
//!   therefore `≍ δ^(2s)` (the ridge sum's is `δ^(2s+1)`): the smoothness in mean square, which
//!   is what sets regression rates, equals the Hölder smoothness.
//! * *Complexity `2^(jd)` per level.* A d-dimensional manifold meets `≍ 2^(jd)` cubes of side
//!   `ℓ_j` (once `ℓ_j` is below its curvature radius), each with an independent sign. With n
//!   samples and label noise σ, a level-j bump holds about `n 2^(−jd)` samples and is worth
//!   `2^(−js)`, so its sign can be told only while `n 2^(−jd) 2^(−2js) ≳ σ²`: the levels beyond
//!   `2^(j*) ≈ (n/σ²)^(1/(2s+d))` are out of reach of any estimator (Assouad's lemma: this is
//!   the textbook lower-bound construction), costing `Σ_{j>j*} 2^(−2js) ≍
//!   (n/σ²)^(−2s/(2s+d))`. Local averaging with the right bandwidth reaches that rate (for
//!   `s ≤ 1`), so `α_D = 2s/(2s + d)` exactly.
//! * *Coarsest cubes.* The coarsest cubes have the manifold's size (side 2: the unit sphere's
//!   diameter, a circle's of the torus), so that the self-similar range starts at the scale of
//!   the whole manifold. Starting finer puts many independent cubes at the top level, where
//!   learning curves at laptop sample sizes still bend: with cubes of side 1 at the top, k
//!   nearest neighbours measured 0.15–0.18 instead of 0.2 in d = 4.
//! * *Truncation.* Levels beyond `L − 1` are absent, so the rate holds while the resolvable
//!   scale `(n/σ²)^(−1/(2s+d))` is well above the finest cube `ℓ_(L−1) = 2^(2−L)`; with the
//!   default `L = 20` (cubes of `4 · 10^(−6)`) that is every n within reach (for `d = 1` and
//!   `s = 0.5`, n up to about `10^9`). Levels cost nothing to store, so L is capped only at 40,
//!   where cubes reach the resolution of `f64` coordinates.
//! * *Noise.* `2s/(2s + d)` is the rate for labels with noise of variance `σ² > 0`. With
//!   noiseless labels a bump's sign is read off one sample, the levels with `2^(jd) ≲ n` can be
//!   learned, and the information limit is `n^(−2s/d)`: a learner may beat `2s/(2s + d)` on
//!   noiseless data.
//!
//! Why not a random Fourier series on the torus, `Σ_k g_k |k|^(−(s+d/2)) e^(i⟨k, θ⟩)` with
//! Gaussian `g_k`? It is equally honest (a Gaussian process whose Bayes risk is
//! `n^(−2s/(2s+d))`; random phases with fixed moduli would do too), but truncating it at a
//! frequency K leaves `≍ K^d` coefficients to store and to sum at every point, with K growing
//! like `n^(1/(2s+d))`, and it lives on the torus only. A finite sum of randomly chosen plane
//! waves would be cheap but dishonest: a plane wave is a ridge function.
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

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::{DataError, MANIFOLD_SAMPLE_STREAM, MANIFOLD_STREAM, derive_seed, splitmix64};

/// Reference points for centring and scaling the target.
const REFERENCE_POINTS: usize = 4096;

/// A manifold in its standard embedding (see the [module docs](self)).
///
/// In TOML: `kind = "sphere"` or `kind = "torus"`, with `dim = d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

crate::tagged::deserialize_tagged! {
    Manifold, tag = "kind", expecting = "a manifold table with kind = \"sphere\" or \"torus\"",
    Sphere { dim: usize },
    Torus { dim: usize },
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
            Manifold::Sphere { dim } => dim.saturating_add(1),
            Manifold::Torus { dim } => dim.saturating_mul(2),
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

/// Default number of ridge terms J.
pub const DEFAULT_RIDGE_TERMS: usize = 64;
/// Most ridge terms J accepted (each costs `O(m)` per point and `O(m)` memory).
pub const MAX_RIDGE_TERMS: usize = 1 << 16;
/// Default number of bump levels L.
pub const DEFAULT_BUMP_LEVELS: usize = 20;
/// Most bump levels L accepted: cubes finer than `2^(−38)` are below the resolution of `f64`
/// coordinates of size about 1.
pub const MAX_BUMP_LEVELS: usize = 40;
/// Most numbers in the rotation Q (`ambient_dim × embedding dimension`), checked before it is
/// drawn: 2^24, 128 MiB.
pub const MAX_FRAME_ENTRIES: usize = 1 << 24;

/// A random s-Hölder function of the clean point (see the [module docs](self)), of one of two
/// kinds.
///
/// In TOML, a `[target]` table with `kind = "ridge"` (the default when `kind` is absent, so
/// that older configurations keep their meaning) or `kind = "bumps"`:
///
/// ```toml
/// [target]
/// kind = "bumps"     # optional; default "ridge"
/// smoothness = 0.5
/// levels = 20        # optional, bumps only; "terms = 64" is the ridge kind's
/// ```
///
/// A field of the other kind is refused by name, e.g. `target.levels = 20 is a field of
/// kind = "bumps", not of kind = "ridge"`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TargetToml", into = "TargetToml")]
pub enum HolderTarget {
    /// A sum of J ridge functions `a_j |⟨w_j, y⟩ − b_j|^s`: s-Hölder, but learnable at the
    /// one-dimensional rate `2s/(2s + 1)` whatever d (see the [module docs](self)).
    Ridge {
        /// Hölder exponent s, in (0, 1].
        smoothness: f64,
        /// Number of terms J, in `1..=`[`MAX_RIDGE_TERMS`]. Default:
        /// [`DEFAULT_RIDGE_TERMS`] (64).
        terms: usize,
    },
    /// Dyadic bumps with random signs, `Σ_j 2^(−js) Σ_c ε_{j,c} ψ((y − o_j)/ℓ_j − c)` with
    /// cubes of side `ℓ_j = 2^(1−j)`:
    /// s-Hölder, no smoother in mean square, with `≍ 2^(jd)` independent bumps at level j, so
    /// that its regression rate is `2s/(2s + d)` (see the [module docs](self)).
    Bumps {
        /// Hölder exponent s, in (0, 1].
        smoothness: f64,
        /// Number of levels L (cubes of side `2, 1, 1/2, …, 2^(2−L)`), in
        /// `1..=`[`MAX_BUMP_LEVELS`]. Default: [`DEFAULT_BUMP_LEVELS`] (20).
        levels: usize,
    },
}

impl HolderTarget {
    /// A ridge sum of smoothness s with the default number of terms.
    pub fn ridge(smoothness: f64) -> Self {
        HolderTarget::Ridge { smoothness, terms: DEFAULT_RIDGE_TERMS }
    }

    /// Dyadic bumps of smoothness s with the default number of levels.
    pub fn bumps(smoothness: f64) -> Self {
        HolderTarget::Bumps { smoothness, levels: DEFAULT_BUMP_LEVELS }
    }

    /// The Hölder exponent s.
    pub fn smoothness(&self) -> f64 {
        match *self {
            HolderTarget::Ridge { smoothness, .. } | HolderTarget::Bumps { smoothness, .. } => {
                smoothness
            }
        }
    }

    /// The kind's name in TOML: `"ridge"` or `"bumps"`.
    pub fn kind(&self) -> &'static str {
        match self {
            HolderTarget::Ridge { .. } => "ridge",
            HolderTarget::Bumps { .. } => "bumps",
        }
    }

    /// The data exponent `α_D` (test MSE `∝ n^(−α_D)`, labels with noise) of the best
    /// estimators for this kind on a manifold of intrinsic dimension `d`: `2s/(2s + 1)` for
    /// ridge sums, whatever d (estimators that find the directions); `2s/(2s + d)` for bumps.
    pub fn minimax_exponent(&self, d: usize) -> f64 {
        let s = self.smoothness();
        match self {
            HolderTarget::Ridge { .. } => 2.0 * s / (2.0 * s + 1.0),
            HolderTarget::Bumps { .. } => 2.0 * s / (2.0 * s + d as f64),
        }
    }

    /// The data exponent `α_D` of local averages with the best bandwidth (k nearest
    /// neighbours, kernels), which do not look for ridge directions: `2r/(2r + d)` with the
    /// smoothness in mean square `r = s + 1/2` for ridge sums and `r = s` for bumps.
    pub fn local_average_exponent(&self, d: usize) -> f64 {
        let s = match self {
            HolderTarget::Ridge { smoothness, .. } => smoothness + 0.5,
            HolderTarget::Bumps { smoothness, .. } => *smoothness,
        };
        2.0 * s / (2.0 * s + d as f64)
    }
}

/// The kind names of [`HolderTarget`] in TOML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TargetKind {
    #[default]
    Ridge,
    Bumps,
}

/// The `[target]` table as written: every kind's fields, checked against `kind` when
/// converted into a [`HolderTarget`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetToml {
    #[serde(default)]
    kind: TargetKind,
    smoothness: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    terms: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    levels: Option<usize>,
}

impl TryFrom<TargetToml> for HolderTarget {
    type Error = DataError;

    fn try_from(t: TargetToml) -> Result<Self, DataError> {
        let foreign = |field: &str, value: usize, owner: &str, kind: &str| {
            DataError::invalid(
                format!("target.{field}"),
                value,
                format!("is a field of kind = \"{owner}\", not of kind = \"{kind}\""),
            )
        };
        match t.kind {
            TargetKind::Ridge => match t.levels {
                Some(levels) => Err(foreign("levels", levels, "bumps", "ridge")),
                None => Ok(HolderTarget::Ridge {
                    smoothness: t.smoothness,
                    terms: t.terms.unwrap_or(DEFAULT_RIDGE_TERMS),
                }),
            },
            TargetKind::Bumps => match t.terms {
                Some(terms) => Err(foreign("terms", terms, "ridge", "bumps")),
                None => Ok(HolderTarget::Bumps {
                    smoothness: t.smoothness,
                    levels: t.levels.unwrap_or(DEFAULT_BUMP_LEVELS),
                }),
            },
        }
    }
}

impl From<HolderTarget> for TargetToml {
    fn from(t: HolderTarget) -> Self {
        match t {
            HolderTarget::Ridge { smoothness, terms } => {
                TargetToml { kind: TargetKind::Ridge, smoothness, terms: Some(terms), levels: None }
            }
            HolderTarget::Bumps { smoothness, levels } => TargetToml {
                kind: TargetKind::Bumps,
                smoothness,
                terms: None,
                levels: Some(levels),
            },
        }
    }
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
/// kind = "bumps"         # optional: "ridge" (the default) or "bumps"
/// smoothness = 0.5
/// levels = 20            # optional; a ridge target takes `terms = 64` instead
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
    /// The target function, `[target]` in TOML (see [`HolderTarget`]).
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
    /// (0, 1]`: `manifold.dim = 0`, `ambient_dim` below the embedding dimension or so large
    /// that Q would hold more than [`MAX_FRAME_ENTRIES`] numbers, a negative or non-finite
    /// `noise_std`, a smoothness outside `(0, 1]`, `target.terms` outside
    /// `1..=`[`MAX_RIDGE_TERMS`] or `target.levels` outside `1..=`[`MAX_BUMP_LEVELS`].
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
        if self.ambient_dim.checked_mul(m).is_none_or(|entries| entries > MAX_FRAME_ENTRIES) {
            return Err(DataError::invalid(
                "ambient_dim",
                self.ambient_dim,
                format!(
                    "is too large: with the embedding dimension {m} of the manifold, the \
                     rotation would hold more than {MAX_FRAME_ENTRIES} numbers"
                ),
            ));
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return Err(DataError::invalid("noise_std", self.noise_std, "must be finite and ≥ 0"));
        }
        let s = self.target.smoothness();
        if !(s > 0.0 && s <= 1.0) {
            return Err(DataError::invalid("target.smoothness", s, "must be in (0, 1]"));
        }
        match self.target {
            HolderTarget::Ridge { terms, .. } => {
                if terms == 0 {
                    return Err(DataError::invalid("target.terms", 0, "must be at least 1"));
                }
                if terms > MAX_RIDGE_TERMS {
                    return Err(DataError::invalid(
                        "target.terms",
                        terms,
                        format!("must be at most {MAX_RIDGE_TERMS}"),
                    ));
                }
            }
            HolderTarget::Bumps { levels, .. } => {
                if !(1..=MAX_BUMP_LEVELS).contains(&levels) {
                    return Err(DataError::invalid(
                        "target.levels",
                        levels,
                        format!(
                            "must be in 1..={MAX_BUMP_LEVELS} (cubes finer than 2^-{} are below \
                             the resolution of f64 coordinates)",
                            MAX_BUMP_LEVELS - 2
                        ),
                    ));
                }
            }
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
        let mut rng = ChaCha12Rng::seed_from_u64(derive_seed(self.seed, MANIFOLD_STREAM, 0));
        let frame = orthonormal_frame(big_d, m, &mut rng);
        let mut rng = ChaCha12Rng::seed_from_u64(derive_seed(self.seed, MANIFOLD_STREAM, 1));
        let (terms, bumps) = match self.target {
            HolderTarget::Ridge { terms: count, .. } => {
                let mut terms = Vec::with_capacity(count);
                for _ in 0..count {
                    let mut direction = Vec::with_capacity(m);
                    Manifold::Sphere { dim: m - 1 }.sample_point(&mut rng, &mut direction);
                    let mut anchor = Vec::with_capacity(m);
                    self.manifold.sample_point(&mut rng, &mut anchor);
                    let offset = dot(&direction, &anchor);
                    let weight = rng.sample::<f64, _>(StandardNormal);
                    terms.push(HolderTerm { weight, direction, offset, anchor });
                }
                (terms, None)
            }
            HolderTarget::Bumps { smoothness, levels } => {
                (Vec::new(), Some(BumpSeries::draw(smoothness, levels, m, &mut rng)))
            }
        };
        let mut data =
            ManifoldData { config: self.clone(), frame, terms, bumps, mean: 0.0, scale: 1.0 };
        let mut rng = ChaCha12Rng::seed_from_u64(derive_seed(self.seed, MANIFOLD_STREAM, 2));
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

/// The levels of a [`HolderTarget::Bumps`] target: per level j, the cubes per unit length
/// `1/ℓ_j = 2^(j−1)`, the amplitude `2^(−js)`, the grid offset `o_j ∈ [0, ℓ_j)^m` and the seed
/// of its signs.
#[derive(Clone, Debug, PartialEq)]
struct BumpSeries {
    /// `[L]`: cubes per unit length at level j, `2^(j−1)`.
    scales: Vec<f64>,
    /// `[L]`: `2^(−js)`.
    amplitudes: Vec<f64>,
    /// `[L, m]`: the offset of level j's grid.
    offsets: Vec<f64>,
    /// `[L]`: the seed hashed with a cube's coordinates into its sign.
    seeds: Vec<u64>,
    /// The embedding dimension m.
    dim: usize,
}

impl BumpSeries {
    fn draw(s: f64, levels: usize, m: usize, rng: &mut ChaCha12Rng) -> Self {
        let scales: Vec<f64> = (0..levels).map(|j| (j as f64 - 1.0).exp2()).collect();
        let amplitudes = (0..levels).map(|j| (-(j as f64) * s).exp2()).collect();
        let mut offsets = Vec::with_capacity(levels * m);
        let mut seeds = Vec::with_capacity(levels);
        for scale in &scales {
            offsets.extend((0..m).map(|_| rng.random::<f64>() / scale));
            seeds.push(rng.random::<u64>());
        }
        BumpSeries { scales, amplitudes, offsets, seeds, dim: m }
    }

    /// `Σ_j 2^(−js) ε_{j,c} Π_i sin²(π u_i)`, with `c` the cube of level j holding `y` and `u`
    /// the position of `y` in it.
    fn eval(&self, y: &[f64]) -> f64 {
        let m = self.dim;
        let mut total = 0.0;
        for (j, ((&scale, &amplitude), &seed)) in
            self.scales.iter().zip(&self.amplitudes).zip(&self.seeds).enumerate()
        {
            let mut hash = seed;
            let mut bump = 1.0;
            for (&yi, &oi) in y.iter().zip(&self.offsets[j * m..(j + 1) * m]) {
                let u = scale * (yi - oi);
                let cell = u.floor();
                let sine = (std::f64::consts::PI * (u - cell)).sin();
                bump *= sine * sine;
                // `as` saturates: far-away points share the edge cubes' signs.
                hash = splitmix64(hash ^ (cell as i64 as u64));
            }
            total += if hash & 1 == 0 { amplitude * bump } else { -amplitude * bump };
        }
        total
    }
}

/// One term `a |⟨w, y⟩ − b|^s` of a ridge target, with the point `p` its kink passes through.
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
    bumps: Option<BumpSeries>,
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

    /// The terms of a [`HolderTarget::Ridge`] target (none for other kinds).
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
        if let Some(bumps) = &self.bumps {
            return bumps.eval(y);
        }
        let s = self.config.target.smoothness();
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
        let mut rng = ChaCha12Rng::seed_from_u64(derive_seed(seed, MANIFOLD_SAMPLE_STREAM, 0));
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
fn orthonormal_frame(big_d: usize, m: usize, rng: &mut ChaCha12Rng) -> Vec<Vec<f64>> {
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

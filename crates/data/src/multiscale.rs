//! Multiscale hidden topics: a stationary token stream whose lag covariance is known in
//! closed form and decays as a power of the lag, `‖C(n)‖ ~ n^−β`, over a chosen range of
//! scales.
//!
//! # Definition
//! Parameters: vocabulary `V`, levels `K`, states per level `q`, design exponent `β > 0`,
//! support `S` (tokens per state), background weight `w_0` and a seed.
//!
//! * **Hidden states.** Level `k = 1..K` has a state `z_k(t) ∈ {0..q−1}`. `z_k(0)` is
//!   uniform; at every later position, independently of everything else, the state is
//!   redrawn uniformly from `{0..q−1}` with probability `p_k = 2^−k` (it may draw the same
//!   value again) and kept otherwise. The uniform law is stationary for this chain, so the
//!   whole process is stationary from position 0. Level `k` has timescale `τ_k = 1/p_k = 2^k`.
//! * **Emissions.** At each position, independently, a level `k ∈ {0, 1, …, K}` is drawn with
//!   probability `w_k`, then the token `x_t ~ θ_{k, z_k(t)}`. Level 0 has a single state, the
//!   background `θ_0`, uniform over all `V` tokens (i.i.d. noise).
//! * **Weights.** `w_k ∝ 2^(−kβ/2)` for `k ≥ 1`, scaled so that they sum to `1 − w_0`
//!   (`w_0 = background`).
//! * **State distributions.** `θ_{k,z}` is uniform over a random subset of `S` distinct tokens
//!   of `0..V`, drawn for each `(k, z)` from the seed (level `k` from the stream
//!   `derive_seed(seed, ·, k)`).
//!
//! # Exact marginal and lag covariance
//! Write `m_k = (1/q) Σ_z θ_{k,z}` (the law of a level-`k` emission, its state averaged out;
//! `m_0 = θ_0`). The state is uniform at every position, so the marginal is
//!
//! ```text
//! P(a) = Σ_{k=0..K} w_k m_k(a).
//! ```
//!
//! A state survives `n` steps without a redraw with probability `(1 − p_k)^n`; after a redraw
//! it is a fresh uniform draw, independent of the past. Hence
//! `P(z_k(t+n) = j | z_k(t) = i) = (1 − p_k)^n δ_ij + (1 − (1 − p_k)^n)/q`. Now take the
//! joint law of `x_t` and `x_{t+n}`, `n ≥ 1`, and condition on the levels `k` (at `t`) and `l`
//! (at `t + n`) that emitted them; these are independent of each other and of the states.
//! If `k ≠ l`, or either is 0, the two emissions read independent states (different chains,
//! or none), and contribute `w_k w_l m_k(a) m_l(b)`. If `k = l ≥ 1` they read one chain at
//! two times:
//!
//! ```text
//! Σ_{i,j} P(z_k(t) = i, z_k(t+n) = j) θ_{k,i}(a) θ_{k,j}(b)
//!     = (1 − p_k)^n (1/q) Σ_z θ_{k,z}(a) θ_{k,z}(b) + (1 − (1 − p_k)^n) m_k(a) m_k(b).
//! ```
//!
//! Subtracting `P(a) P(b) = Σ_{k,l} w_k w_l m_k(a) m_l(b)` leaves only the surviving
//! same-level pairs:
//!
//! ```text
//! C(n)_ab = P(x_t = a, x_{t+n} = b) − P(a) P(b) = Σ_{k=1..K} w_k² (1 − p_k)^n S_k(a, b),
//! S_k = (1/q) Σ_z θ_{k,z} θ_{k,z}ᵀ − m_k m_kᵀ,
//! ```
//!
//! the covariance matrix of the vector `θ_{k,z}` for a uniform `z` (symmetric, positive
//! semi-definite, rows summing to 0). So every `C(n)`, `n ≥ 1`, is symmetric positive
//! semi-definite, and `‖C(n)‖_op` is its largest eigenvalue. At lag 0 the covariance of a
//! one-hot token is `C(0) = diag(P) − P Pᵀ`, which [`Multiscale::exact_covariance`] returns
//! for `lag = 0`.
//!
//! # The power law
//! With `c_k(n) = w_k² (1 − p_k)^n ≈ w_k² e^(−n/τ_k)` and `w_k² ∝ τ_k^−β`,
//!
//! ```text
//! max_k c_k(n) ‖S_k‖  ≤  ‖C(n)‖_op  ≤  Σ_k c_k(n) ‖S_k‖,
//! Σ_k τ_k^−β e^(−n/τ_k) = n^−β Σ_k (n/τ_k)^β e^(−n/τ_k) ≈ n^−β · (a log-periodic factor),
//! ```
//!
//! for `1 ≪ n ≪ τ_K = 2^K`, the levels' `‖S_k‖` being statistically alike. The decay flattens
//! towards `τ_K` (no slower level is left to take over) and falls off exponentially, as
//! `e^(−n/2^K)`, beyond it. In Cagnetta et al.'s theory of data scaling, `β` is the decay
//! exponent of these stream correlations.
//!
//! How closely `‖C(n)‖_op` follows `n^−β` depends on the draw. Each level's `S_k` has its own
//! random eigenvectors; when they are nearly orthogonal (large `V`, spread-out states),
//! `‖C(n)‖_op` tracks the largest single term rather than the sum, and the local slope
//! wobbles log-periodically (the envelope `max_k τ_k^−β e^(−n/τ_k)` of single terms has local
//! slopes between `−2β ln 2` and `−β ln 2`, `−0.69` to `−0.35` at `β = 0.5`) and with the
//! draw of the `‖S_k‖`. Its size is set by how concentrated the states are:
//! `‖S_k‖` is about `1/(q S)` for spread-out states and at most `1 − 1/q`. With `K = 12`,
//! `β = 0.5`, `V = 64`, `q = 8`, `S = 8` it is only `3·10^−5` at lag 256; with `V = 8`,
//! `q = 4`, `S = 1` (configs/data/multiscale.toml) `9·10^−4`, with a slope of `−0.50` over
//! lags 4..256. Check a configuration with [`Multiscale::exact_op_norm`] (or
//! `cargo run -p scalinglab-data --example multiscale CONFIG`) before relying on it.
//!
//! The exact operator norm ([`Multiscale::exact_op_norm`]) is computed by Lanczos iteration
//! on `C(n)` without forming it: `C(n) x = Σ_k c_k ((1/q) Σ_z θ_{k,z} ⟨θ_{k,z}, x⟩ −
//! m_k ⟨m_k, x⟩)` costs `O(K q S + K V)`.
//!
//! # Entropy rate
//! The stream is a hidden Markov model with `q^K` hidden states; its entropy rate (the best
//! achievable next-token loss) has no known closed form, and none is reported. The unigram
//! entropy `−Σ_a P(a) ln P(a)` ([`Multiscale::unigram_entropy`]) is the loss of a model that
//! ignores context.
//!
//! # Sampling
//! Only the state of the emitting level matters at a position, so states are kept lazily:
//! each level stores its state and the position of its next redraw (a geometric waiting time,
//! `P(wait > g) = (1 − p_k)^g`), and a level whose redraw time has passed when it next emits
//! draws one fresh uniform state (the last of its redraws is all that counts) and a new
//! waiting time from there. This has exactly the law of the definition, at a cost of a few
//! random numbers per token whatever `K`.
//!
//! # As token shards
//! [`crate::build`], kind `multiscale`, writes one stationary stream per split, as one
//! document (no document boundaries, no separator token); the vocabulary of the shard is `V`.
//!
//! # Examples
//!
//! ```
//! use scalinglab_data::MultiscaleConfig;
//!
//! let config = MultiscaleConfig {
//!     vocab: 16, levels: 6, states: 4, beta: 0.5, support: 4, background: 0.1, seed: 1,
//! };
//! let model = config.build()?;
//! assert_eq!(model.weights().len(), 7); // background, then levels 1..=6
//! assert!((model.marginal().iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! // Correlations fall off with the lag, and C(n) is positive semi-definite.
//! let (near, far) = (model.exact_op_norm(1), model.exact_op_norm(64));
//! assert!(near > far && far > 0.0);
//! let tokens = model.sample(1000, 7);
//! assert_eq!(tokens.len(), 1000);
//! assert!(tokens.iter().all(|&t| t < 16));
//! # Ok::<(), scalinglab_data::DataError>(())
//! ```
//!
//! # References
//! * Cagnetta et al. (2026), the correlation route of the analysis crate (`stats::correlation`
//!   and `stats::predict` in `scalinglab-analysis`): data-scaling exponent `α_D = γ/(2β)`, with
//!   `β` the decay exponent of `‖C(n)‖_op`; this process gives a corpus whose `β` is known.
//! * F. Cagnetta and M. Wyart, *Towards a theory of how the structure of language is
//!   acquired by deep neural networks*, NeurIPS 2024 (correlations decaying as a power of the
//!   distance, the [Random Hierarchy Model](crate::hierarchy)).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};

use crate::{DataError, MULTISCALE_SAMPLE_STREAM, MULTISCALE_STREAM, derive_seed, splitmix64};

/// Most levels, `K ≤ 30` (timescales up to `2^30` tokens).
pub const MAX_LEVELS: usize = 30;

/// Largest accepted model, `levels × states × support ≤ 2^26` token slots (256 MiB), and
/// likewise `levels × vocab ≤ 2^26` level marginals (512 MiB).
pub const MAX_MODEL_ENTRIES: u64 = 1 << 26;

fn default_background() -> f64 {
    0.1
}

/// The recipe for one multiscale hidden-topic process (see the [module docs](self)).
///
/// In TOML:
///
/// ```toml
/// vocab = 8           # V: tokens
/// levels = 12         # K: hidden levels, timescales 2, 4, …, 2^K tokens
/// states = 4          # q: states per level
/// beta = 0.5          # β: design exponent of ‖C(n)‖ ~ n^−β
/// support = 1         # S: tokens per state distribution
/// background = 0.1    # optional: weight of uniform i.i.d. noise
/// seed = 0            # optional: the state distributions (samples take their own seed)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiscaleConfig {
    /// Vocabulary V ≥ 2.
    pub vocab: usize,
    /// Hidden levels K, `1..=30`; level `k` keeps its state for `2^k` positions on average.
    pub levels: usize,
    /// States per level q ≥ 1.
    pub states: usize,
    /// Design exponent β > 0: level weights `w_k ∝ 2^(−kβ/2)`, so `‖C(n)‖ ~ n^−β`.
    pub beta: f64,
    /// Tokens S in the support of each state's (uniform) distribution, `1..=vocab`.
    pub support: usize,
    /// Weight `w_0` of the background, uniform i.i.d. tokens, in `[0, 1)`. Default: 0.1.
    #[serde(default = "default_background")]
    pub background: f64,
    /// Seed of the state distributions. Default: 0.
    #[serde(default)]
    pub seed: u64,
}

impl MultiscaleConfig {
    /// Check the fields without drawing anything.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the field, e.g. `support = 9 must be between 1 and vocab
    /// = 8`: `vocab < 2`, `support` outside `1..=vocab`, `levels` outside `1..=30`,
    /// `states = 0`, `beta` not finite and `> 0`, `background` outside `[0, 1)`, and models
    /// larger than [`MAX_MODEL_ENTRIES`].
    pub fn validate(&self) -> Result<(), DataError> {
        let (v, k, q, s) = (self.vocab, self.levels, self.states, self.support);
        if v < 2 {
            return Err(DataError::invalid("vocab", v, "must be at least 2"));
        }
        if s == 0 || s > v {
            return Err(DataError::invalid(
                "support",
                s,
                format!("must be between 1 and vocab = {v}"),
            ));
        }
        if k == 0 || k > MAX_LEVELS {
            return Err(DataError::invalid(
                "levels",
                k,
                format!("must be between 1 and {MAX_LEVELS}"),
            ));
        }
        if q == 0 {
            return Err(DataError::invalid("states", q, "must be at least 1"));
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(DataError::invalid("beta", self.beta, "must be finite and > 0"));
        }
        if !(0.0..1.0).contains(&self.background) {
            return Err(DataError::invalid("background", self.background, "must be in [0, 1)"));
        }
        let slots = k as u128 * q as u128 * s as u128;
        if slots > MAX_MODEL_ENTRIES as u128 {
            return Err(DataError::invalid(
                "states",
                q,
                format!(
                    "with levels = {k} and support = {s} makes levels × states × support = \
                     {slots} token slots, more than 2^26 = {MAX_MODEL_ENTRIES}"
                ),
            ));
        }
        let marginals = k as u128 * v as u128;
        if marginals > MAX_MODEL_ENTRIES as u128 {
            return Err(DataError::invalid(
                "vocab",
                v,
                format!(
                    "with levels = {k} makes levels × vocab = {marginals} level marginals, \
                     more than 2^26 = {MAX_MODEL_ENTRIES}"
                ),
            ));
        }
        Ok(())
    }

    /// Draw the state distributions: level `k` (1-based) from the stream
    /// `derive_seed(seed, ·, k)`.
    ///
    /// # Errors
    ///
    /// The errors of [`validate`](Self::validate).
    pub fn build(&self) -> Result<Multiscale, DataError> {
        self.validate()?;
        let (v, levels, q, s) = (self.vocab, self.levels, self.states, self.support);

        // Weights: background, then 2^(−kβ/2) scaled to share 1 − background.
        let raw: Vec<f64> = (1..=levels).map(|k| (-(k as f64) * self.beta / 2.0).exp2()).collect();
        let total: f64 = raw.iter().sum();
        let mut weights = Vec::with_capacity(levels + 1);
        weights.push(self.background);
        weights.extend(raw.iter().map(|r| (1.0 - self.background) * r / total));
        let mut cumulative: Vec<f64> = weights
            .iter()
            .scan(0.0, |acc, &w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        *cumulative.last_mut().expect("at least one level") = 1.0;

        // Supports: S distinct tokens per (level, state), by Floyd's algorithm, sorted.
        let mut supports = Vec::with_capacity(levels * q * s);
        let mut chosen = vec![false; v];
        for k in 1..=levels {
            let mut rng =
                ChaCha12Rng::seed_from_u64(derive_seed(self.seed, MULTISCALE_STREAM, k as u64));
            for _ in 0..q {
                let start = supports.len();
                for j in (v - s)..v {
                    let t = rng.random_range(0..=j);
                    let pick = if chosen[t] { j } else { t };
                    chosen[pick] = true;
                    supports.push(pick as u32);
                }
                let support = &mut supports[start..];
                support.sort_unstable();
                support.iter().for_each(|&a| chosen[a as usize] = false);
            }
        }

        // Owners: for each token, the (level, state) slots whose support holds it.
        let mut owners_start = vec![0usize; v + 1];
        for &a in &supports {
            owners_start[a as usize + 1] += 1;
        }
        for a in 0..v {
            owners_start[a + 1] += owners_start[a];
        }
        let mut fill = owners_start.clone();
        let mut owners = vec![0u32; supports.len()];
        for (slot, support) in supports.chunks_exact(s).enumerate() {
            for &a in support {
                owners[fill[a as usize]] = slot as u32;
                fill[a as usize] += 1;
            }
        }

        // Level marginals m_k and the marginal P.
        let mass = 1.0 / (q * s) as f64;
        let mut level_marginals = vec![0.0; levels * v];
        for (slot, support) in supports.chunks_exact(s).enumerate() {
            let m = &mut level_marginals[(slot / q) * v..][..v];
            support.iter().for_each(|&a| m[a as usize] += mass);
        }
        let mut marginal = vec![self.background / v as f64; v];
        for (k, m) in level_marginals.chunks_exact(v).enumerate() {
            marginal.iter_mut().zip(m).for_each(|(p, &mk)| *p += weights[k + 1] * mk);
        }

        let inverse_log_keep =
            (1..=levels).map(|k| 1.0 / (-(-(k as f64)).exp2()).ln_1p()).collect();
        Ok(Multiscale {
            config: self.clone(),
            weights,
            cumulative,
            supports,
            owners_start,
            owners,
            level_marginals,
            marginal,
            inverse_log_keep,
        })
    }
}

/// A multiscale hidden-topic process, built by [`MultiscaleConfig::build`] (see the
/// [module docs](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct Multiscale {
    config: MultiscaleConfig,
    /// `w_0` (background), `w_1..w_K`.
    weights: Vec<f64>,
    /// Partial sums of `weights`, the last set to exactly 1.
    cumulative: Vec<f64>,
    /// Support of state `z` of level `k` (1-based): `supports[((k−1)·q + z)·S ..][..S]`, sorted.
    supports: Vec<u32>,
    /// `owners[owners_start[a]..owners_start[a + 1]]`: the slots `(k−1)·q + z` holding `a`.
    owners_start: Vec<usize>,
    owners: Vec<u32>,
    /// `m_k` of level `k` (1-based): `level_marginals[(k−1)·V ..][..V]`.
    level_marginals: Vec<f64>,
    marginal: Vec<f64>,
    /// `1 / ln(1 − p_k)` of level `k` (1-based) at index `k − 1`, for geometric waits.
    inverse_log_keep: Vec<f64>,
}

/// Lanczos stops once the residual of its top Ritz pair is at most this times the Ritz value.
const LANCZOS_TOLERANCE: f64 = 1e-13;

impl Multiscale {
    /// The configuration it was built from.
    pub fn config(&self) -> &MultiscaleConfig {
        &self.config
    }

    /// Emission weights `[w_0, w_1, …, w_K]`: `w_0` the background, `w_k ∝ 2^(−kβ/2)`; they
    /// sum to 1.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Timescale `τ_k = 2^k` of level `k` (`1..=K`), whose state is redrawn with probability
    /// `p_k = 1/τ_k` at each position.
    ///
    /// # Panics
    /// If `level` is 0 or above `K`.
    pub fn timescale(&self, level: usize) -> f64 {
        self.check_level(level);
        (level as f64).exp2()
    }

    /// The `S` tokens (sorted) of state `state` of level `level` (`1..=K`); the state emits
    /// each with probability `1/S`.
    ///
    /// # Panics
    /// If `level` is not in `1..=K` or `state ≥ q`.
    pub fn support(&self, level: usize, state: usize) -> &[u32] {
        self.check_level(level);
        let (q, s) = (self.config.states, self.config.support);
        assert!(state < q, "state {state} is out of range for states = {q}");
        &self.supports[((level - 1) * q + state) * s..][..s]
    }

    /// The law `m_k = (1/q) Σ_z θ_{k,z}` of a level-`k` emission (`1..=K`), the state averaged
    /// out.
    ///
    /// # Panics
    /// If `level` is not in `1..=K`.
    pub fn level_marginal(&self, level: usize) -> &[f64] {
        self.check_level(level);
        let v = self.config.vocab;
        &self.level_marginals[(level - 1) * v..][..v]
    }

    fn check_level(&self, level: usize) {
        let k = self.config.levels;
        assert!((1..=k).contains(&level), "level {level} is out of range 1..={k}");
    }

    /// Exact marginal `P(a) = Σ_k w_k m_k(a)` of every position, `a = 0..V`.
    pub fn marginal(&self) -> Vec<f64> {
        self.marginal.clone()
    }

    /// Entropy of the marginal in nats, `−Σ_a P(a) ln P(a)`: the best loss of a model that
    /// ignores context.
    pub fn unigram_entropy(&self) -> f64 {
        -self.marginal.iter().filter(|&&p| p > 0.0).map(|&p| p * p.ln()).sum::<f64>()
    }

    /// Coefficients `c_k(n) = w_k² (1 − p_k)^n` of `C(n) = Σ_k c_k(n) S_k`, for `k = 1..=K`
    /// (at index `k − 1`).
    pub fn covariance_coefficients(&self, lag: usize) -> Vec<f64> {
        (1..=self.config.levels)
            .map(|k| {
                let w = self.weights[k];
                let p = (-(k as f64)).exp2();
                w * w * (lag as f64 * (-p).ln_1p()).exp()
            })
            .collect()
    }

    /// `out = C(lag) x`, without forming `C`.
    fn apply(&self, lag: usize, coefficients: &[f64], x: &[f64], out: &mut [f64]) {
        let (v, q, s) = (self.config.vocab, self.config.states, self.config.support);
        if lag == 0 {
            let px: f64 = self.marginal.iter().zip(x).map(|(p, x)| p * x).sum();
            for ((o, &p), &xa) in out.iter_mut().zip(&self.marginal).zip(x) {
                *o = p * (xa - px);
            }
            return;
        }
        out.fill(0.0);
        let per_state = 1.0 / (q * s * s) as f64;
        for (k, &c) in coefficients.iter().enumerate() {
            if c == 0.0 {
                continue;
            }
            let scale = c * per_state;
            for support in self.supports[k * q * s..(k + 1) * q * s].chunks_exact(s) {
                let sum: f64 = support.iter().map(|&a| x[a as usize]).sum();
                let add = scale * sum;
                support.iter().for_each(|&a| out[a as usize] += add);
            }
            let m = &self.level_marginals[k * v..][..v];
            let dot: f64 = m.iter().zip(x).map(|(m, x)| m * x).sum();
            let sub = c * dot;
            out.iter_mut().zip(m).for_each(|(o, &m)| *o -= sub * m);
        }
    }

    /// Column (equivalently row) `j` of `C(lag)` into `out`.
    fn column(&self, lag: usize, coefficients: &[f64], j: usize, out: &mut [f64]) {
        let (v, q, s) = (self.config.vocab, self.config.states, self.config.support);
        let pj = self.marginal[j];
        if lag == 0 {
            out.iter_mut().zip(&self.marginal).for_each(|(o, &p)| *o = -pj * p);
            out[j] += pj;
            return;
        }
        out.fill(0.0);
        let per_state = 1.0 / (q * s * s) as f64;
        for &slot in &self.owners[self.owners_start[j]..self.owners_start[j + 1]] {
            let slot = slot as usize;
            let add = coefficients[slot / q] * per_state;
            self.supports[slot * s..][..s].iter().for_each(|&a| out[a as usize] += add);
        }
        for (k, &c) in coefficients.iter().enumerate() {
            let m = &self.level_marginals[k * v..][..v];
            let f = c * m[j];
            if f != 0.0 {
                out.iter_mut().zip(m).for_each(|(o, &m)| *o -= f * m);
            }
        }
    }

    /// Exact lag covariance `C(lag)_ab = P(x_t = a, x_{t+lag} = b) − P(a) P(b)`, row-major
    /// `V × V` (exactly symmetric): `Σ_k w_k² (1 − p_k)^lag S_k` for `lag ≥ 1`,
    /// `diag(P) − P Pᵀ` for `lag = 0`. Allocates `V²` numbers; `O(K V² + K q S²)` time.
    pub fn exact_covariance(&self, lag: usize) -> Vec<f64> {
        let v = self.config.vocab;
        let coefficients = self.covariance_coefficients(lag);
        let mut out = vec![0.0; v * v];
        for (j, row) in out.chunks_exact_mut(v).enumerate() {
            self.column(lag, &coefficients, j, row);
        }
        // Exactly symmetric (the two triangles come from different sums, equal up to rounding).
        for a in 0..v {
            for b in a + 1..v {
                out[b * v + a] = out[a * v + b];
            }
        }
        out
    }

    /// Frobenius norm of [`exact_covariance`](Self::exact_covariance)`(lag)`, computed column
    /// by column in `O(V)` memory.
    pub fn exact_frobenius_norm(&self, lag: usize) -> f64 {
        let v = self.config.vocab;
        let Some((scale, coefficients)) = self.scaled_coefficients(lag) else { return 0.0 };
        let mut column = vec![0.0; v];
        let mut total = 0.0;
        for j in 0..v {
            self.column(lag, &coefficients, j, &mut column);
            total += column.iter().map(|c| c * c).sum::<f64>();
        }
        scale * total.sqrt()
    }

    /// `(s, c / s)`: the coefficients of `C(lag)` divided by the largest, `s` (1 at lag 0,
    /// where they are unused), so that norms of tiny covariances (long lags) do not
    /// underflow; `None` if they are all 0.
    fn scaled_coefficients(&self, lag: usize) -> Option<(f64, Vec<f64>)> {
        let coefficients = self.covariance_coefficients(lag);
        if lag == 0 {
            return Some((1.0, coefficients));
        }
        let scale = coefficients.iter().copied().fold(0.0, f64::max);
        (scale > 0.0).then(|| (scale, coefficients.iter().map(|c| c / scale).collect()))
    }

    /// Operator norm of [`exact_covariance`](Self::exact_covariance)`(lag)`: its largest
    /// eigenvalue (it is positive semi-definite), i.e. its largest |eigenvalue|.
    ///
    /// Lanczos iteration with full reorthogonalisation from a fixed pseudo-random start, on
    /// products `C x` that never form the matrix (`O(K q S + K V)` each); it stops once the
    /// residual of the top Ritz pair is below `10^−13` of the Ritz value, or the Krylov space
    /// is exhausted (at most `rank C + 1 ≤ K (q − 1) + 1` steps in exact arithmetic), so the
    /// relative error is about `10^−13`.
    pub fn exact_op_norm(&self, lag: usize) -> f64 {
        let Some((scale, coefficients)) = self.scaled_coefficients(lag) else { return 0.0 };
        scale
            * largest_eigenvalue(self.config.vocab, |x, out| self.apply(lag, &coefficients, x, out))
    }

    /// A stream of tokens from the stationary law, drawing from `rng`: call
    /// [`MultiscaleStream::sample_into`] as often as needed; the hidden states carry over.
    pub fn stream<R: Rng>(&self, rng: R) -> MultiscaleStream<'_, R> {
        MultiscaleStream::new(self, rng)
    }

    /// `tokens` tokens of one stationary stream from the seed `seed` (independent of the
    /// model's seed).
    pub fn sample(&self, tokens: usize, seed: u64) -> Vec<u32> {
        let rng = ChaCha12Rng::seed_from_u64(derive_seed(seed, MULTISCALE_SAMPLE_STREAM, 0));
        let mut out = Vec::with_capacity(tokens);
        self.stream(rng).sample_into(tokens, &mut out);
        out
    }
}

/// A stationary stream of a [`Multiscale`] process with its hidden state: tokens sampled in
/// several calls of [`sample_into`](Self::sample_into) continue one another.
#[derive(Clone, Debug)]
pub struct MultiscaleStream<'a, R> {
    model: &'a Multiscale,
    rng: R,
    /// The state of each level as of its last emission (or position 0).
    states: Vec<u32>,
    /// Position of each level's next redraw after that.
    next_redraw: Vec<u64>,
    position: u64,
}

impl<'a, R: Rng> MultiscaleStream<'a, R> {
    /// Start a stream at position 0: every level's state uniform (the stationary law), and
    /// its first redraw a geometric wait away.
    pub fn new(model: &'a Multiscale, mut rng: R) -> Self {
        let q = model.config.states as u32;
        let mut states = Vec::with_capacity(model.config.levels);
        let mut next_redraw = Vec::with_capacity(model.config.levels);
        for &inverse_log_keep in &model.inverse_log_keep {
            states.push(rng.random_range(0..q));
            next_redraw.push(geometric(&mut rng, inverse_log_keep));
        }
        MultiscaleStream { model, rng, states, next_redraw, position: 0 }
    }

    /// Tokens sampled so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Append the next `len` tokens of the stream to `out`.
    pub fn sample_into(&mut self, len: usize, out: &mut Vec<u32>) {
        let m = self.model;
        let (v, q, s) = (m.config.vocab as u32, m.config.states, m.config.support);
        out.reserve(len);
        for _ in 0..len {
            let u: f64 = self.rng.random();
            let level = m.cumulative.partition_point(|&c| c <= u);
            let token = if level == 0 {
                self.rng.random_range(0..v)
            } else {
                let k = level - 1;
                if self.next_redraw[k] <= self.position {
                    self.states[k] = self.rng.random_range(0..q as u32);
                    let wait = geometric(&mut self.rng, m.inverse_log_keep[k]);
                    self.next_redraw[k] = self.position.saturating_add(wait);
                }
                let slot = (k * q + self.states[k] as usize) * s;
                let i = if s == 1 { 0 } else { self.rng.random_range(0..s) };
                m.supports[slot + i]
            };
            out.push(token);
            self.position += 1;
        }
    }
}

/// A geometric wait `G ≥ 1`, `P(G > g) = (1 − p)^g`, by inversion; `inverse_log_keep` is
/// `1 / ln(1 − p)`.
#[inline]
fn geometric(rng: &mut impl Rng, inverse_log_keep: f64) -> u64 {
    let u: f64 = rng.random();
    // ln(1 − u) ≤ 0 for u in [0, 1); the cast saturates for huge waits.
    ((-u).ln_1p() * inverse_log_keep) as u64 + 1
}

/// Largest eigenvalue of a symmetric `dim × dim` matrix given by its products, by Lanczos
/// iteration with full reorthogonalisation (see [`Multiscale::exact_op_norm`]).
fn largest_eigenvalue(dim: usize, apply: impl Fn(&[f64], &mut [f64])) -> f64 {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    // A fixed pseudo-random start: almost surely not orthogonal to the top eigenvector.
    let mut q: Vec<f64> = (0..dim as u64)
        .map(|i| (splitmix64(i ^ 0x6c61_6e63_7a6f_7321) >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
        .collect();
    let norm = dot(&q, &q).sqrt();
    q.iter_mut().for_each(|x| *x /= norm);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    let mut w = vec![0.0; dim];
    let mut top = 0.0;
    for step in 0..dim {
        apply(&q, &mut w);
        alpha.push(dot(&q, &w));
        basis.push(q);
        // Classical Gram–Schmidt against the whole basis, twice ("twice is enough").
        for _ in 0..2 {
            for b in &basis {
                let h = dot(b, &w);
                w.iter_mut().zip(b).for_each(|(w, b)| *w -= h * b);
            }
        }
        let b = dot(&w, &w).sqrt();
        let last = step + 1 == dim;
        // Check every step at first, then about 8 times per doubling of the basis.
        if step < 64 || step % (step / 8) == 0 || b == 0.0 || last {
            let (theta, tail) = tridiagonal_top(&alpha, &beta);
            top = theta;
            if b * tail.abs() <= LANCZOS_TOLERANCE * theta.abs() || last {
                return theta;
            }
        }
        beta.push(b);
        q = w.iter().map(|w| w / b).collect();
    }
    top
}

/// The largest eigenvalue of the symmetric tridiagonal matrix with diagonal `alpha` and
/// off-diagonal `beta` (`beta[i]` joins `i` and `i + 1`), and the last component of its unit
/// eigenvector: implicit QL with Wilkinson shifts (`tqli`), rotations applied to the last row
/// of the eigenvector matrix only.
fn tridiagonal_top(alpha: &[f64], beta: &[f64]) -> (f64, f64) {
    let n = alpha.len();
    let mut d = alpha.to_vec();
    let mut e = vec![0.0; n];
    e[..n - 1].copy_from_slice(&beta[..n - 1]);
    let mut z = vec![0.0; n];
    z[n - 1] = 1.0;
    for l in 0..n {
        let mut iterations = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l || iterations == 100 {
                break;
            }
            iterations += 1;
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + if g >= 0.0 { r } else { -r });
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut deflated = false;
            for i in (l..m).rev() {
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                let f = z[i + 1];
                z[i + 1] = s * z[i] + c * f;
                z[i] = c * z[i] - s * f;
            }
            if deflated {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    let top = (0..n).max_by(|&i, &j| d[i].total_cmp(&d[j])).expect("n ≥ 1");
    (d[top], z[top])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tridiagonal_top_of_the_second_difference_matrix() {
        // T = tridiag(−1, 2, −1): eigenvalues 2 − 2 cos(jπ/(n+1)), the largest with
        // eigenvector components ∝ sin(i·nπ/(n+1)).
        for n in [1usize, 2, 3, 10, 50] {
            let alpha = vec![2.0; n];
            let beta = vec![-1.0; n.saturating_sub(1)];
            let (top, tail) = tridiagonal_top(&alpha, &beta);
            let h = std::f64::consts::PI / (n + 1) as f64;
            assert!((top - (2.0 + 2.0 * h.cos())).abs() < 1e-12, "n = {n}: {top}");
            let v: Vec<f64> = (1..=n).map(|i| (i as f64 * n as f64 * h).sin()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((tail.abs() - (v[n - 1] / norm).abs()).abs() < 1e-10, "n = {n}: {tail}");
        }
    }

    #[test]
    fn lanczos_finds_the_top_of_a_diagonal_matrix() {
        let diag: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin().abs()).collect();
        let top = diag.iter().cloned().fold(0.0, f64::max);
        let found = largest_eigenvalue(40, |x, out| {
            out.iter_mut().zip(x).zip(&diag).for_each(|((o, x), d)| *o = d * x)
        });
        assert!((found - top).abs() < 1e-12, "{found} vs {top}");
        assert_eq!(largest_eigenvalue(5, |_, out| out.fill(0.0)), 0.0);
    }

    #[test]
    fn geometric_waits_have_the_right_mean() {
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        for p in [0.5f64, 0.125, 1.0 / 1024.0] {
            let inverse = 1.0 / (-p).ln_1p();
            let n = 200_000;
            let mean = (0..n).map(|_| geometric(&mut rng, inverse) as f64).sum::<f64>() / n as f64;
            // Mean 1/p, standard deviation √(1 − p)/p per draw.
            let tolerance = 5.0 * (1.0 - p).sqrt() / p / (n as f64).sqrt();
            assert!((mean - 1.0 / p).abs() < tolerance, "p = {p}: mean {mean}");
        }
    }
}

//! Intrinsic dimension of a point cloud: Levina–Bickel maximum likelihood (with MacKay and
//! Ghahramani's averaging) and TwoNN (maximum likelihood and Facco et al.'s regression), from
//! exact nearest neighbours, batched as in Havrilla & Liao (SCIENCE.md §2), with calibrated
//! intervals over batches and two diagnostics of what the estimates measure.
//!
//! # Estimators
//!
//! With `T_j(x)` the distance from `x` to its `j`-th nearest neighbour:
//!
//! * Levina–Bickel ([`levina_bickel`]): `m̂_k(x) = [ (1/(k−1)) Σ_{j<k} ln(T_k(x)/T_j(x)) ]^(−1)`;
//!   the batch estimate averages the *inverses* and inverts (MacKay & Ghahramani 2005):
//!   `m̂ = 1 / mean_x m̂_k(x)^(−1)`.
//! * TwoNN, maximum likelihood ([`two_nn`]; Denti et al. 2022, the MLE of Facco et al.'s
//!   model): `μ = T_2/T_1` is Pareto(d), so `d̂ = n / Σ_x ln μ(x)`.
//! * TwoNN, regression ([`two_nn_regression`]; Facco et al. 2017, the published estimator):
//!   with the `μ` sorted and the empirical distribution `F(μ_(i)) = i/n`, the slope through
//!   the origin of `−ln(1 − F(μ))` against `ln μ`, the largest 10% of `μ` discarded.
//!
//! Exactly repeated points are removed before [`intrinsic_dimension`] estimates anything
//! ([`distinct_points`]; identical hidden states would give zero distances); in the estimators
//! themselves a point whose nearest neighbour is at distance 0 is skipped and counted.
//!
//! # Intervals
//!
//! Each batch gives one value of each estimator; [`Spread`] reports their mean with a
//! Student-t interval, `mean ± t_{(1+level)/2, B−1} · sd/√B` over `B` batches
//! ([`student_t_quantile`]), whose nominal level ([`CI_LEVEL`] = 95%) is recorded with it.
//! Batch values are independent (disjoint random batches of independent points) and close to
//! normal (each is an average over thousands of points), which is what the t interval
//! assumes; with two batches it is `mean ± 12.71 · se`, where `± 1.96 · se` would cover only
//! about 70% of the time. One batch has no spread, and then no interval is given. The
//! interval is for the estimator's expectation at the batch size: the estimators' own bias at
//! finite `n` (curvature, boundaries, `k`) is not in it.
//!
//! # What the estimates measure
//!
//! * [`levina_bickel_profile`]: `d̂` as a function of `k`, the scale dependence. On a manifold
//!   it is nearly flat; on a cloud of tight clusters it falls as `k` crosses the cluster size.
//! * [`cluster_diagnostic`]: whether the cloud is made of tight clusters (as hidden states are
//!   when they form one cluster per graph node), in which case Levina–Bickel and TwoNN measure
//!   cluster tightness, not a manifold's dimension. For each point the figure is the share of
//!   the log-range `ln(T_k/T_1)` taken by the largest single gap `ln(T_{j+1}/T_j)`. On any
//!   locally uniform `d`-dimensional set the gaps are independent exponentials with means
//!   `1/(d j)` (Rényi's representation), so the share's distribution does not depend on `d`
//!   (median ≈ 0.39 at `k = 10`, 0.30 at `k = 20`); a jump from within-cluster to
//!   between-cluster distances makes it close to 1.
//!
//! # Distances
//!
//! * [`Metric::Euclidean`].
//! * [`Metric::Cosine`]: the chord distance between the normalised vectors,
//!   `‖x/‖x‖ − y/‖y‖‖ = sqrt(2 (1 − cos θ))`, a metric that is locally proportional to the
//!   angle. (The cosine *dissimilarity* `1 − cos θ` is the square of it up to a factor, and
//!   plugging it into these ratio estimators would halve every estimate.)
//!
//! # Batches
//!
//! Points are shuffled (seeded) and split into batches of about `batch_size` (default 3600,
//! as in the paper); each batch gets its own exact k-NN search and estimates; the mean and
//! spread over batches are reported. `batch_size ≥ n` gives a single batch over all points.
//!
//! # Nearest neighbours
//!
//! Exact, by brute force over each unordered pair once (tiles of 64 points against the tiles
//! after them, in parallel with rayon): squared distances are computed as
//! `‖x‖² + ‖y‖² − 2 x·y` in `f32` with a register-blocked dot-product kernel over tiles that
//! stay in cache, candidates (`k + 4` per point) are kept in small sorted arrays, and the
//! final `k` distances are recomputed exactly in `f64` from the coordinates, which removes
//! the cancellation error of the dot-product form.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use crate::error::AnalysisError;

/// Distance used for nearest neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Euclidean distance.
    Euclidean,
    /// Chord distance between normalised vectors (see the module documentation).
    Cosine,
}

impl Metric {
    /// `euclidean` or `cosine`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Euclidean => "euclidean",
            Metric::Cosine => "cosine",
        }
    }

    /// Parses [`Metric::name`] (case-insensitive; `l2` is also Euclidean).
    ///
    /// # Errors
    ///
    /// [`AnalysisError::InvalidInput`] for an unknown name.
    pub fn parse(s: &str) -> Result<Metric, AnalysisError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "euclidean" | "l2" => Ok(Metric::Euclidean),
            "cosine" => Ok(Metric::Cosine),
            other => Err(AnalysisError::invalid(
                "metric",
                format!("unknown metric {other:?} (expected euclidean or cosine)"),
            )),
        }
    }
}

/// The `k` nearest neighbours of every point (excluding the point itself).
#[derive(Clone, Debug)]
pub struct Neighbours {
    /// Neighbours per point.
    pub k: usize,
    /// Number of points.
    pub n: usize,
    /// Distances, `n × k` row-major, ascending within each row.
    pub dist: Vec<f64>,
    /// Indices of the neighbours, aligned with `dist`.
    pub index: Vec<u32>,
}

impl Neighbours {
    /// Distances of point `i` to its `k` neighbours, ascending.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.dist[i * self.k..(i + 1) * self.k]
    }
}

fn validate_points(points: &[f32], dim: usize, ctx: &str) -> Result<usize, AnalysisError> {
    if dim == 0 {
        return Err(AnalysisError::invalid(ctx, "dim = 0: points need at least one coordinate"));
    }
    if !points.len().is_multiple_of(dim) {
        return Err(AnalysisError::invalid(
            ctx,
            format!("{} values are not a whole number of points of dimension {dim}", points.len()),
        ));
    }
    if let Some(i) = points.iter().position(|v| !v.is_finite()) {
        return Err(AnalysisError::invalid(
            ctx,
            format!(
                "point {} coordinate {} is {} (all coordinates must be finite)",
                i / dim,
                i % dim,
                points[i]
            ),
        ));
    }
    Ok(points.len() / dim)
}

/// Exact `k` nearest neighbours of each of the `n = points.len() / dim` points (row-major
/// `f32`), by `metric` (see the module documentation).
///
/// # Errors
///
/// Returns an error on `dim = 0`, a length that is not a multiple of `dim`, non-finite coordinates,
/// `k = 0`, `n ≤ k`, or (cosine) a zero vector.
pub fn knn(
    points: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
) -> Result<Neighbours, AnalysisError> {
    const CTX: &str = "knn";
    let n = validate_points(points, dim, CTX)?;
    if k == 0 {
        return Err(AnalysisError::invalid(CTX, "k = 0 neighbours"));
    }
    if n <= k {
        return Err(AnalysisError::invalid(
            CTX,
            format!("{n} points are too few for k = {k} neighbours (need at least k + 1)"),
        ));
    }
    let normalised;
    let data: &[f32] = match metric {
        Metric::Euclidean => points,
        Metric::Cosine => {
            let mut v = points.to_vec();
            for (i, row) in v.chunks_exact_mut(dim).enumerate() {
                let norm = row.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
                if norm == 0.0 {
                    return Err(AnalysisError::invalid(
                        CTX,
                        format!("point {i} is the zero vector, which has no cosine distance"),
                    ));
                }
                row.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
            }
            normalised = v;
            &normalised
        }
    };
    Ok(knn_rows(data, dim, n, k))
}

const TILE: usize = 64; // points per tile (a multiple of 4)
const MARGIN: usize = 4;

/// Candidate neighbour lists of every point: `(squared distance, index)`, ascending, at most
/// `cap` each, in one flat array.
struct Candidates {
    cap: usize,
    len: Vec<u32>,
    items: Vec<(f32, u32)>,
}

impl Candidates {
    fn new(n: usize, cap: usize) -> Self {
        Candidates { cap, len: vec![0; n], items: vec![(f32::INFINITY, u32::MAX); n * cap] }
    }

    fn list(&self, p: usize) -> &[(f32, u32)] {
        &self.items[p * self.cap..p * self.cap + self.len[p] as usize]
    }

    /// Inserts `(d2, j)` into the list of point `p` if it is among the `cap` best.
    #[inline]
    fn insert(&mut self, p: usize, d2: f32, j: u32) {
        let cap = self.cap;
        let len = self.len[p] as usize;
        let list = &mut self.items[p * cap..(p + 1) * cap];
        if len == cap && d2 >= list[cap - 1].0 {
            return;
        }
        let pos = list[..len].partition_point(|e| e.0 <= d2);
        let end = len.min(cap - 1);
        list.copy_within(pos..end, pos + 1);
        list[pos] = (d2, j);
        self.len[p] = (len + 1).min(cap) as u32;
    }
}

/// Squared distances of every pair `(q, r)` with `q` in tile `[qs, qe)` and `r` in tile
/// `[rs, re)`, pushed into the candidates of `q` and, off the diagonal, of `r` too (each
/// unordered pair is computed once).
fn tile_pair(
    data: &[f32],
    dim: usize,
    norms: &[f32],
    (qs, qe): (usize, usize),
    (rs, re): (usize, usize),
    acc: &mut Candidates,
) {
    let diagonal = qs == rs;
    let mut dots = [[0f32; 2]; 4];
    let mut qi = qs;
    while qi < qe {
        let g = (qe - qi).min(4);
        let q: [&[f32]; 4] = std::array::from_fn(|t| {
            let row = qi + t.min(g - 1);
            &data[row * dim..(row + 1) * dim]
        });
        let mut r = rs;
        while r < re {
            // Two references at a time (the second repeats the first at an odd end).
            let r1 = (r + 1).min(re - 1);
            dots4x2(q, &data[r * dim..(r + 1) * dim], &data[r1 * dim..(r1 + 1) * dim], &mut dots);
            for (j, rj) in [r, r1].into_iter().enumerate().take(r1 + 1 - r) {
                for (t, dt) in dots.iter().enumerate().take(g) {
                    let qrow = qi + t;
                    if qrow == rj {
                        continue;
                    }
                    let d2 = (norms[qrow] + norms[rj] - 2.0 * dt[j]).max(0.0);
                    acc.insert(qrow, d2, rj as u32);
                    if !diagonal {
                        acc.insert(rj, d2, qrow as u32);
                    }
                }
            }
            r += 2;
        }
        qi += g;
    }
}

fn knn_rows(data: &[f32], dim: usize, n: usize, k: usize) -> Neighbours {
    let norms: Vec<f32> = data.chunks_exact(dim).map(|r| r.iter().map(|x| x * x).sum()).collect();
    let cap = (k + MARGIN).min(n - 1);
    let tiles: Vec<(usize, usize)> = (0..n).step_by(TILE).map(|s| (s, (s + TILE).min(n))).collect();
    // Each unordered pair of tiles once: tile i against tiles j ≥ i. Tiles are dealt to a few
    // groups round-robin (which balances the triangle), each with its own candidate lists,
    // merged at the end.
    let groups = (2 * rayon::current_num_threads()).clamp(1, tiles.len());
    let accs: Vec<Candidates> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let mut acc = Candidates::new(n, cap);
            for i in (g..tiles.len()).step_by(groups) {
                for tj in &tiles[i..] {
                    tile_pair(data, dim, &norms, tiles[i], *tj, &mut acc);
                }
            }
            acc
        })
        .collect();
    // Merge the groups' candidates, recompute the distances exactly, keep the best k.
    let rows: Vec<(Vec<f64>, Vec<u32>)> = (0..n)
        .into_par_iter()
        .map(|p| {
            let q = &data[p * dim..(p + 1) * dim];
            let mut pooled: Vec<(f32, u32)> =
                accs.iter().flat_map(|a| a.list(p).iter().copied()).collect();
            pooled.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut exact: Vec<(f64, u32)> = pooled
                .iter()
                .take(cap)
                .map(|&(_, j)| {
                    let r = &data[j as usize * dim..(j as usize + 1) * dim];
                    let d2: f64 =
                        q.iter().zip(r).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum();
                    (d2.sqrt(), j)
                })
                .collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            exact.truncate(k);
            (exact.iter().map(|e| e.0).collect(), exact.iter().map(|e| e.1).collect())
        })
        .collect();
    let mut dist = Vec::with_capacity(n * k);
    let mut index = Vec::with_capacity(n * k);
    for (d, i) in rows {
        dist.extend(d);
        index.extend(i);
    }
    Neighbours { k, n, dist, index }
}

/// Dot products of four query rows with two reference rows: a 4 × 2 register block with
/// 4-lane accumulators, which the compiler vectorises (eight accumulators and six loads fit
/// the sixteen SSE registers of baseline x86-64).
#[inline]
fn dots4x2(q: [&[f32]; 4], r0: &[f32], r1: &[f32], out: &mut [[f32; 2]; 4]) {
    let mut acc = [[[0f32; 4]; 2]; 4];
    let it = q[0]
        .chunks_exact(4)
        .zip(q[1].chunks_exact(4))
        .zip(q[2].chunks_exact(4))
        .zip(q[3].chunks_exact(4))
        .zip(r0.chunks_exact(4).zip(r1.chunks_exact(4)));
    for ((((x0, x1), x2), x3), (y0, y1)) in it {
        for l in 0..4 {
            acc[0][0][l] += x0[l] * y0[l];
            acc[0][1][l] += x0[l] * y1[l];
            acc[1][0][l] += x1[l] * y0[l];
            acc[1][1][l] += x1[l] * y1[l];
            acc[2][0][l] += x2[l] * y0[l];
            acc[2][1][l] += x2[l] * y1[l];
            acc[3][0][l] += x3[l] * y0[l];
            acc[3][1][l] += x3[l] * y1[l];
        }
    }
    let tail = r0.len() / 4 * 4;
    for t in 0..4 {
        for (j, r) in [r0, r1].iter().enumerate() {
            let mut s: f32 = acc[t][j].iter().sum();
            for (x, y) in q[t][tail..].iter().zip(&r[tail..]) {
                s += x * y;
            }
            out[t][j] = s;
        }
    }
}

/// A local-estimate average and how many points it used.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DimensionEstimate {
    /// The estimate.
    pub value: f64,
    /// Points used.
    pub used: usize,
    /// Points skipped (a zero nearest-neighbour distance).
    pub skipped: usize,
}

/// Levina–Bickel with MacKay–Ghahramani averaging over the first `k` neighbours of each point
/// (`2 ≤ k ≤ nb.k`).
///
/// # Errors
///
/// Returns an error when `k` is out of range or no point is usable.
pub fn levina_bickel(nb: &Neighbours, k: usize) -> Result<DimensionEstimate, AnalysisError> {
    if k < 2 || k > nb.k {
        return Err(AnalysisError::invalid(
            "levina_bickel",
            format!("k = {k} must be in 2..={}", nb.k),
        ));
    }
    let (mut sum_inv, mut used, mut skipped) = (0.0, 0usize, 0usize);
    for i in 0..nb.n {
        let t = &nb.row(i)[..k];
        if t[0].is_nan() || t[0] <= 0.0 {
            skipped += 1;
            continue;
        }
        let lk = t[k - 1].ln();
        let s: f64 = t[..k - 1].iter().map(|tj| lk - tj.ln()).sum();
        sum_inv += s / (k - 1) as f64;
        used += 1;
    }
    if used == 0 || sum_inv.is_nan() || sum_inv <= 0.0 {
        return Err(AnalysisError::invalid(
            "levina_bickel",
            format!(
                "no usable point ({skipped} of {} have a duplicate at distance 0, or all distances are equal)",
                nb.n
            ),
        ));
    }
    Ok(DimensionEstimate { value: used as f64 / sum_inv, used, skipped })
}

/// Levina–Bickel at one neighbourhood size, an entry of [`levina_bickel_profile`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScaleEstimate {
    /// Neighbours used.
    pub k: usize,
    /// The estimate with these `k` neighbours.
    pub estimate: DimensionEstimate,
}

/// Levina–Bickel as a function of the neighbourhood size: one [`levina_bickel`] estimate per
/// entry of `ks` (each in `2..=nb.k`), in the order given. The scale dependence tells a
/// manifold (a nearly flat profile) from tight clusters (the estimate falls as `k` crosses
/// the cluster size; see the module documentation).
///
/// # Errors
///
/// Returns an error naming `ks` when it is empty, naming `ks[i]` when an entry is out of
/// range, or the error of [`levina_bickel`].
pub fn levina_bickel_profile(
    nb: &Neighbours,
    ks: &[usize],
) -> Result<Vec<ScaleEstimate>, AnalysisError> {
    const CTX: &str = "levina_bickel_profile";
    if ks.is_empty() {
        return Err(AnalysisError::invalid(CTX, "ks is empty: give at least one k"));
    }
    if let Some((i, k)) = ks.iter().enumerate().find(|(_, k)| **k < 2 || **k > nb.k) {
        return Err(AnalysisError::invalid(
            CTX,
            format!("ks[{i}] = {k} must be in 2..={} (the neighbours computed)", nb.k),
        ));
    }
    ks.iter().map(|&k| Ok(ScaleEstimate { k, estimate: levina_bickel(nb, k)? })).collect()
}

/// `ln μ = ln(T_2/T_1)` of every point with `T_1 > 0`, and the number skipped.
fn log_mus(nb: &Neighbours, ctx: &str) -> Result<(Vec<f64>, usize), AnalysisError> {
    if nb.k < 2 {
        return Err(AnalysisError::invalid(
            ctx,
            format!("k = {} neighbours per point, needs at least 2", nb.k),
        ));
    }
    let mut out = Vec::with_capacity(nb.n);
    let mut skipped = 0usize;
    for i in 0..nb.n {
        let t = nb.row(i);
        if t[0].is_nan() || t[0] <= 0.0 || t[1].is_nan() {
            skipped += 1;
            continue;
        }
        out.push((t[1] / t[0]).ln());
    }
    Ok((out, skipped))
}

/// TwoNN, maximum likelihood (Denti et al. 2022; the MLE of Facco et al. 2017's Pareto model
/// `μ = T_2/T_1 ~ Pareto(d)`): `d̂ = n / Σ ln(T_2/T_1)` over the `n` points with `T_1 > 0`.
/// (`(n − 1)/Σ` would be unbiased; the two differ by `d/n`.) For the regression Facco et al.
/// published, see [`two_nn_regression`].
///
/// # Errors
///
/// Returns an error when `nb.k < 2` or no point is usable.
pub fn two_nn(nb: &Neighbours) -> Result<DimensionEstimate, AnalysisError> {
    let (lm, skipped) = log_mus(nb, "two_nn")?;
    let s: f64 = lm.iter().sum();
    if lm.is_empty() || s.is_nan() || s <= 0.0 {
        return Err(AnalysisError::invalid(
            "two_nn",
            format!("no usable point ({skipped} of {} are duplicates)", nb.n),
        ));
    }
    Ok(DimensionEstimate { value: lm.len() as f64 / s, used: lm.len(), skipped })
}

/// Fraction of the largest `μ` that [`two_nn_regression`] discards (Facco et al.: 10%).
pub const TWO_NN_DISCARD: f64 = 0.1;

/// TwoNN, linear regression (Facco et al. 2017, *Sci. Rep.* 7, 12140): with the `n` values
/// `μ = T_2/T_1` (points with `T_1 > 0`) sorted ascending and `F(μ_(i)) = i/n`, the slope
/// through the origin of `y = −ln(1 − F(μ))` against `x = ln μ`, `d̂ = Σ x y / Σ x²`, over the
/// smallest `⌊(1 − TWO_NN_DISCARD)·n⌋` values (the largest 10% are discarded, as in the
/// paper). `used` counts all `n` points, which all enter the empirical distribution.
///
/// # Errors
///
/// Returns an error when `nb.k < 2`, fewer than 2 points are left for the fit, or all kept
/// `μ` equal 1.
pub fn two_nn_regression(nb: &Neighbours) -> Result<DimensionEstimate, AnalysisError> {
    const CTX: &str = "two_nn_regression";
    let (mut lm, skipped) = log_mus(nb, CTX)?;
    let n = lm.len();
    let kept = ((1.0 - TWO_NN_DISCARD) * n as f64).floor() as usize;
    if kept < 2 {
        return Err(AnalysisError::invalid(
            CTX,
            format!(
                "{n} usable points ({skipped} of {} are duplicates) leave {kept} after discarding the largest 10% of μ; need at least 2",
                nb.n
            ),
        ));
    }
    lm.sort_by(f64::total_cmp);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, x) in lm[..kept].iter().enumerate() {
        // F = (i + 1)/n, so 1 − F = (n − i − 1)/n > 0 for every kept i.
        let y = -((n - i - 1) as f64 / n as f64).ln();
        sxy += x * y;
        sxx += x * x;
    }
    if sxx.is_nan() || sxx <= 0.0 {
        return Err(AnalysisError::invalid(
            CTX,
            format!("all {kept} kept values of μ = T_2/T_1 equal 1 (ln μ = 0): no slope"),
        ));
    }
    Ok(DimensionEstimate { value: sxy / sxx, used: n, skipped })
}

/// Median gap share of [`cluster_diagnostic`] on the null (locally uniform points), for
/// `k` neighbours: Monte Carlo over the exponential gaps of Rényi's representation, seeded.
/// Cached per `k` (it is the same on every call).
fn null_gap_share_median(k: usize) -> f64 {
    use rand::Rng;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<Vec<(usize, f64)>>> = OnceLock::new();
    const DRAWS: usize = 4001;
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    if let Ok(c) = cache.lock()
        && let Some(&(_, m)) = c.iter().find(|e| e.0 == k)
    {
        return m;
    }
    let mut rng = ChaCha12Rng::seed_from_u64(0x9e37_79b9 ^ k as u64);
    let mut shares: Vec<f64> = (0..DRAWS)
        .map(|_| {
            let (mut sum, mut max) = (0.0f64, 0.0f64);
            for j in 1..k {
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                let g = -u.ln() / j as f64;
                sum += g;
                max = max.max(g);
            }
            max / sum
        })
        .collect();
    shares.sort_by(f64::total_cmp);
    let m = shares[DRAWS / 2];
    if let Ok(mut c) = cache.lock() {
        c.push((k, m));
    }
    m
}

/// Whether a point cloud is made of tight clusters, from [`cluster_diagnostic`].
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClusterDiagnostic {
    /// Neighbours looked at (clusters of up to `k` points are detected).
    pub k: usize,
    /// The figure: the median over points of the share of `ln(T_k/T_1)` taken by the largest
    /// gap `ln(T_{j+1}/T_j)`.
    pub median_gap_share: f64,
    /// The same median on locally uniform points of any dimension (the null, by Monte Carlo).
    pub null_median: f64,
    /// Flagging threshold: half-way from `null_median` to 1.
    pub threshold: f64,
    /// Fraction of points whose largest gap takes more than half of the log-range.
    pub fraction_gapped: f64,
    /// Median over points of the number of neighbours before the largest gap: the typical
    /// cluster size minus one when the cloud is clustered.
    pub median_gap_rank: f64,
    /// `median_gap_share > threshold`: Levina–Bickel and TwoNN then measure how tight the
    /// clusters are, not the dimension of a manifold.
    pub clustered: bool,
    /// Points used.
    pub used: usize,
    /// Points skipped (`T_1 = 0`, or `T_k = T_1`).
    pub skipped: usize,
}

/// Clustered-cloud diagnostic over the first `k` neighbours of each point (`3 ≤ k ≤ nb.k`;
/// see the module documentation): for each point the share of the log-range `ln(T_k/T_1)`
/// taken by the largest single gap `ln(T_{j+1}/T_j)`, and its median over points, compared
/// with the same median on locally uniform points. Flags clouds of tight clusters of fewer
/// than `k` points each; larger clusters need more neighbours.
///
/// # Errors
///
/// Returns an error naming `k` when it is out of range, or when no point is usable.
pub fn cluster_diagnostic(nb: &Neighbours, k: usize) -> Result<ClusterDiagnostic, AnalysisError> {
    const CTX: &str = "cluster_diagnostic";
    if k < 3 || k > nb.k {
        return Err(AnalysisError::invalid(
            CTX,
            format!("k = {k} must be in 3..={} (two gaps at least)", nb.k),
        ));
    }
    let mut shares = Vec::with_capacity(nb.n);
    let mut ranks = Vec::with_capacity(nb.n);
    for i in 0..nb.n {
        let t = &nb.row(i)[..k];
        let range = (t[k - 1] / t[0]).ln();
        if t[0].is_nan() || t[0] <= 0.0 || range.is_nan() || range <= 0.0 {
            continue;
        }
        let (mut best, mut rank) = (0.0f64, 0usize);
        for (j, w) in t.windows(2).enumerate() {
            let g = (w[1] / w[0]).ln();
            if g > best {
                (best, rank) = (g, j + 1);
            }
        }
        shares.push(best / range);
        ranks.push(rank as f64);
    }
    let used = shares.len();
    if used == 0 {
        return Err(AnalysisError::invalid(
            CTX,
            format!(
                "no usable point (all {} have a duplicate at distance 0 or k = {k} equal distances)",
                nb.n
            ),
        ));
    }
    let fraction_gapped = shares.iter().filter(|s| **s > 0.5).count() as f64 / used as f64;
    shares.sort_by(f64::total_cmp);
    ranks.sort_by(f64::total_cmp);
    let median_gap_share = super::quantile_sorted(&shares, 0.5);
    let null_median = null_gap_share_median(k);
    let threshold = 0.5 * (null_median + 1.0);
    Ok(ClusterDiagnostic {
        k,
        median_gap_share,
        null_median,
        threshold,
        fraction_gapped,
        median_gap_rank: super::quantile_sorted(&ranks, 0.5),
        clustered: median_gap_share > threshold,
        used,
        skipped: nb.n - used,
    })
}

/// Indices of the distinct points (the first of each run of exact repeats, ascending): rows
/// with the same coordinates (`−0` = `0`) for [`Metric::Euclidean`], the same normalised
/// coordinates (as [`knn`] computes them) for [`Metric::Cosine`], i.e. the points at distance
/// exactly 0 from an earlier one. Zero vectors are kept as they are (under the cosine metric
/// [`knn`] refuses them).
///
/// # Errors
///
/// Returns an error on malformed points (see [`knn`]).
pub fn distinct_points(
    points: &[f32],
    dim: usize,
    metric: Metric,
) -> Result<Vec<usize>, AnalysisError> {
    let n = validate_points(points, dim, "distinct_points")?;
    let key = |i: usize| -> Vec<u32> {
        let row = &points[i * dim..(i + 1) * dim];
        let norm = match metric {
            Metric::Euclidean => 0.0,
            Metric::Cosine => row.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt(),
        };
        row.iter()
            .map(|&x| {
                let v = if norm > 0.0 { (f64::from(x) / norm) as f32 } else { x };
                // +0.0 folds −0.0 into 0.0.
                (v + 0.0).to_bits()
            })
            .collect()
    };
    let mut seen = std::collections::HashSet::with_capacity(n);
    Ok((0..n).filter(|&i| seen.insert(key(i))).collect())
}

/// Nominal level of the intervals in [`Spread`] (95%).
pub const CI_LEVEL: f64 = 0.95;

/// Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes
/// §6.4), converging fast for `x < (a + 1)/(a + b + 2)`.
fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let fix = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / fix(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=20_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// Regularised incomplete beta `I_x(a, b)`, with `y = 1 − x` given separately (so that
/// neither loses digits to cancellation).
fn incomplete_beta(x: f64, y: f64, a: f64, b: f64) -> f64 {
    use super::special::ln_gamma;
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    let front = (a * x.ln() + b * y.ln() + ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b)).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_continued_fraction(y, b, a) / b
    }
}

/// Upper tail `P(T > t)` of Student's t with `nu` degrees of freedom, `t ≥ 0`.
fn student_t_upper(t: f64, nu: f64) -> f64 {
    let t2 = t * t;
    if !t2.is_finite() {
        return 0.0;
    }
    0.5 * incomplete_beta(nu / (nu + t2), t2 / (nu + t2), 0.5 * nu, 0.5)
}

/// Upper quantile by bisection on [`student_t_upper`], `0 < tail < 0.5`.
fn student_t_upper_quantile(tail: f64, nu: f64) -> f64 {
    let mut hi = 1.0;
    while student_t_upper(hi, nu) > tail && hi < 1e300 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..2000 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if student_t_upper(mid, nu) > tail {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Quantile `t_{p, ν}` of Student's t distribution with `nu` degrees of freedom (`nu > 0`,
/// not necessarily whole): closed forms for `ν = 1` and `ν = 2`, otherwise bisection on the
/// tail `½ I_{ν/(ν+t²)}(ν/2, ½)` (regularised incomplete beta by continued fraction) to
/// machine precision. E.g. `t_{0.975, 1} = 12.706`, `t_{0.975, 30} = 2.042`.
///
/// # Errors
///
/// Returns an error naming `p` unless `0 < p < 1`, or naming `nu` unless it is finite and
/// positive.
pub fn student_t_quantile(p: f64, nu: f64) -> Result<f64, AnalysisError> {
    const CTX: &str = "student_t_quantile";
    if !(p > 0.0 && p < 1.0) {
        return Err(AnalysisError::invalid(CTX, format!("p = {p} must be in (0, 1)")));
    }
    if !(nu.is_finite() && nu > 0.0) {
        return Err(AnalysisError::invalid(
            CTX,
            format!("nu = {nu} degrees of freedom must be finite and > 0"),
        ));
    }
    if p == 0.5 {
        return Ok(0.0);
    }
    let (sign, tail) = if p > 0.5 { (1.0, 1.0 - p) } else { (-1.0, p) };
    let q = if nu == 1.0 {
        (std::f64::consts::PI * (0.5 - tail)).tan()
    } else if nu == 2.0 {
        // P(T > t) = ½ (1 − t/√(2 + t²)).
        let a = 1.0 - 2.0 * tail;
        a * (2.0 / (1.0 - a * a)).sqrt()
    } else {
        student_t_upper_quantile(tail, nu)
    };
    Ok(sign * q)
}

/// Mean and spread of per-batch values, with a Student-t interval for the mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spread {
    /// Mean over batches.
    pub mean: f64,
    /// Sample standard deviation over batches (0 for one batch, which has no spread; see
    /// `half_width`).
    pub std: f64,
    /// Standard error of the mean, `std / sqrt(batches)`.
    pub se: f64,
    /// Smallest batch value.
    pub min: f64,
    /// Largest batch value.
    pub max: f64,
    /// Number of batches.
    #[serde(default)]
    pub batches: usize,
    /// Nominal level of `ci_lo..ci_hi` ([`CI_LEVEL`]).
    #[serde(default)]
    pub level: f64,
    /// Half-width of the interval, `t_{(1+level)/2, batches−1} · se`; `None` for one batch.
    #[serde(default)]
    pub half_width: Option<f64>,
    /// Lower end of the interval, `mean − half_width`; `None` for one batch.
    #[serde(default)]
    pub ci_lo: Option<f64>,
    /// Upper end of the interval, `mean + half_width`; `None` for one batch.
    #[serde(default)]
    pub ci_hi: Option<f64>,
}

impl Spread {
    /// Summary of the per-batch values `v`, with the [`CI_LEVEL`] interval (unavailable,
    /// `None`, for one value).
    ///
    /// # Errors
    ///
    /// Returns an error naming `values` when `v` is empty or `values[i]` when one is not
    /// finite.
    pub fn of(v: &[f64]) -> Result<Spread, AnalysisError> {
        const CTX: &str = "Spread::of";
        if v.is_empty() {
            return Err(AnalysisError::invalid(CTX, "values is empty: no batch to summarise"));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(AnalysisError::invalid(
                CTX,
                format!("values[{i}] = {} is not finite", v[i]),
            ));
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = if v.len() > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        let mut s = Spread {
            mean,
            std,
            se: std / n.sqrt(),
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            batches: v.len(),
            level: CI_LEVEL,
            half_width: None,
            ci_lo: None,
            ci_hi: None,
        };
        if v.len() > 1 {
            let h = s.half_width_at(CI_LEVEL)?;
            s.half_width = Some(h);
            s.ci_lo = Some(mean - h);
            s.ci_hi = Some(mean + h);
        }
        Ok(s)
    }

    /// Half-width of the two-sided Student-t interval of nominal level `level` for the mean,
    /// `t_{(1+level)/2, batches−1} · se`.
    ///
    /// # Errors
    ///
    /// Returns an error naming `batches` when there are fewer than 2 (one batch has no
    /// spread), or naming `level` unless `0 < level < 1`.
    pub fn half_width_at(&self, level: f64) -> Result<f64, AnalysisError> {
        const CTX: &str = "Spread::interval";
        if self.batches < 2 {
            return Err(AnalysisError::invalid(
                CTX,
                format!(
                    "batches = {}: an interval needs at least 2 batches (one batch has no spread)",
                    self.batches
                ),
            ));
        }
        if !(level > 0.0 && level < 1.0) {
            return Err(AnalysisError::invalid(CTX, format!("level = {level} must be in (0, 1)")));
        }
        let t = student_t_quantile(0.5 * (1.0 + level), (self.batches - 1) as f64)?;
        Ok(t * self.se)
    }

    /// The two-sided Student-t interval `(lo, hi)` of nominal level `level` for the mean.
    ///
    /// # Errors
    ///
    /// As [`Spread::half_width_at`].
    pub fn interval(&self, level: f64) -> Result<(f64, f64), AnalysisError> {
        let h = self.half_width_at(level)?;
        Ok((self.mean - h, self.mean + h))
    }
}

/// Settings of [`intrinsic_dimension`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdOptions {
    /// Neighbours of the Levina–Bickel estimate and of the cluster diagnostic (default 20, as
    /// in the paper).
    pub k: usize,
    /// Distance (default Euclidean; the paper uses cosine on hidden states).
    pub metric: Metric,
    /// Points per batch (default 3600, as in the paper).
    pub batch_size: usize,
    /// Use at most this many distinct points, drawn at random (default: all).
    pub max_points: Option<usize>,
    /// Seed of the shuffle.
    pub seed: u64,
}

impl Default for IdOptions {
    fn default() -> Self {
        IdOptions { k: 20, metric: Metric::Euclidean, batch_size: 3600, max_points: None, seed: 0 }
    }
}

/// Estimates of one batch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchEstimate {
    /// Points in the batch.
    pub points: usize,
    /// Levina–Bickel (MacKay–Ghahramani) estimate.
    pub mle: DimensionEstimate,
    /// TwoNN maximum-likelihood estimate ([`two_nn`]).
    pub two_nn: DimensionEstimate,
    /// TwoNN regression estimate of Facco et al. ([`two_nn_regression`]).
    #[serde(default)]
    pub two_nn_regression: DimensionEstimate,
    /// Clustered-cloud diagnostic over the `k` neighbours ([`cluster_diagnostic`]).
    #[serde(default)]
    pub clusters: ClusterDiagnostic,
}

/// The intrinsic dimension of a point cloud, batched.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct IdEstimate {
    /// Distance used.
    pub metric: Metric,
    /// Neighbours of the Levina–Bickel estimate.
    pub k: usize,
    /// Points used (distinct points, after `max_points`).
    pub n_points: usize,
    /// Exact repeats removed before estimating ([`distinct_points`]).
    #[serde(default)]
    pub duplicates: usize,
    /// Ambient dimension.
    pub dim: usize,
    /// Per-batch estimates.
    pub batches: Vec<BatchEstimate>,
    /// Levina–Bickel over batches.
    pub mle: Spread,
    /// TwoNN maximum likelihood over batches.
    pub two_nn: Spread,
    /// TwoNN regression (Facco et al.) over batches.
    #[serde(default)]
    pub two_nn_regression: Spread,
    /// Whether any batch is flagged by [`cluster_diagnostic`]: the cloud is made of tight
    /// clusters, and the estimates measure their tightness rather than a dimension.
    #[serde(default)]
    pub clustered: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Batched Levina–Bickel and TwoNN estimates (see the module documentation) of the points
/// `points` (row-major, `dim` coordinates each): raw manifold samples or a model's hidden
/// states. Exact repeats are removed first ([`distinct_points`]); the distinct points are
/// shuffled (seeded), cut to `max_points`, and split into batches.
///
/// # Errors
///
/// Returns an error on malformed points (see [`knn`]), `k < 2`, `batch_size ≤ k`, or fewer
/// than `k + 1` distinct points.
pub fn intrinsic_dimension(
    points: &[f32],
    dim: usize,
    opts: &IdOptions,
) -> Result<IdEstimate, AnalysisError> {
    const CTX: &str = "intrinsic_dimension";
    let start = std::time::Instant::now();
    let n_all = validate_points(points, dim, CTX)?;
    if opts.k < 2 {
        return Err(AnalysisError::invalid(CTX, format!("k = {} must be at least 2", opts.k)));
    }
    if opts.batch_size <= opts.k {
        return Err(AnalysisError::invalid(
            CTX,
            format!("batch_size = {} must exceed k = {}", opts.batch_size, opts.k),
        ));
    }
    let mut order = distinct_points(points, dim, opts.metric)?;
    let duplicates = n_all - order.len();
    let mut rng = ChaCha12Rng::seed_from_u64(opts.seed);
    order.shuffle(&mut rng);
    let n = opts.max_points.map_or(order.len(), |m| m.min(order.len()));
    order.truncate(n);
    if n <= opts.k {
        return Err(AnalysisError::invalid(
            CTX,
            format!(
                "{n} distinct points ({duplicates} exact repeats removed) are too few for k = {} neighbours",
                opts.k
            ),
        ));
    }
    let n_batches = (n / opts.batch_size).max(1);
    let mut batches = Vec::with_capacity(n_batches);
    let mut buf: Vec<f32> = Vec::new();
    for b in 0..n_batches {
        let (s, e) = (b * n / n_batches, (b + 1) * n / n_batches);
        buf.clear();
        for &i in &order[s..e] {
            buf.extend_from_slice(&points[i * dim..(i + 1) * dim]);
        }
        let in_batch =
            |err: AnalysisError| AnalysisError::invalid(CTX, format!("batch {b}: {err}"));
        let nb = knn(&buf, dim, opts.k, opts.metric).map_err(in_batch)?;
        let mle = levina_bickel(&nb, opts.k).map_err(in_batch)?;
        let tnn = two_nn(&nb).map_err(in_batch)?;
        let reg = two_nn_regression(&nb).map_err(in_batch)?;
        let clusters = if opts.k >= 3 {
            cluster_diagnostic(&nb, opts.k).map_err(in_batch)?
        } else {
            ClusterDiagnostic::default()
        };
        batches.push(BatchEstimate {
            points: e - s,
            mle,
            two_nn: tnn,
            two_nn_regression: reg,
            clusters,
        });
    }
    let spread = |f: fn(&BatchEstimate) -> f64| {
        Spread::of(&batches.iter().map(f).collect::<Vec<_>>())
            .map_err(|err| AnalysisError::invalid(CTX, err.to_string()))
    };
    let mle = spread(|b| b.mle.value)?;
    let two = spread(|b| b.two_nn.value)?;
    let reg = spread(|b| b.two_nn_regression.value)?;
    let clustered = batches.iter().any(|b| b.clusters.clustered);
    Ok(IdEstimate {
        metric: opts.metric,
        k: opts.k,
        n_points: n,
        duplicates,
        dim,
        batches,
        mle,
        two_nn: two,
        two_nn_regression: reg,
        clustered,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn random_points(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        (0..n * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn brute_knn(p: &[f32], dim: usize, k: usize) -> Vec<Vec<(f64, usize)>> {
        let n = p.len() / dim;
        (0..n)
            .map(|i| {
                let mut d: Vec<(f64, usize)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let s: f64 = (0..dim)
                            .map(|c| {
                                (f64::from(p[i * dim + c]) - f64::from(p[j * dim + c])).powi(2)
                            })
                            .sum();
                        (s.sqrt(), j)
                    })
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                d.truncate(k);
                d
            })
            .collect()
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn knn_matches_brute_force() {
        for (n, dim, k) in [(300, 13, 5), (130, 64, 20), (67, 3, 2)] {
            let p = random_points(n, dim, n as u64);
            let nb = knn(&p, dim, k, Metric::Euclidean).unwrap();
            let reference = brute_knn(&p, dim, k);
            for i in 0..n {
                for j in 0..k {
                    assert!(
                        (nb.row(i)[j] - reference[i][j].0).abs() < 1e-9,
                        "point {i} neighbour {j}"
                    );
                }
                assert_eq!(nb.index[i * k] as usize, reference[i][0].1);
            }
        }
    }

    #[test]
    fn cosine_is_scale_invariant_chord_distance() {
        let p = random_points(200, 8, 4);
        let scaled: Vec<f32> = p
            .chunks(8)
            .enumerate()
            .flat_map(|(i, r)| r.iter().map(move |x| x * (1.0 + i as f32)))
            .collect();
        let a = knn(&p, 8, 6, Metric::Cosine).unwrap();
        let b = knn(&scaled, 8, 6, Metric::Cosine).unwrap();
        for (x, y) in a.dist.iter().zip(&b.dist) {
            assert!((x - y).abs() < 1e-5);
        }
        assert!(a.dist.iter().all(|d| *d <= 2.0 + 1e-9));
        let zero = [0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0];
        assert!(
            knn(&zero, 2, 1, Metric::Cosine)
                .unwrap_err()
                .to_string()
                .contains("point 0 is the zero vector")
        );
    }

    #[test]
    fn bad_points_are_errors() {
        assert!(
            knn(&[1.0, 2.0, 3.0], 2, 1, Metric::Euclidean)
                .unwrap_err()
                .to_string()
                .contains("whole number")
        );
        assert!(
            knn(&[1.0, f32::NAN, 3.0, 4.0], 2, 1, Metric::Euclidean)
                .unwrap_err()
                .to_string()
                .contains("point 0 coordinate 1")
        );
        assert!(
            knn(&[1.0, 2.0], 1, 2, Metric::Euclidean).unwrap_err().to_string().contains("too few")
        );
        assert!(
            knn(&[1.0, 2.0], 0, 1, Metric::Euclidean).unwrap_err().to_string().contains("dim = 0")
        );
        // All duplicates: no usable point.
        let dup = vec![1.0f32; 20];
        let nb = knn(&dup, 2, 3, Metric::Euclidean).unwrap();
        assert!(levina_bickel(&nb, 3).unwrap_err().to_string().contains("duplicate"));
        assert!(two_nn(&nb).is_err());
        let o = IdOptions { batch_size: 10, k: 20, ..Default::default() };
        assert!(
            intrinsic_dimension(&random_points(100, 2, 1), 2, &o)
                .unwrap_err()
                .to_string()
                .contains("batch_size")
        );
    }

    #[test]
    fn estimator_formulas_on_hand_made_distances() {
        // Point 0: T = (1, 2, 4) → Σ_{j<3} ln(T_3/T_j) = 3 ln 2; point 1: T = (1, 1, e²) → 4.
        // MacKay–Ghahramani: 1 / mean(S/(k − 1)) = 1 / ((1.5 ln 2 + 2) / 2).
        let e2 = 2f64.exp();
        let nb = Neighbours {
            k: 3,
            n: 2,
            dist: vec![1.0, 2.0, 4.0, 1.0, 1.0, e2],
            index: vec![1, 0, 0, 0, 0, 0],
        };
        let lb = levina_bickel(&nb, 3).unwrap();
        assert!((lb.value - 2.0 / (1.5 * 2f64.ln() + 2.0)).abs() < 1e-12, "{lb:?}");
        // With k = 2 only T_1, T_2: S = ln 2 and 0 → inverse mean (ln 2 + 0)/2.
        let lb2 = levina_bickel(&nb, 2).unwrap();
        assert!((lb2.value - 2.0 / 2f64.ln()).abs() < 1e-12, "{lb2:?}");
        // TwoNN: n / Σ ln(T_2/T_1) = 2 / (ln 2 + 0).
        let tn = two_nn(&nb).unwrap();
        assert!((tn.value - 2.0 / 2f64.ln()).abs() < 1e-12, "{tn:?}");
        // A duplicate (T_1 = 0) is skipped and counted.
        let dup =
            Neighbours { k: 2, n: 2, dist: vec![0.0, 1.0, 1.0, 3.0], index: vec![1, 0, 0, 1] };
        let tn = two_nn(&dup).unwrap();
        assert_eq!((tn.used, tn.skipped), (1, 1));
        assert!((tn.value - 1.0 / 3f64.ln()).abs() < 1e-12);
        assert!(levina_bickel(&nb, 4).unwrap_err().to_string().contains("2..=3"));
    }

    #[test]
    fn uniform_cube_dimension() {
        // 4000 points uniform in [−1, 1]^3: both estimators near 3 (boundary effects are mild
        // at this density).
        let p = random_points(4000, 3, 8);
        let est = intrinsic_dimension(&p, 3, &IdOptions { batch_size: 2000, ..Default::default() })
            .unwrap();
        assert_eq!(est.batches.len(), 2);
        assert!((est.mle.mean - 3.0).abs() < 0.3, "{est:?}");
        assert!((est.two_nn.mean - 3.0).abs() < 0.3, "{est:?}");
    }

    #[test]
    fn student_t_quantiles_match_tables() {
        // Two-sided 95% critical values (tables to 3 decimals; exact values to 12 digits).
        for (nu, want) in [
            (1.0, 12.706_204_736_174_69),
            (2.0, 4.302_652_729_749_462),
            (3.0, 3.182_446_305_283_708),
            (5.0, 2.570_581_835_636_315),
            (10.0, 2.228_138_851_986_274),
            (30.0, 2.042_272_456_301_238),
            (120.0, 1.979_930_405_082_44),
        ] {
            let t = student_t_quantile(0.975, nu).unwrap();
            assert!((t - want).abs() < 1e-11 * want, "t(0.975, {nu}) = {t}, want {want}");
            assert!((student_t_quantile(0.025, nu).unwrap() + want).abs() < 1e-9 * want);
        }
        // Other levels: t_{0.995, 10} = 3.169, t_{0.9, 3} = 1.638, t_{0.95, 1} = 6.314.
        for (p, nu, want) in [
            (0.995, 10.0, 3.169_272_672_616_951),
            (0.9, 3.0, 1.637_744_353_696_21),
            (0.95, 1.0, 6.313_751_514_675_037),
        ] {
            let t = student_t_quantile(p, nu).unwrap();
            assert!((t - want).abs() < 1e-9 * want, "t({p}, {nu}) = {t}, want {want}");
        }
        // The general (bisection) path agrees with the closed forms of ν = 1 and 2, and
        // tends to the normal quantile.
        for p in [0.6, 0.9, 0.975, 0.999, 0.999_999] {
            for nu in [1.0, 2.0] {
                let closed = student_t_quantile(p, nu).unwrap();
                let general = student_t_upper_quantile(1.0 - p, nu);
                assert!((closed - general).abs() < 1e-9 * closed, "p {p} nu {nu}");
            }
        }
        assert!((student_t_quantile(0.975, 1e6).unwrap() - 1.959_966_356_814).abs() < 1e-9);
        assert_eq!(student_t_quantile(0.5, 4.0).unwrap(), 0.0);
        assert!(student_t_quantile(1.0, 4.0).unwrap_err().to_string().contains("p = 1"));
        assert!(student_t_quantile(0.9, 0.0).unwrap_err().to_string().contains("nu = 0"));
        assert!(student_t_quantile(f64::NAN, 3.0).is_err());
    }

    #[test]
    fn spread_has_a_student_t_interval_and_none_for_one_batch() {
        let s = Spread::of(&[1.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.batches, s.level), (2.0, 2, CI_LEVEL));
        assert!((s.se - 1.0).abs() < 1e-15);
        let h = s.half_width.unwrap();
        assert!((h - 12.706_204_736_174_69).abs() < 1e-9, "{s:?}");
        assert_eq!((s.ci_lo, s.ci_hi), (Some(2.0 - h), Some(2.0 + h)));
        let (lo, hi) = s.interval(0.9).unwrap();
        assert!((hi - 2.0 - 6.313_751_514_675_037).abs() < 1e-9 && (lo + hi - 4.0).abs() < 1e-12);
        // Four batches: t_{0.975, 3}.
        let s4 = Spread::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        let want = 3.182_446_305_283_708 * (5.0f64 / 3.0).sqrt() / 2.0;
        assert!((s4.half_width.unwrap() - want).abs() < 1e-9);
        // One batch: no spread, no interval.
        let one = Spread::of(&[2.5]).unwrap();
        assert_eq!((one.half_width, one.ci_lo, one.ci_hi), (None, None, None));
        let err = one.interval(0.95).unwrap_err().to_string();
        assert!(err.contains("batches = 1"), "{err}");
        assert!(s.interval(1.0).unwrap_err().to_string().contains("level = 1"));
        assert!(Spread::of(&[]).unwrap_err().to_string().contains("values is empty"));
        assert!(Spread::of(&[1.0, f64::NAN]).unwrap_err().to_string().contains("values[1]"));
        // The JSON keeps the interval, and `null` when there is none.
        let json = serde_json::to_string(&one).unwrap();
        assert!(json.contains("\"half_width\":null"), "{json}");
    }

    /// Neighbours whose `μ = T_2/T_1` are the given values.
    fn with_mus(mus: &[f64]) -> Neighbours {
        Neighbours {
            k: 2,
            n: mus.len(),
            dist: mus.iter().flat_map(|m| [1.0, *m]).collect(),
            index: vec![0; 2 * mus.len()],
        }
    }

    #[test]
    fn two_nn_regression_is_exact_on_pareto_quantiles() {
        // μ_(i) = (1 − i/n)^(−1/d) puts −ln(1 − F) = d ln μ exactly on the kept 90%; the
        // discarded top 10% (including i = n, where F = 1) can be anything.
        let (n, d) = (1000usize, 3.7);
        let mut mus: Vec<f64> = (1..=n)
            .map(|i| if i < n { (1.0 - i as f64 / n as f64).powf(-1.0 / d) } else { 1e9 })
            .collect();
        mus.reverse(); // order does not matter
        let est = two_nn_regression(&with_mus(&mus)).unwrap();
        assert!((est.value - d).abs() < 1e-9, "{est:?}");
        assert_eq!((est.used, est.skipped), (n, 0));
        assert!(
            two_nn_regression(&with_mus(&[1.5])).unwrap_err().to_string().contains("at least 2")
        );
        assert!(
            two_nn_regression(&with_mus(&[1.0; 30])).unwrap_err().to_string().contains("no slope")
        );
    }

    #[test]
    fn two_nn_regression_and_mle_on_uniform_cubes() {
        // Uniform in [−1, 1]^d: TwoNN only looks at the two nearest neighbours, so the
        // boundary matters little.
        for (d, n) in [(3usize, 4000usize), (5, 4000)] {
            let p = random_points(n, d, 30 + d as u64);
            let nb = knn(&p, d, 2, Metric::Euclidean).unwrap();
            let reg = two_nn_regression(&nb).unwrap();
            let mle = two_nn(&nb).unwrap();
            assert!((reg.value / d as f64 - 1.0).abs() < 0.1, "d = {d}: regression {reg:?}");
            assert!((mle.value / d as f64 - 1.0).abs() < 0.1, "d = {d}: MLE {mle:?}");
        }
    }

    fn gaussian(n: usize, dim: usize, scale: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        (0..n * dim).map(|_| scale * crate::stats::synth::normal(&mut rng)).collect()
    }

    /// `clusters` Gaussian clusters of `size` points each, centres standard normal in R^dim,
    /// within-cluster standard deviation `std`.
    fn clustered_cloud(clusters: usize, size: usize, dim: usize, std: f64, seed: u64) -> Vec<f32> {
        let centres = gaussian(clusters, dim, 1.0, seed);
        let noise = gaussian(clusters * size, dim, std, seed + 1);
        (0..clusters * size)
            .flat_map(|i| {
                let c = &centres[(i / size) * dim..(i / size + 1) * dim];
                let e = &noise[i * dim..(i + 1) * dim];
                c.iter().zip(e).map(|(a, b)| (a + b) as f32).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Uniform points on the flat 4-torus (S¹)⁴ ⊂ R^8.
    fn torus4(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        (0..n * 4)
            .flat_map(|_| {
                let a = rng.random_range(0.0..std::f64::consts::TAU);
                [a.cos() as f32, a.sin() as f32]
            })
            .collect()
    }

    #[test]
    fn cluster_diagnostic_flags_tight_clusters_only() {
        let k = 20;
        // 1,024 tight clusters in R^128 (std 0.01 against unit-variance centres): Levina–Bickel
        // and TwoNN report cluster tightness (a dimension near 1 or 2), the diagnostic flags it.
        for size in [2usize, 4, 8] {
            let p = clustered_cloud(1024, size, 128, 0.01, size as u64);
            let nb = knn(&p, 128, k, Metric::Euclidean).unwrap();
            let c = cluster_diagnostic(&nb, k).unwrap();
            let (lb, tn) = (levina_bickel(&nb, k).unwrap(), two_nn(&nb).unwrap());
            eprintln!(
                "1024 clusters of {size}: LB {:.3}, TwoNN {:.3}, gap share {:.3} (null {:.3}), gap rank {}",
                lb.value, tn.value, c.median_gap_share, c.null_median, c.median_gap_rank
            );
            assert!(c.clustered, "size {size}: {c:?}");
            assert!(c.median_gap_share > 0.9, "size {size}: {c:?}");
            assert_eq!(c.median_gap_rank, (size - 1) as f64, "size {size}: {c:?}");
            if size == 4 {
                // intrinsic_dimension carries the flag.
                let o = IdOptions { k, batch_size: 4096, ..Default::default() };
                let est = intrinsic_dimension(&p, 128, &o).unwrap();
                assert!(est.clustered && est.batches[0].clusters == c, "{est:?}");
            }
            // The scale dependence: within a cluster the dimension looks large, across
            // clusters small.
            if size == 8 {
                let prof = levina_bickel_profile(&nb, &[5, 20]).unwrap();
                assert!(
                    prof[0].estimate.value > 5.0 * prof[1].estimate.value,
                    "size {size}: {prof:?}"
                );
            }
        }
        // Manifolds and a plain Gaussian cloud are not flagged.
        let sphere = crate::stats::synth::sphere_points(2, 3, 4000, 3).unwrap();
        let torus = torus4(4000, 4);
        let cloud: Vec<f32> = gaussian(4096, 128, 1.0, 5).iter().map(|x| *x as f32).collect();
        for (name, p, dim) in [("S2", &sphere, 3), ("T4", &torus, 8), ("R128", &cloud, 128)] {
            let nb = knn(p, dim, k, Metric::Euclidean).unwrap();
            let c = cluster_diagnostic(&nb, k).unwrap();
            eprintln!(
                "{name}: LB {:.3}, gap share {:.3} (null {:.3}), gapped {:.3}",
                levina_bickel(&nb, k).unwrap().value,
                c.median_gap_share,
                c.null_median,
                c.fraction_gapped
            );
            assert!(!c.clustered, "{name}: {c:?}");
            assert!((c.median_gap_share - c.null_median).abs() < 0.1, "{name}: {c:?}");
        }
        assert!((null_gap_share_median(20) - 0.30).abs() < 0.02);
        assert!((null_gap_share_median(10) - 0.39).abs() < 0.02);
        let nb = knn(&sphere, 3, 5, Metric::Euclidean).unwrap();
        assert!(cluster_diagnostic(&nb, 2).unwrap_err().to_string().contains("k = 2"));
        assert!(cluster_diagnostic(&nb, 6).unwrap_err().to_string().contains("k = 6"));
    }

    #[test]
    fn levina_bickel_profile_is_flat_on_a_sphere() {
        let p = crate::stats::synth::sphere_points(2, 5, 4000, 9).unwrap();
        let nb = knn(&p, 5, 40, Metric::Euclidean).unwrap();
        let prof = levina_bickel_profile(&nb, &[5, 10, 20, 40]).unwrap();
        assert_eq!(prof.iter().map(|s| s.k).collect::<Vec<_>>(), vec![5, 10, 20, 40]);
        for s in &prof {
            assert!((s.estimate.value - 2.0).abs() < 0.2, "{prof:?}");
            assert_eq!(*s, ScaleEstimate { k: s.k, estimate: levina_bickel(&nb, s.k).unwrap() });
        }
        assert!(levina_bickel_profile(&nb, &[]).unwrap_err().to_string().contains("ks is empty"));
        assert!(
            levina_bickel_profile(&nb, &[5, 41]).unwrap_err().to_string().contains("ks[1] = 41")
        );
    }

    #[test]
    fn exact_repeats_are_removed_before_estimating() {
        let p = random_points(3000, 3, 21);
        // Every point three times.
        let mut rep: Vec<f32> = Vec::new();
        for _ in 0..3 {
            rep.extend_from_slice(&p);
        }
        let o = IdOptions { batch_size: 3000, ..Default::default() };
        let a = intrinsic_dimension(&p, 3, &o).unwrap();
        let b = intrinsic_dimension(&rep, 3, &o).unwrap();
        assert_eq!((a.duplicates, b.duplicates, b.n_points), (0, 6000, 3000));
        // Same points, same shuffle of the distinct indices: the same estimate.
        assert_eq!(a.mle.mean, b.mle.mean);
        assert_eq!(b.batches[0].mle.skipped, 0);
        let signed = [0.0f32, 1.0, -0.0, 1.0, 0.0, 2.0];
        assert_eq!(distinct_points(&signed, 2, Metric::Euclidean).unwrap(), vec![0, 2]);
        // Under the cosine metric, positive multiples are the same point.
        let scaled = [1.0f32, 2.0, 2.0, 4.0, -1.0, -2.0];
        assert_eq!(distinct_points(&scaled, 2, Metric::Cosine).unwrap(), vec![0, 2]);
        assert_eq!(distinct_points(&scaled, 2, Metric::Euclidean).unwrap(), vec![0, 1, 2]);
        // A single batch has no interval; two or more do.
        assert!(a.mle.half_width.is_none() && a.two_nn.ci_lo.is_none());
        let two = intrinsic_dimension(&p, 3, &IdOptions { batch_size: 1500, ..o }).unwrap();
        assert_eq!(two.mle.batches, 2);
        assert!(two.mle.ci_lo.unwrap() < two.mle.mean && two.mle.ci_hi.unwrap() > two.mle.mean);
        assert!(!two.clustered);
    }
}

//! Intrinsic dimension of a point cloud: Levina–Bickel maximum likelihood (with MacKay and
//! Ghahramani's averaging) and TwoNN, from exact nearest neighbours, batched as in Havrilla &
//! Liao (SCIENCE.md §2).
//!
//! # Estimators
//!
//! With `T_j(x)` the distance from `x` to its `j`-th nearest neighbour:
//!
//! * Levina–Bickel: `m̂_k(x) = [ (1/(k−1)) Σ_{j<k} ln(T_k(x)/T_j(x)) ]^(−1)`; the batch estimate
//!   averages the *inverses* and inverts (MacKay & Ghahramani 2005): `m̂ = 1 / mean_x m̂_k(x)^(−1)`.
//! * TwoNN (Facco et al. 2017): `μ = T_2/T_1` is Pareto(d), so `d̂ = n / Σ_x ln μ(x)` (the
//!   maximum-likelihood form).
//!
//! Points whose nearest neighbour is at distance 0 (duplicates) are skipped and counted.
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
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
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
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// TwoNN maximum likelihood `d̂ = n / Σ ln(T_2/T_1)`.
///
/// # Errors
///
/// Returns an error when no point is usable.
pub fn two_nn(nb: &Neighbours) -> Result<DimensionEstimate, AnalysisError> {
    if nb.k < 2 {
        return Err(AnalysisError::invalid("two_nn", "needs at least 2 neighbours per point"));
    }
    let (mut s, mut used, mut skipped) = (0.0, 0usize, 0usize);
    for i in 0..nb.n {
        let t = nb.row(i);
        if t[0].is_nan() || t[0] <= 0.0 {
            skipped += 1;
            continue;
        }
        s += (t[1] / t[0]).ln();
        used += 1;
    }
    if used == 0 || s.is_nan() || s <= 0.0 {
        return Err(AnalysisError::invalid(
            "two_nn",
            format!("no usable point ({skipped} of {} are duplicates)", nb.n),
        ));
    }
    Ok(DimensionEstimate { value: used as f64 / s, used, skipped })
}

/// Settings of [`intrinsic_dimension`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdOptions {
    /// Neighbours of the Levina–Bickel estimate (default 20, as in the paper).
    pub k: usize,
    /// Distance (default Euclidean; the paper uses cosine on hidden states).
    pub metric: Metric,
    /// Points per batch (default 3600, as in the paper).
    pub batch_size: usize,
    /// Use at most this many points, drawn at random (default: all).
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
    /// TwoNN estimate.
    pub two_nn: DimensionEstimate,
}

/// Mean and spread of per-batch values.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spread {
    /// Mean over batches.
    pub mean: f64,
    /// Sample standard deviation over batches (0 for one batch).
    pub std: f64,
    /// Standard error of the mean, `std / sqrt(batches)`.
    pub se: f64,
    /// Smallest batch value.
    pub min: f64,
    /// Largest batch value.
    pub max: f64,
}

impl Spread {
    /// Summary of `v` (non-empty).
    pub fn of(v: &[f64]) -> Spread {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = if v.len() > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Spread {
            mean,
            std,
            se: std / n.sqrt(),
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// The intrinsic dimension of a point cloud, batched.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct IdEstimate {
    /// Distance used.
    pub metric: Metric,
    /// Neighbours of the Levina–Bickel estimate.
    pub k: usize,
    /// Points used (after `max_points`).
    pub n_points: usize,
    /// Ambient dimension.
    pub dim: usize,
    /// Per-batch estimates.
    pub batches: Vec<BatchEstimate>,
    /// Levina–Bickel over batches.
    pub mle: Spread,
    /// TwoNN over batches.
    pub two_nn: Spread,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Batched Levina–Bickel and TwoNN estimates (see the module documentation) of the points
/// `points` (row-major, `dim` coordinates each): raw manifold samples or a model's hidden
/// states.
///
/// # Errors
///
/// Returns an error on malformed points (see [`knn`]), `k < 2`, `batch_size ≤ k`, or fewer
/// than `k + 1` points.
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
    let mut order: Vec<usize> = (0..n_all).collect();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    order.shuffle(&mut rng);
    let n = opts.max_points.map_or(n_all, |m| m.min(n_all));
    order.truncate(n);
    if n <= opts.k {
        return Err(AnalysisError::invalid(
            CTX,
            format!("{n} points are too few for k = {} neighbours", opts.k),
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
        let nb = knn(&buf, dim, opts.k, opts.metric)
            .map_err(|err| AnalysisError::invalid(CTX, format!("batch {b}: {err}")))?;
        let mle = levina_bickel(&nb, opts.k)
            .map_err(|err| AnalysisError::invalid(CTX, format!("batch {b}: {err}")))?;
        let tnn =
            two_nn(&nb).map_err(|err| AnalysisError::invalid(CTX, format!("batch {b}: {err}")))?;
        batches.push(BatchEstimate { points: e - s, mle, two_nn: tnn });
    }
    let mle = Spread::of(&batches.iter().map(|b| b.mle.value).collect::<Vec<_>>());
    let two = Spread::of(&batches.iter().map(|b| b.two_nn.value).collect::<Vec<_>>());
    Ok(IdEstimate {
        metric: opts.metric,
        k: opts.k,
        n_points: n,
        dim,
        batches,
        mle,
        two_nn: two,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn random_points(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
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
}

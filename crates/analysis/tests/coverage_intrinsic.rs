//! Coverage of the intervals of the intrinsic-dimension estimates ("Every number earned:
//! calibrated intervals").
//!
//! 200 samples of 4,000 points uniform on a randomly rotated unit 2-sphere in R^3, each
//! estimated in 2 batches of 2,000 (as the manifold reproduction does) and in 4 batches of
//! 1,000, with k = 10. For each sample, estimator and batch count, the nominal 95% interval
//! of `Spread` (Student-t with `batches − 1` degrees of freedom) either covers the truth or
//! not; the fraction that covers must be at least 90%.
//!
//! The truth. The interval is for the mean of the batch estimates, whose expectation is the
//! estimator's expectation at the batch size. That need not be the true dimension 2: at
//! finite `n` the estimators can be biased (curvature, boundaries, the finite `k`), and a
//! bias does not shrink with the number of batches, while the interval does. So the truth
//! asserted here is the estimator's expectation at the same batch size, measured from the
//! other 199 samples (leave-one-out, so that the reference is independent of the interval it
//! judges; its own error is a few percent of the interval's half-width). On S² with k = 10
//! that expectation turns out to be within 0.01 of 2, so coverage of the true `d = 2` is
//! printed too, as is the coverage of the old `± 1.96 · se` rule in the same simulation.
//!
//! Speed. The library's brute-force search would take about a minute here (1.2 billion
//! pairs); the samples go through an exact grid search instead, checked against
//! [`knn`] on the first sample, and then through the library's estimators, `Spread` and
//! (on the first sample) `intrinsic_dimension` itself.

use scalinglab_analysis::stats::intrinsic::{
    CI_LEVEL, IdOptions, Metric, Neighbours, Spread, intrinsic_dimension, knn, levina_bickel,
    two_nn, two_nn_regression,
};
use scalinglab_analysis::stats::synth::sphere_points;

const REPEATS: usize = 200;
const POINTS: usize = 4000;
const K: usize = 10;
const TRUE_D: f64 = 2.0;
const BATCH_COUNTS: [usize; 2] = [2, 4];
const ESTIMATORS: [&str; 3] = ["Levina–Bickel", "TwoNN (MLE)", "TwoNN (regression)"];

/// Exact `k` nearest neighbours of points in `[−1, 1]^3` (row-major `f32`, 3 coordinates),
/// with the library's distances (`f64` from the `f32` coordinates) and tie order (distance,
/// then index): a uniform grid of cells of side `H`, searched in growing cubes of cells
/// around each point until the `k`-th distance is inside the searched cube.
fn grid_knn(p: &[f32], k: usize) -> Neighbours {
    const H: f64 = 0.15;
    let n = p.len() / 3;
    let cells = (2.2 / H).ceil() as i64;
    let cell = |v: f32| (((f64::from(v) + 1.1) / H).floor() as i64).clamp(0, cells - 1);
    let at = |c: [i64; 3]| ((c[0] * cells + c[1]) * cells + c[2]) as usize;
    let mut grid: Vec<Vec<u32>> = vec![Vec::new(); (cells * cells * cells) as usize];
    let home: Vec<[i64; 3]> =
        p.chunks_exact(3).map(|r| [cell(r[0]), cell(r[1]), cell(r[2])]).collect();
    for (i, c) in home.iter().enumerate() {
        grid[at(*c)].push(i as u32);
    }
    let dist = |i: usize, j: usize| -> f64 {
        let (a, b) = (&p[i * 3..i * 3 + 3], &p[j * 3..j * 3 + 3]);
        a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>().sqrt()
    };
    let (mut d_out, mut i_out) = (Vec::with_capacity(n * k), Vec::with_capacity(n * k));
    let mut cand: Vec<(f64, u32)> = Vec::new();
    for (i, &c) in home.iter().enumerate() {
        let mut r = 1i64;
        loop {
            cand.clear();
            for x in (c[0] - r).max(0)..=(c[0] + r).min(cells - 1) {
                for y in (c[1] - r).max(0)..=(c[1] + r).min(cells - 1) {
                    for z in (c[2] - r).max(0)..=(c[2] + r).min(cells - 1) {
                        for &j in &grid[at([x, y, z])] {
                            if j as usize != i {
                                cand.push((dist(i, j as usize), j));
                            }
                        }
                    }
                }
            }
            cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            // A point outside the searched cube is more than r·H away in some coordinate.
            if (cand.len() >= k && cand[k - 1].0 <= r as f64 * H) || r >= cells {
                break;
            }
            r += 1;
        }
        d_out.extend(cand[..k].iter().map(|e| e.0));
        i_out.extend(cand[..k].iter().map(|e| e.1));
    }
    Neighbours { k, n, dist: d_out, index: i_out }
}

/// The three estimates of one batch.
fn estimates(nb: &Neighbours) -> [f64; 3] {
    [
        levina_bickel(nb, K).unwrap().value,
        two_nn(nb).unwrap().value,
        two_nn_regression(nb).unwrap().value,
    ]
}

/// Coverage figures of one estimator at one batch count.
struct Coverage {
    t_interval: f64,
    old_rule: f64,
    true_d: f64,
    reference: f64,
    mean_half_width: f64,
}

/// `values[r]` are the batch estimates of sample `r`.
fn coverage(values: &[Vec<f64>]) -> Coverage {
    let count: usize = values.iter().map(Vec::len).sum();
    let total: f64 = values.iter().flatten().sum();
    let (mut t_in, mut old_in, mut d_in, mut width) = (0usize, 0usize, 0usize, 0.0);
    for v in values {
        let s = Spread::of(v).unwrap();
        assert_eq!((s.level, s.batches), (CI_LEVEL, v.len()));
        let reference = (total - v.iter().sum::<f64>()) / (count - v.len()) as f64;
        let (lo, hi) = (s.ci_lo.unwrap(), s.ci_hi.unwrap());
        t_in += usize::from(lo <= reference && reference <= hi);
        d_in += usize::from(lo <= TRUE_D && TRUE_D <= hi);
        old_in += usize::from((s.mean - reference).abs() <= 1.96 * s.se);
        width += s.half_width.unwrap();
    }
    let r = values.len() as f64;
    Coverage {
        t_interval: t_in as f64 / r,
        old_rule: old_in as f64 / r,
        true_d: d_in as f64 / r,
        reference: total / count as f64,
        mean_half_width: width / r,
    }
}

#[test]
fn nominal_95_percent_intervals_cover_at_least_90_percent() {
    let start = std::time::Instant::now();
    // values[b][e][r]: batch estimates of estimator e, batch count b, sample r.
    let mut values = vec![vec![Vec::with_capacity(REPEATS); ESTIMATORS.len()]; BATCH_COUNTS.len()];
    for r in 0..REPEATS {
        // Independent uniform points, so consecutive blocks are independent random batches.
        let points = sphere_points(2, 3, POINTS, 10_000 + r as u64).unwrap();
        for (b, &batches) in BATCH_COUNTS.iter().enumerate() {
            let size = POINTS / batches;
            let mut per = vec![Vec::with_capacity(batches); ESTIMATORS.len()];
            for chunk in points.chunks_exact(3 * size) {
                let nb = grid_knn(chunk, K);
                if r == 0 {
                    let exact = knn(chunk, 3, K, Metric::Euclidean).unwrap();
                    assert_eq!(exact.dist, nb.dist, "grid search differs from knn");
                }
                for (e, v) in estimates(&nb).into_iter().enumerate() {
                    per[e].push(v);
                }
            }
            for (e, v) in per.into_iter().enumerate() {
                values[b][e].push(v);
            }
            if r == 0 {
                // The library's own pipeline: the same batch count and an interval at the
                // same level from the same kind of batch values.
                let opts = IdOptions { k: K, batch_size: size, seed: 1, ..Default::default() };
                let est = intrinsic_dimension(&points, 3, &opts).unwrap();
                assert_eq!((est.mle.batches, est.mle.level), (batches, CI_LEVEL));
                let v: Vec<f64> = est.batches.iter().map(|x| x.mle.value).collect();
                assert_eq!(est.mle, Spread::of(&v).unwrap());
                assert!(!est.clustered);
            }
        }
    }
    eprintln!(
        "coverage of nominal {:.0}% intervals, {REPEATS} samples of {POINTS} points on S² in R^3, k = {K}:",
        100.0 * CI_LEVEL
    );
    eprintln!(
        "{:<20} {:>7} {:>14} {:>10} {:>12} {:>12} {:>12}",
        "estimator", "batches", "E[d̂] at n/B", "mean ±", "t interval", "old ±1.96se", "covers d=2"
    );
    let mut failures = Vec::new();
    for (b, &batches) in BATCH_COUNTS.iter().enumerate() {
        for (e, name) in ESTIMATORS.iter().enumerate() {
            let c = coverage(&values[b][e]);
            eprintln!(
                "{name:<20} {batches:>7} {:>14.4} {:>10.4} {:>11.1}% {:>11.1}% {:>11.1}%",
                c.reference,
                c.mean_half_width,
                100.0 * c.t_interval,
                100.0 * c.old_rule,
                100.0 * c.true_d
            );
            if c.t_interval < 0.90 {
                failures.push(format!("{name}, {batches} batches: {:.3}", c.t_interval));
            }
            if batches == 2 {
                // The old rule with one degree of freedom: P(|t_1| ≤ 1.96) = 2·atan(1.96)/π ≈ 70%.
                assert!(c.old_rule < 0.8, "{name}: the old rule covers {}", c.old_rule);
            }
        }
    }
    eprintln!("({:.1} s)", start.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "coverage below 90%: {failures:?}");
}

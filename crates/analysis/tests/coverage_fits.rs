//! Coverage of the 95% intervals of the scaling-law fits ("Every number earned: calibrated
//! intervals").
//!
//! **Power laws** ([`fit_power_law`], whose `alpha_ci` and `e_ci` every sweep report prints
//! for α_N, α_D and E). The truth is `L = E + A·x^(−α)` with `E = 2`, `A = 5`, `α = 0.4`,
//! times log-normal noise of 0.5%, on the two designs a quickstart sweep fits: 5 sizes ×2
//! apart (`L(D)` over 5 token budgets) and 4 sizes ×3 apart (`L(N)` over 4 widths, whose
//! parameter counts are about ×3 apart). Each fit is called as the report calls it (squared
//! loss, free offset or the offset fixed at the truth), with 100 resamples instead of the
//! report's 200 to halve the time. Over 200 independent data sets the fraction of intervals
//! that contain the truth must be at least 90% (at a true 95%, 180 or fewer of 200 has a
//! probability of 0.2%) and at most 99% (intervals that nearly always cover are wider than
//! they need be). The percentile bootstrap over points that `fit_power_law` used before the
//! fixed-design residual bootstrap with its t correction covered α in 75% and E in 71.5% of
//! data sets with 4 points and a free offset, so this test fails on it.
//!
//! **Frontier methods** (`scalinglab fit`). `examples/bootstrap_coverage.rs` in small: 40
//! sweeps of an IsoFLOP design (5 budgets × 5 model sizes ×3 apart around the optimum, 2%
//! noise), each of the four methods with the default residual bootstrap (200 resamples, as a
//! sweep report draws); approach 1 also gets training curves (8 points per run, the run's
//! noise factor along the whole curve plus an independent quarter of it per point). The 95%
//! interval of the `N_opt` exponent must contain the method's noise-free answer in at least
//! 34 of 40 sweeps (33 or fewer has a probability of 0.3% at a true 95%, and of 2% at 93%).
//! Approach 3's E, α and β intervals must contain the true law's in as many sweeps.
//! Measured: approach 1 90%, approach 2 100%, approach 3 97.5% (E 90%, α 95%, β 100%),
//! surface 100%. Before the envelope's argmin was refined between model sizes, approach 1
//! covered 80%; with 60 resamples instead of 200, 85% (tail quantiles of 60 draws sit inside
//! the true ones).
//!
//! Every measured coverage is printed (`cargo test ... -- --nocapture`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_analysis::frontier::{
    AnalysisSettings, CurvePoint, JointFitOptions, JointLaw, Method, ScalingData, ScalingPoint,
    analyze,
};
use scalinglab_analysis::{FitOptions, Offset, fit_power_law};

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha12Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The power law's truth.
const E: f64 = 2.0;
const A: f64 = 5.0;
const ALPHA: f64 = 0.4;
/// Multiplicative noise of the losses (standard deviation of the log).
const NOISE: f64 = 0.005;
/// Data sets per design and offset.
const REPEATS: u64 = 200;
/// Resamples per fit: half the sweep report's 200 (`AnalysisOptions::default().bootstrap`),
/// to halve the time; with 200 the coverage figures differed by at most half a point.
const BOOTSTRAP: usize = 100;

/// `n` sizes from 100, `ratio` apart.
fn design(n: i32, ratio: f64) -> Vec<f64> {
    (0..n).map(|k| 100.0 * ratio.powi(k)).collect()
}

/// Coverage of `α` and `E` by their intervals over [`REPEATS`] data sets.
struct Coverage {
    alpha: f64,
    e: f64,
    /// Mean width of the α interval over 3.92 standard deviations of the α estimates (the
    /// width of a 95% interval with the noise level known).
    alpha_width_ratio: f64,
}

fn power_law_coverage(x: &[f64], offset: Offset, noise: f64, bootstrap: usize) -> Coverage {
    let (mut alpha_in, mut e_in, mut width) = (0usize, 0usize, 0.0);
    let mut estimates = Vec::new();
    for r in 0..REPEATS {
        let mut rng = ChaCha12Rng::seed_from_u64(1000 + r);
        let y: Vec<f64> =
            x.iter().map(|x| (E + A * x.powf(-ALPHA)) * (noise * normal(&mut rng)).exp()).collect();
        let opts = FitOptions { offset, bootstrap, seed: r, ..Default::default() };
        let fit = fit_power_law(x, &y, &opts).unwrap();
        let (lo, hi) = fit.alpha_ci.unwrap_or_else(|| panic!("no α interval: {fit:?}"));
        alpha_in += usize::from(lo <= ALPHA && ALPHA <= hi);
        width += hi - lo;
        estimates.push(fit.alpha);
        if let Offset::Free = offset {
            let (lo, hi) = fit.e_ci.unwrap_or_else(|| panic!("no E interval: {fit:?}"));
            e_in += usize::from(lo <= E && E <= hi);
        } else {
            assert!(fit.e_ci.is_none());
        }
    }
    let k = REPEATS as f64;
    let mean = estimates.iter().sum::<f64>() / k;
    let sd = (estimates.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
    Coverage {
        alpha: alpha_in as f64 / k,
        e: e_in as f64 / k,
        alpha_width_ratio: width / k / (3.92 * sd),
    }
}

fn check_power_law(name: &str, x: &[f64], offset: Offset) {
    let c = power_law_coverage(x, offset, NOISE, BOOTSTRAP);
    eprintln!(
        "fit_power_law {name}, {offset:?}: alpha_ci nominal 95%, achieved {:.1}% of {REPEATS} \
         (mean width {:.2}× 3.92 sd of the estimates)",
        100.0 * c.alpha,
        c.alpha_width_ratio
    );
    let mut kinds = vec![("alpha_ci", c.alpha)];
    if let Offset::Free = offset {
        eprintln!(
            "fit_power_law {name}, {offset:?}: e_ci nominal 95%, achieved {:.1}% of {REPEATS}",
            100.0 * c.e
        );
        kinds.push(("e_ci", c.e));
    }
    for (kind, achieved) in kinds {
        assert!(
            (0.90..=0.99).contains(&achieved),
            "{name}, {offset:?}: {kind} covered the truth in {:.1}% of {REPEATS} data sets",
            100.0 * achieved
        );
    }
}

#[test]
fn power_law_intervals_cover_with_a_fixed_offset() {
    check_power_law("5 points x2 apart", &design(5, 2.0), Offset::Fixed(E));
    check_power_law("4 points x3 apart", &design(4, 3.0), Offset::Fixed(E));
}

#[test]
fn power_law_intervals_cover_with_a_free_offset_on_five_points() {
    check_power_law("5 points x2 apart", &design(5, 2.0), Offset::Free);
}

#[test]
fn power_law_intervals_cover_with_a_free_offset_on_four_points() {
    check_power_law("4 points x3 apart", &design(4, 3.0), Offset::Free);
}

#[test]
fn power_law_intervals_need_a_degree_of_freedom() {
    // Three points and three parameters: the fit interpolates, the residuals are all zero and
    // say nothing about the noise, so no interval is claimed.
    let x = design(3, 3.0);
    let y: Vec<f64> = x.iter().map(|x| (E + A * x.powf(-ALPHA)) * 1.003).collect();
    let fit = fit_power_law(&x, &y, &FitOptions::default()).unwrap();
    assert_eq!(fit.dof(), 0);
    assert!(fit.alpha_ci.is_none() && fit.e_ci.is_none(), "{fit:?}");
}

/// The example's law: the optimum inside 3e3–4e5 parameters at 1e10–1e12 FLOPs, `N_opt ∝ C^0.4`.
const LAW: JointLaw = JointLaw { e: 1.8, a: 400.0, b: 300.0, alpha: 0.36, beta: 0.24 };
const SWEEPS: u64 = 40;
/// Resamples per sweep: a sweep report's 200 (the command's default is 1,000).
const FRONTIER_BOOTSTRAP: usize = 200;
/// Least number of the 40 sweeps whose interval must cover.
const MIN_COVERED: usize = 34;

/// Points per training curve (tokens halving from the run's `D`).
const CURVE_POINTS: i32 = 8;
const CURVE_JITTER: f64 = 0.25;

/// The example's `iso` design: 5 budgets, 5 model sizes ×3 apart around each optimum. With
/// `curves`, each run also has a training curve: the law's loss at [`CURVE_POINTS`] token
/// counts halving from its `D`, times the run's own noise factor (a run that lands high lands
/// high all along its curve) and an independent quarter of the noise per point.
fn iso_sweep(noise: f64, seed: u64, with_curves: bool) -> ScalingData {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let mut points = Vec::new();
    let mut curves = Vec::new();
    for c in [1e10, 3e10, 1e11, 3e11, 1e12] {
        let (n0, _) = LAW.optimum_closed_form(c, 6.0).unwrap();
        for k in -2..=2 {
            let n = n0 * 3f64.powi(k) * 1.1;
            let d = c / (6.0 * n);
            let run_noise = (noise * normal(&mut rng)).exp();
            let loss = LAW.loss(n, d) * run_noise;
            let run_id = format!("r{}", points.len());
            if with_curves {
                for j in (0..CURVE_POINTS).rev() {
                    let t = d * 0.5f64.powi(j);
                    let jitter =
                        if j == 0 { 1.0 } else { (CURVE_JITTER * noise * normal(&mut rng)).exp() };
                    curves.push(CurvePoint {
                        run_id: run_id.clone(),
                        tokens_seen: t,
                        flops_so_far: 6.0 * n * t,
                        loss: LAW.loss(n, t) * run_noise * jitter,
                    });
                }
            }
            points.push(ScalingPoint { run_id, n, d, c, loss });
        }
    }
    ScalingData::synthetic(points, curves, "synthetic")
}

fn check_frontier(method: Method, with_curves: bool) {
    let settings = AnalysisSettings {
        methods: vec![method],
        bootstrap: FRONTIER_BOOTSTRAP,
        windows: false,
        holdout_sizes: 0,
        joint: JointFitOptions { starts: 200, ..Default::default() },
        ..Default::default()
    };
    // The method's answer without noise: what its intervals should contain.
    let clean = analyze(
        &iso_sweep(0.0, 0, with_curves),
        &AnalysisSettings { bootstrap: 0, ..settings.clone() },
    )
    .unwrap();
    let target = clean.method(method).unwrap().allocation.as_ref().unwrap().n_exponent.value;
    assert!((target - LAW.n_opt_exponent()).abs() < 0.05, "{method}: noise-free a = {target}");
    let (mut covered, mut width) = (0, 0.0);
    // Approach 3's law parameters (E, α, β) against the truth.
    let mut law_covered = [0usize; 3];
    for k in 0..SWEEPS {
        let set = AnalysisSettings { seed: k, ..settings.clone() };
        let r = analyze(&iso_sweep(0.02, 100 + k, with_curves), &set).unwrap();
        if let Some(j) = &r.joint {
            for (slot, (e, truth)) in
                [(&j.e, LAW.e), (&j.alpha, LAW.alpha), (&j.beta, LAW.beta)].into_iter().enumerate()
            {
                let (lo, hi) = e.ci.unwrap_or_else(|| panic!("approach 3: no interval {e:?}"));
                law_covered[slot] += usize::from(lo <= truth && truth <= hi);
            }
        }
        let rep = r.method(method).unwrap();
        let a = rep.allocation.as_ref().unwrap_or_else(|| panic!("{method}: {:?}", rep.error));
        let (lo, hi) = a.n_exponent.ci.unwrap_or_else(|| panic!("{method}: {:?}", rep.notes));
        covered += usize::from(lo <= target && target <= hi);
        width += hi - lo;
    }
    eprintln!(
        "{method} N_opt exponent: nominal 95%, achieved {covered}/{SWEEPS} ({:.1}%) of the \
         noise-free a = {target:.3}; mean width {:.3}",
        100.0 * covered as f64 / SWEEPS as f64,
        width / SWEEPS as f64
    );
    assert!(covered >= MIN_COVERED, "{method}: covered {covered}/{SWEEPS}");
    if method == Method::Approach3 {
        for (name, c) in ["E", "alpha", "beta"].into_iter().zip(law_covered) {
            eprintln!("approach3 {name}: nominal 95%, achieved {c}/{SWEEPS} of the truth");
            assert!(c >= MIN_COVERED, "approach 3 {name}: covered {c}/{SWEEPS}");
        }
    }
}

#[test]
fn approach3_n_opt_exponent_interval_covers() {
    check_frontier(Method::Approach3, false);
}

#[test]
fn approach2_n_opt_exponent_interval_covers() {
    check_frontier(Method::Approach2, false);
}

#[test]
fn approach1_n_opt_exponent_interval_covers_with_training_curves() {
    check_frontier(Method::Approach1, true);
}

#[test]
fn surface_n_opt_exponent_interval_covers() {
    check_frontier(Method::Surface, false);
}

/// Kaplan et al.'s joint law `[(N_c/N)^(α_N/α_D) + D_c/D]^α_D`: over 120 simulated 5 × 5
/// grids with 2% log-normal noise, the 95% residual-bootstrap intervals of `α_N` and `α_D` must
/// hold the true exponents in at least 90% (measured: 109 and 112 of 120; 109 and 109 before the
/// t/z widening).
#[test]
fn kaplan_law_exponent_intervals_cover() {
    use scalinglab_analysis::frontier::{KaplanFitOptions, KaplanLaw, fit_kaplan_law};
    let start = std::time::Instant::now();
    let truth = KaplanLaw { n_c: 1e7, d_c: 1e9, alpha_n: 0.3, alpha_d: 0.25 };
    let (sweeps, mut cover_n, mut cover_d, mut width_n) = (120u64, 0, 0, 0.0);
    for seed in 0..sweeps {
        let mut rng = ChaCha12Rng::seed_from_u64(0x4B41 + seed);
        let mut pts = Vec::new();
        for &n in &[1e6, 5e6, 2e7, 1e8, 5e8] {
            for &d in &[1e8, 5e8, 2e9, 1e10, 5e10] {
                let loss = truth.loss(n, d) * (0.02 * normal(&mut rng)).exp();
                pts.push(ScalingPoint { run_id: format!("{n}_{d}"), n, d, c: 6.0 * n * d, loss });
            }
        }
        let opts = KaplanFitOptions { bootstrap: 200, seed, ..Default::default() };
        let fit = fit_kaplan_law(&pts, &opts).unwrap();
        let (nlo, nhi) = fit.alpha_n_ci.unwrap();
        let (dlo, dhi) = fit.alpha_d_ci.unwrap();
        cover_n += usize::from(nlo <= truth.alpha_n && truth.alpha_n <= nhi);
        cover_d += usize::from(dlo <= truth.alpha_d && truth.alpha_d <= dhi);
        width_n += (nhi - nlo) / sweeps as f64;
    }
    eprintln!(
        "Kaplan law, {sweeps} grids of 25 runs, 2% noise, nominal 95%: α_N covered {cover_n}/{sweeps}, \
         α_D {cover_d}/{sweeps}; mean width of α_N's interval {width_n:.3} (α_N = 0.3); {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(cover_n >= 108 && cover_d >= 108, "α_N {cover_n}/120, α_D {cover_d}/120");
}

//! The answers of `scalinglab fit --budget C --predict N,D` ([`FitReport::answers`]).
//!
//! **Coverage.** 40 IsoFLOP sweeps drawn from a known law `L(N, D) = E + A/N^α + B/D^β` (5
//! budgets 1e10–1e12 FLOPs × 5 model sizes ×3 apart around each optimum, 2% log-normal
//! noise, the design of `coverage_fits.rs`), fitted by approach 3 with the default residual
//! bootstrap (200 starts and 60 resamples instead of 4,500 and 1,000, to stay fast). At a
//! budget inside the runs (3e11) and one 10× beyond the largest (1e13), the 95% intervals of
//! `N_opt` and of the loss at the optimum must contain the law's closed-form values in at
//! least 34 of 40 sweeps (33 or fewer has a probability of 0.3% at a true 95%, and of 2% at
//! 93%); likewise the interval of `L(N, D)` at a user-given `(N, D)`. Each coverage is
//! printed (`cargo test --test coverage_answers -- --nocapture`).
//!
//! **Exactness.** On noise-free data approach 3's answers equal the law's closed-form optimum
//! and its losses; the surface predicts inside the runs and refuses outside; approaches 1 and
//! 2 give a loss at the optimum only between their own optima.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_analysis::frontier::{
    AnalysisSettings, Estimate, JointFitOptions, JointLaw, Method, OptimumLoss, ScalingData,
    ScalingPoint, analyze,
};

/// The law of `coverage_fits.rs`: the optimum inside 3e3–4e5 parameters at 1e10–1e12 FLOPs.
const LAW: JointLaw = JointLaw { e: 1.8, a: 400.0, b: 300.0, alpha: 0.36, beta: 0.24 };
const SWEEPS: u64 = 40;
/// Resamples per sweep (the command's default is 1,000).
const BOOTSTRAP: usize = 60;
/// Least number of the 40 sweeps whose interval must cover.
const MIN_COVERED: usize = 34;
/// Budgets asked: inside the runs, and 10× beyond the largest run.
const BUDGETS: [f64; 2] = [3e11, 1e13];
/// A user-given (N, D) inside the runs' N and D.
const PREDICT: (f64, f64) = (2e4, 1e6);

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha12Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// 5 budgets, 5 model sizes ×3 apart around each optimum, log-normal noise `noise`.
fn iso_sweep(noise: f64, seed: u64) -> ScalingData {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let mut points = Vec::new();
    for c in [1e10, 3e10, 1e11, 3e11, 1e12] {
        let (n0, _) = LAW.optimum_closed_form(c, 6.0).unwrap();
        for k in -2..=2 {
            let n = n0 * 3f64.powi(k) * 1.1;
            let d = c / (6.0 * n);
            let loss = LAW.loss(n, d) * (noise * normal(&mut rng)).exp();
            points.push(ScalingPoint { run_id: format!("r{}", points.len()), n, d, c, loss });
        }
    }
    ScalingData::synthetic(points, Vec::new(), "synthetic")
}

fn settings(methods: Vec<Method>, bootstrap: usize, seed: u64) -> AnalysisSettings {
    AnalysisSettings {
        methods,
        bootstrap,
        seed,
        windows: false,
        holdout_sizes: 0,
        joint: JointFitOptions { starts: 200, ..Default::default() },
        budgets: BUDGETS.to_vec(),
        predict: vec![PREDICT],
        ..Default::default()
    }
}

/// Counts sweeps whose interval holds the truth, and sums the relative widths.
#[derive(Default)]
struct Tally {
    covered: usize,
    width: f64,
}

impl Tally {
    fn add(&mut self, name: &str, e: &Option<Estimate>, truth: f64) {
        let e = e.unwrap_or_else(|| panic!("{name}: no estimate"));
        let (lo, hi) = e.ci.unwrap_or_else(|| panic!("{name}: no interval ({e:?})"));
        self.covered += usize::from(lo <= truth && truth <= hi);
        self.width += hi / lo - 1.0;
    }

    fn report(&self, name: &str) -> usize {
        eprintln!(
            "{name}: nominal 95%, achieved {}/{SWEEPS} ({:.1}%); mean width hi/lo − 1 = {:.3}",
            self.covered,
            100.0 * self.covered as f64 / SWEEPS as f64,
            self.width / SWEEPS as f64
        );
        self.covered
    }
}

#[test]
fn approach3_intervals_at_a_budget_cover_the_truth() {
    let mut n_opt = [Tally::default(), Tally::default()];
    let mut loss = [Tally::default(), Tally::default()];
    let mut predicted = Tally::default();
    for k in 0..SWEEPS {
        let r =
            analyze(&iso_sweep(0.02, 100 + k), &settings(vec![Method::Approach3], BOOTSTRAP, k))
                .unwrap();
        let a = r.answers.as_ref().expect("answers");
        for (i, &c) in BUDGETS.iter().enumerate() {
            let (n_true, d_true) = LAW.optimum_closed_form(c, 6.0).unwrap();
            let m = &a.budgets[i].methods[0];
            assert_eq!(m.method, Method::Approach3);
            n_opt[i].add(&format!("N_opt at {c:e}"), &m.n_opt, n_true);
            loss[i].add(&format!("loss at {c:e}"), &m.loss, LAW.loss(n_true, d_true));
        }
        let p = &a.predictions[0].methods[0];
        predicted.add("L(N, D)", &p.loss, LAW.loss(PREDICT.0, PREDICT.1));
    }
    let mut covered = Vec::new();
    for (i, c) in BUDGETS.iter().enumerate() {
        covered.push((
            format!("N_opt at C = {c:e}"),
            n_opt[i].report(&format!("approach 3 N_opt at C = {c:e}")),
        ));
        covered.push((
            format!("loss at C = {c:e}"),
            loss[i].report(&format!("approach 3 loss at optimum, C = {c:e}")),
        ));
    }
    covered.push(("L(N, D)".into(), predicted.report("approach 3 L(2e4, 1e6)")));
    for (name, k) in covered {
        assert!(k >= MIN_COVERED, "{name}: covered {k}/{SWEEPS}");
    }
}

#[test]
fn answers_on_noise_free_data_equal_the_law() {
    let all = vec![Method::Approach1, Method::Approach2, Method::Approach3, Method::Surface];
    let r = analyze(&iso_sweep(0.0, 0), &settings(all, 0, 0)).unwrap();
    let a = r.answers.as_ref().expect("answers");
    assert_eq!(a.budgets.len(), 2);
    assert_eq!(a.budgets[0].extrapolation, None, "3e11 lies inside the runs");
    let beyond = a.budgets[1].extrapolation.unwrap();
    assert!((beyond - 10.0).abs() < 1e-9, "1e13 is ×10 beyond the largest run: {beyond}");
    for (i, &c) in BUDGETS.iter().enumerate() {
        let (n_true, d_true) = LAW.optimum_closed_form(c, 6.0).unwrap();
        let b = &a.budgets[i];
        let m3 = b.methods.iter().find(|m| m.method == Method::Approach3).unwrap();
        let rel = |e: &Option<Estimate>, t: f64| (e.unwrap().value / t - 1.0).abs();
        assert!(rel(&m3.n_opt, n_true) < 1e-3, "{c:e}: N_opt {:?} vs {n_true:e}", m3.n_opt);
        assert!(rel(&m3.d_opt, d_true) < 1e-3, "{c:e}: D_opt {:?} vs {d_true:e}", m3.d_opt);
        assert!(
            rel(&m3.tokens_per_param, d_true / n_true) < 2e-3,
            "{c:e}: D/N {:?}",
            m3.tokens_per_param
        );
        assert!(rel(&m3.loss, LAW.loss(n_true, d_true)) < 1e-5, "{c:e}: loss {:?}", m3.loss);
        assert_eq!(m3.loss_source, OptimumLoss::Law);
        assert!(m3.n_opt.unwrap().ci.is_none(), "no resamples, no interval");
        // Approach 2: a loss between its optima, none 10× beyond them.
        let m2 = b.methods.iter().find(|m| m.method == Method::Approach2).unwrap();
        assert!(m2.error.is_none(), "{:?}", m2.error);
        if i == 0 {
            assert!(matches!(m2.loss_source, OptimumLoss::Interpolated { .. }));
            assert!(
                rel(&m2.loss, LAW.loss(n_true, d_true)) < 5e-3,
                "approach 2 loss {:?}",
                m2.loss
            );
        } else {
            assert!(
                m2.loss.is_none() && matches!(m2.loss_source, OptimumLoss::OutsideOptima { .. })
            );
            assert!(rel(&m2.n_opt, n_true) < 0.2, "approach 2 N_opt {:?} vs {n_true:e}", m2.n_opt);
        }
    }
    // L(N, D): the law's value from approach 3, the surface inside the runs only.
    let p = &a.predictions[0];
    assert_eq!((p.n_extrapolation, p.d_extrapolation), (None, None));
    assert!((p.c / (6.0 * PREDICT.0 * PREDICT.1) - 1.0).abs() < 1e-12);
    let truth = LAW.loss(PREDICT.0, PREDICT.1);
    let got = |m: Method| p.methods.iter().find(|x| x.method == m).unwrap().loss;
    assert!((got(Method::Approach3).unwrap().value / truth - 1.0).abs() < 1e-5);
    assert!(
        (got(Method::Surface).unwrap().value / truth - 1.0).abs() < 0.01,
        "{:?}",
        got(Method::Surface)
    );
    assert_eq!(p.methods.len(), 2, "approaches 1 and 2 give no L(N, D)");
    // Outside the runs: approach 3 extrapolates (and says how far), the surface refuses.
    let far = analyze(
        &iso_sweep(0.0, 0),
        &AnalysisSettings {
            predict: vec![(1e8, 1e6)],
            ..settings(vec![Method::Approach3, Method::Surface], 0, 0)
        },
    )
    .unwrap();
    let p = &far.answers.as_ref().unwrap().predictions[0];
    assert!(p.n_extrapolation.unwrap() > 10.0, "{p:?}");
    let s = p.methods.iter().find(|x| x.method == Method::Surface).unwrap();
    assert!(
        s.loss.is_none() && s.error.as_deref().unwrap().contains("does not extrapolate"),
        "{s:?}"
    );
    let md = far.markdown();
    assert!(md.contains("## Answers at your budgets") && md.contains("95% CI"), "{md}");
    assert!(md.contains("extrapolated ×10.0 beyond the largest run's compute"), "{md}");
    assert!(far.summary_text().contains("Answers at your budgets"));
    // Nothing asked, nothing answered; bad values are refused naming the field.
    let none = AnalysisSettings {
        budgets: vec![],
        predict: vec![],
        ..settings(vec![Method::Approach3], 0, 0)
    };
    assert!(analyze(&iso_sweep(0.0, 0), &none).unwrap().answers.is_none());
    let bad = AnalysisSettings { budgets: vec![f64::INFINITY], ..none };
    let m = analyze(&iso_sweep(0.0, 0), &bad).unwrap_err().to_string();
    assert!(m.contains("budgets") && m.contains("inf"), "{m}");
}

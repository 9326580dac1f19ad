//! The timing the issue asks for: approach 3 from Chinchilla's 4,500 starts with 1,000
//! bootstrap resamples on 256 points ([`fit_benchmark`]), for `scalinglab bench` or the
//! `fit_bench` example; and the comparison with scipy's L-BFGS-B from the same starts on the
//! same points ([`ScipyReference`], from `bench/scipy_reference.py`, which reads the files of
//! [`points_csv`] and [`starts_csv`]).

use std::fmt::Write as _;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use super::analysis::MethodDetail;
use super::analysis::{AnalysisSettings, JointReport, Resampling, analyze};
use super::data::{ScalingData, ScalingPoint};
use super::joint::{JointFitOptions, JointLaw, initial_points};
use super::{Estimate, Method};
use crate::error::AnalysisError;

/// Timings and results of [`fit_benchmark`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitBenchmark {
    /// Points fitted.
    pub points: usize,
    /// L-BFGS starts of the full-data fit.
    pub starts: usize,
    /// Bootstrap resamples requested.
    pub bootstrap: usize,
    /// Resamples that could be fitted.
    pub bootstrap_ok: usize,
    /// How resamples were drawn.
    pub resampling: Resampling,
    /// Rayon worker threads.
    pub threads: usize,
    /// Wall time of the full-data fit (all starts), seconds.
    pub fit_seconds: f64,
    /// The full-data fit's law, at full precision.
    pub law: JointLaw,
    /// The full-data fit's `Σᵢ Huber_δ(rᵢ)` (Chinchilla's objective).
    pub objective: f64,
    /// Starts of the full-data fit that reached the best objective (within a relative 10⁻⁶).
    pub starts_at_best: usize,
    /// Starts of the full-data fit stopped early in a basin already found.
    pub stopped_early: usize,
    /// L-BFGS iterations of the full-data fit, all starts together.
    pub iterations: usize,
    /// Wall time of the bootstrap, seconds.
    pub bootstrap_seconds: f64,
    /// Wall time of the whole analysis, seconds.
    pub wall_seconds: f64,
    /// The fitted parameters with intervals.
    pub joint: JointReport,
    /// The law the points were drawn from.
    pub truth: JointLaw,
}

/// 256 points on a 16 × 16 grid (`N` 1e7–1e10, `D` 1e9–1e12, log-spaced) from the
/// published Chinchilla law with 1% log-normal noise, seeded.
pub fn benchmark_points(seed: u64) -> Vec<ScalingPoint> {
    let law = JointLaw::CHINCHILLA;
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let mut points = Vec::with_capacity(256);
    for i in 0..16 {
        for j in 0..16 {
            let n = 1e7 * 10f64.powf(3.0 * i as f64 / 15.0);
            let d = 1e9 * 10f64.powf(3.0 * j as f64 / 15.0);
            // Box–Muller.
            let (u1, u2): (f64, f64) =
                (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let loss = law.loss(n, d) * (0.01 * z).exp();
            points.push(ScalingPoint { run_id: format!("n{i}_d{j}"), n, d, c: 6.0 * n * d, loss });
        }
    }
    points
}

/// Times approach 3 on [`benchmark_points`]: the full-data fit from `starts` L-BFGS starts
/// (4,500 = Chinchilla's grid, the issue's benchmark; in parallel), then `bootstrap` resamples
/// (1,000 in the issue) drawn as `resampling` says, each refitted from the full fit's best
/// optima. No fit windows, no extrapolation check.
///
/// # Errors
///
/// Invalid `starts` (0), or a failed fit, which would be a bug.
pub fn fit_benchmark(
    resampling: Resampling,
    starts: usize,
    bootstrap: usize,
    seed: u64,
) -> Result<FitBenchmark, AnalysisError> {
    let data = ScalingData::synthetic(
        benchmark_points(seed),
        Vec::new(),
        "synthetic Chinchilla law, 1% noise",
    );
    let settings = AnalysisSettings {
        methods: vec![Method::Approach3],
        bootstrap,
        resampling,
        seed,
        joint: JointFitOptions { starts, ..Default::default() },
        holdout_sizes: 0,
        windows: false,
        ..Default::default()
    };
    let t = Instant::now();
    let report = analyze(&data, &settings)?;
    let wall_seconds = t.elapsed().as_secs_f64();
    let failed = || AnalysisError::FitFailed {
        context: "fit benchmark".into(),
        message: "approach 3 gave no result".into(),
    };
    let m = report.method(Method::Approach3).ok_or_else(failed)?;
    let joint = report.joint.clone().ok_or_else(failed)?;
    let Some(MethodDetail::Joint(fit)) = &m.detail else { return Err(failed()) };
    Ok(FitBenchmark {
        points: data.points.len(),
        starts: settings.joint.starts,
        bootstrap,
        bootstrap_ok: m.bootstrap_ok,
        resampling,
        threads: rayon::current_num_threads(),
        fit_seconds: m.fit_seconds,
        law: fit.law,
        objective: fit.objective,
        starts_at_best: fit.starts_at_best,
        stopped_early: fit.stopped_early,
        iterations: fit.iterations,
        bootstrap_seconds: m.bootstrap_seconds,
        wall_seconds,
        joint,
        truth: JointLaw::CHINCHILLA,
    })
}

impl FitBenchmark {
    /// A few lines for the terminal: timings, then each parameter against the truth.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "approach 3 on {} points: {} L-BFGS starts {:.3} s ({} iterations, {} starts stopped in a known basin), \
             {} bootstrap resamples ({}, {} fitted) {:.2} s; total {:.2} s on {} threads",
            self.points,
            self.starts,
            self.fit_seconds,
            self.iterations,
            self.stopped_early,
            self.bootstrap,
            self.resampling.name(),
            self.bootstrap_ok,
            self.bootstrap_seconds,
            self.wall_seconds,
            self.threads
        );
        let j = &self.joint;
        let t = &self.truth;
        for (name, e, truth) in [
            ("E", j.e, t.e),
            ("A", j.a, t.a),
            ("B", j.b, t.b),
            ("α", j.alpha, t.alpha),
            ("β", j.beta, t.beta),
        ] {
            let _ = writeln!(s, "  {name} = {} (truth {truth})", show(&e));
        }
        s
    }
}

/// [`benchmark_points`] as CSV (`run_id,n,d,loss`, every number with the digits that
/// round-trip), for `bench/scipy_reference.py`.
pub fn points_csv(seed: u64) -> String {
    let mut s = String::from("run_id,n,d,loss\n");
    for p in benchmark_points(seed) {
        let _ = writeln!(s, "{},{:e},{:e},{:e}", p.run_id, p.n, p.d, p.loss);
    }
    s
}

/// The `starts` L-BFGS starts of [`fit_benchmark`] ([`initial_points`] with the default seed:
/// Chinchilla's grid for 4,500) as CSV (`a,b,e,alpha,beta`, in the order the fit numbers
/// them), for `bench/scipy_reference.py`.
pub fn starts_csv(starts: usize) -> String {
    let mut s = String::from("a,b,e,alpha,beta\n");
    for t in initial_points(starts, JointFitOptions::default().seed) {
        let _ = writeln!(s, "{:e},{:e},{:e},{:e},{:e}", t[0], t[1], t[2], t[3], t[4]);
    }
    s
}

/// What `bench/scipy_reference.py` prints: scipy's L-BFGS-B from the same starts on the same
/// points and objective (see bench/README.md).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScipyReference {
    /// scipy's version.
    pub scipy: String,
    /// Points fitted.
    pub points: usize,
    /// Starts run.
    pub starts: usize,
    /// Worker processes (1: one start after another, as Chinchilla's reproduction runs them).
    pub jobs: usize,
    /// Wall time of all the minimisations, seconds.
    pub seconds: f64,
    /// Starts for which `minimize` reported success.
    pub converged: usize,
    /// Starts that ended within a relative 10⁻⁶ of the best objective.
    pub starts_at_best: usize,
    /// The best optimum.
    pub best: ScipyOptimum,
}

/// The best optimum of [`ScipyReference`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScipyOptimum {
    /// `Σᵢ Huber_δ(rᵢ)` at the optimum.
    pub objective: f64,
    /// `E`.
    pub e: f64,
    /// `A`.
    pub a: f64,
    /// `B`.
    pub b: f64,
    /// `α`.
    pub alpha: f64,
    /// `β`.
    pub beta: f64,
}

impl ScipyReference {
    /// Parses the script's JSON.
    ///
    /// # Errors
    ///
    /// The text is not the script's JSON object.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Our full-data fit against scipy's: both times, the ratio, and both optima side by side
    /// with their relative differences.
    pub fn comparison_text(&self, ours: &FitBenchmark) -> String {
        let mut s = String::new();
        if (self.points, self.starts) != (ours.points, ours.starts) {
            let _ = writeln!(
                s,
                "warning: scipy fitted {} points from {} starts, we {} from {}: not the same benchmark",
                self.points, self.starts, ours.points, ours.starts
            );
        }
        let _ = writeln!(
            s,
            "{} L-BFGS starts on {} points: ours {:.3} s ({} threads), scipy {} L-BFGS-B {:.1} s ({} process{}): \
             {:.0}× faster",
            ours.starts,
            ours.points,
            ours.fit_seconds,
            ours.threads,
            self.scipy,
            self.seconds,
            self.jobs,
            if self.jobs == 1 { "" } else { "es" },
            self.seconds / ours.fit_seconds
        );
        let _ = writeln!(s, "  {:<10} {:>22} {:>22} {:>10}", "", "ours", "scipy", "rel. diff");
        let l = &ours.law;
        let b = &self.best;
        for (name, x, y) in [
            ("Σ Huber", ours.objective, b.objective),
            ("E", l.e, b.e),
            ("A", l.a, b.a),
            ("B", l.b, b.b),
            ("α", l.alpha, b.alpha),
            ("β", l.beta, b.beta),
        ] {
            let rel = (x - y).abs() / y.abs().max(f64::MIN_POSITIVE);
            let _ = writeln!(s, "  {name:<10} {x:>22.12e} {y:>22.12e} {rel:>10.1e}");
        }
        let _ = writeln!(
            s,
            "  starts at the best objective: ours {} of {}, scipy {} of {} ({} reported success)",
            ours.starts_at_best, ours.starts, self.starts_at_best, self.starts, self.converged
        );
        s
    }
}

fn show(e: &Estimate) -> String {
    match e.ci {
        Some((lo, hi)) => format!("{:.4} [{lo:.4}, {hi:.4}]", e.value),
        None => format!("{:.4}", e.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_data_and_a_small_run() {
        let p = benchmark_points(1);
        assert_eq!(p.len(), 256);
        assert_eq!(p, benchmark_points(1), "seeded");
        // A small run (the full benchmark takes seconds: examples/fit_bench.rs).
        let b = fit_benchmark(Resampling::Residuals, 100, 12, 1).unwrap();
        assert_eq!((b.points, b.starts, b.bootstrap_ok), (256, 100, 12));
        assert!((b.joint.alpha.value - 0.34).abs() < 0.02, "{}", b.summary_text());
        assert!(b.summary_text().contains("100 L-BFGS starts"));
        // The scipy comparison, from the script's JSON (abridged).
        let json = r#"{"kind": "scipy_reference", "scipy": "1.17.1", "points": 256, "starts": 100, "jobs": 1,
            "seconds": 2.0, "converged": 100, "starts_at_best": 40, "iterations": 5000,
            "best": {"start": 3, "objective": 0.00197, "theta": [6.07, 5.81, 0.51, 0.34, 0.27],
                     "e": 1.672, "a": 432.0, "b": 333.9, "alpha": 0.3439, "beta": 0.2693}}"#;
        let r = ScipyReference::from_json(json).unwrap();
        let text = r.comparison_text(&b);
        assert!(
            text.contains("scipy 1.17.1 L-BFGS-B 2.0 s") && text.contains("× faster"),
            "{text}"
        );
        assert!(text.contains("Σ Huber") && !text.contains("warning"), "{text}");
    }

    #[test]
    fn inputs_for_the_scipy_script() {
        let p = points_csv(1);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!((lines.len(), lines[0]), (257, "run_id,n,d,loss"));
        // Every number round-trips.
        for (line, q) in lines[1..].iter().zip(benchmark_points(1)) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f[0], q.run_id);
            let v: Vec<f64> = f[1..].iter().map(|x| x.parse().unwrap()).collect();
            assert_eq!(v, [q.n, q.d, q.loss]);
        }
        let s = starts_csv(4500);
        assert_eq!(s.lines().count(), 4501);
        assert_eq!(s.lines().nth(1), Some("0e0,0e0,-1e0,0e0,0e0"));
    }
}

//! The timing the issue asks for: approach 3 from Chinchilla's 4,500 starts with 1,000
//! bootstrap resamples on 256 points ([`fit_benchmark`]), for `scalinglab bench` or the
//! `fit_bench` example.

use std::fmt::Write as _;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use super::analysis::{AnalysisSettings, JointReport, Resampling, analyze};
use super::data::{ScalingData, ScalingPoint};
use super::joint::{JointFitOptions, JointLaw};
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
/// (4,500 = Chinchilla's grid, the benchmark; in parallel), then `bootstrap` resamples
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
    Ok(FitBenchmark {
        points: data.points.len(),
        starts: settings.joint.starts,
        bootstrap,
        bootstrap_ok: m.bootstrap_ok,
        resampling,
        threads: rayon::current_num_threads(),
        fit_seconds: m.fit_seconds,
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
            "approach 3 on {} points: {} L-BFGS starts {:.2} s, {} bootstrap resamples ({}, {} fitted) {:.2} s; \
             total {:.2} s on {} threads",
            self.points,
            self.starts,
            self.fit_seconds,
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
    }
}

//! How honest are the bootstrap intervals? Simulates many sweeps from a known law with
//! log-normal noise, runs every method with bootstrap intervals on each, and prints for each
//! method how often the 95% interval of the `N_opt` exponent contains the method's noise-free
//! answer, the mean interval width, and the actual spread of the estimates (3.92 standard
//! deviations is the width an honest 95% interval should have).
//!
//! ```text
//! cargo run -p scalinglab-analysis --example bootstrap_coverage -- \
//!     [noise 0.02] [design iso|iso9|grid] [resampling residuals|runs] [sweeps 40]
//! ```
//!
//! Designs: `iso`, 5 budgets × 5 model sizes ×3 apart around the optimum; `iso9`, 6 budgets ×
//! 9 sizes ×1.6 apart (Chinchilla's design, 54 runs); `grid`, 6 model sizes × 7 token
//! counts, both ×2.5 apart.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_analysis::frontier::{
    AnalysisSettings, JointFitOptions, JointLaw, Method, Resampling, ScalingData, ScalingPoint,
    analyze,
};

fn normal(rng: &mut ChaCha12Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn data(points: Vec<ScalingPoint>) -> ScalingData {
    ScalingData::synthetic(points, Vec::new(), "synthetic")
}

/// One sweep of `design` from `law` with multiplicative noise `noise`.
fn sweep(law: &JointLaw, design: &str, noise: f64, rng: &mut ChaCha12Rng) -> Vec<ScalingPoint> {
    let mut out = Vec::new();
    let mut push = |n: f64, d: f64| {
        let loss = law.loss(n, d) * (noise * normal(rng)).exp();
        let id = format!("r{}", out.len());
        out.push(ScalingPoint { run_id: id, n, d, c: 6.0 * n * d, loss });
    };
    match design {
        "iso" | "iso9" => {
            let (budgets, sizes, ratio): (Vec<f64>, i32, f64) = if design == "iso" {
                (vec![1e10, 3e10, 1e11, 3e11, 1e12], 2, 3.0)
            } else {
                ((0..6).map(|i| 1e10 * 3f64.powi(i)).collect(), 4, 1.6)
            };
            for c in budgets {
                let (n0, _) = law.optimum_closed_form(c, 6.0).expect("α, β > 0");
                for k in -sizes..=sizes {
                    let n = n0 * ratio.powi(k) * 1.1;
                    push(n, c / (6.0 * n));
                }
            }
        }
        _ => {
            for i in 0..6 {
                for j in 0..7 {
                    push(3000.0 * 2.5f64.powi(i), 3e4 * 2.5f64.powi(j));
                }
            }
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let noise: f64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(0.02);
    let design = args.get(2).cloned().unwrap_or_else(|| "iso".into());
    let resampling: Resampling =
        args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(Resampling::Residuals);
    let sweeps: u64 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(40);
    // Optimum inside 3e3–4e5 parameters at 1e10–1e12 FLOPs; N_opt ∝ C^0.4.
    let law = JointLaw { e: 1.8, a: 400.0, b: 300.0, alpha: 0.36, beta: 0.24 };
    let settings = AnalysisSettings {
        bootstrap: 200,
        resampling,
        windows: false,
        holdout_sizes: 0,
        joint: JointFitOptions { starts: 500, ..Default::default() },
        ..Default::default()
    };
    // Each method's answer without noise: what its intervals should contain.
    let clean = sweep(&law, &design, 0.0, &mut ChaCha12Rng::seed_from_u64(0));
    let clean = analyze(&data(clean), &AnalysisSettings { bootstrap: 0, ..settings.clone() })?;
    println!(
        "design {design}, noise {noise}, {} resampling, {sweeps} sweeps; the law's exponent {:.3}",
        resampling.name(),
        law.n_opt_exponent()
    );
    for m in Method::ALL {
        let Some(target) = clean.method(m).and_then(|r| r.allocation.as_ref()) else {
            println!("  {:<24} fails without noise", m.title());
            continue;
        };
        let target = target.n_exponent.value;
        let (mut covered, mut with_ci, mut width, mut values) = (0, 0, 0.0, Vec::new());
        for k in 0..sweeps {
            let pts = sweep(&law, &design, noise, &mut ChaCha12Rng::seed_from_u64(100 + k));
            let set = AnalysisSettings { methods: vec![m], seed: k, ..settings.clone() };
            let Ok(r) = analyze(&data(pts), &set) else { continue };
            let Some(a) = r.method(m).and_then(|r| r.allocation.as_ref()) else { continue };
            values.push(a.n_exponent.value);
            if let Some((lo, hi)) = a.n_exponent.ci {
                with_ci += 1;
                width += hi - lo;
                covered += usize::from(lo <= target && target <= hi);
            }
        }
        let n = values.len().max(2) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        println!(
            "  {:<24} noise-free a = {target:.3}; covered {covered}/{with_ci} ({} fits, {} with intervals); mean \
             width {:.3} vs 3.92 sd = {:.3} (estimates {mean:.3} ± {sd:.3})",
            m.title(),
            values.len(),
            with_ci,
            width / with_ci.max(1) as f64,
            3.92 * sd
        );
    }
    Ok(())
}

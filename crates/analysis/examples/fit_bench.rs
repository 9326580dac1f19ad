//! Times approach 3 as the issue asks: a 4,500-start fit (Chinchilla's grid) and 1,000
//! bootstrap resamples on 256 synthetic points from the published Chinchilla law with 1%
//! log-normal noise.
//!
//! ```text
//! cargo run -p scalinglab-analysis --release --example fit_bench
//! ```

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scalinglab_analysis::frontier::{
    AnalysisSettings, Conventions, JointLaw, Method, ScalingData, ScalingPoint, analyze,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let law = JointLaw::CHINCHILLA;
    let mut rng = StdRng::seed_from_u64(1);
    let mut points = Vec::new();
    for i in 0..16 {
        for j in 0..16 {
            let n = 1e7 * 10f64.powf(3.0 * i as f64 / 15.0);
            let d = 1e9 * 10f64.powf(3.0 * j as f64 / 15.0);
            // Box–Muller normal draw for 1% multiplicative noise.
            let (u1, u2): (f64, f64) =
                (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let loss = law.loss(n, d) * (0.01 * z).exp();
            points.push(ScalingPoint { run_id: format!("n{i}_d{j}"), n, d, c: 6.0 * n * d, loss });
        }
    }
    let data = ScalingData {
        points,
        curves: Vec::new(),
        conventions: Conventions {
            params: "synthetic".into(),
            compute: "C = 6ND".into(),
            compute_is_6nd: true,
        },
        source: "synthetic Chinchilla law, 1% noise".into(),
        warnings: Vec::new(),
    };
    let settings = AnalysisSettings {
        methods: vec![Method::Approach3],
        bootstrap: 1000,
        holdout_sizes: 0,
        windows: false,
        ..Default::default()
    };
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let report = analyze(&data, &settings)?;
    let wall = t.elapsed().as_secs_f64();
    let m = report.method(Method::Approach3).ok_or("approach 3 missing")?;
    let j = report.joint.as_ref().ok_or("approach 3 failed")?;
    println!(
        "{} points, {} starts, {} bootstrap resamples, {threads} threads",
        data.points.len(),
        settings.joint.starts,
        settings.bootstrap
    );
    println!("fit (4,500 L-BFGS starts): {:.2} s", m.fit_seconds);
    println!(
        "bootstrap ({} of {} resamples fitted): {:.2} s",
        m.bootstrap_ok, m.bootstrap_requested, m.bootstrap_seconds
    );
    println!("total wall time: {wall:.2} s");
    println!(
        "E = {:.4} {:?}, A = {:.1} {:?}, B = {:.1} {:?}, alpha = {:.4} {:?}, beta = {:.4} {:?}",
        j.e.value,
        j.e.ci,
        j.a.value,
        j.a.ci,
        j.b.value,
        j.b.ci,
        j.alpha.value,
        j.alpha.ci,
        j.beta.value,
        j.beta.ci
    );
    println!("truth: E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28");
    for n in &m.notes {
        println!("note: {n}");
    }
    Ok(())
}

//! Writes a full report for a synthetic sweep generated from a known law,
//! `L = E + A/N^α + B/D^β` with 2% multiplicative noise, so the fitted exponents can be
//! compared with the truth.
//!
//! ```text
//! cargo run -p scalinglab-analysis --example synthetic_report -- /tmp/synthetic-report
//! ```

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_analysis::{AnalysisOptions, RunRecord, RunStatus, summary_text, write_report};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("scalinglab-synthetic-report"));
    let (e, a, alpha, b, beta) = (2.0, 60.0, 0.35, 300.0, 0.3);
    let mut rng = ChaCha12Rng::seed_from_u64(42);
    let mut records = Vec::new();
    for (i, n) in [2e4, 6e4, 2e5, 6e5, 2e6].into_iter().enumerate() {
        for (j, d) in [1e6, 4e6, 1.6e7, 6.4e7].into_iter().enumerate() {
            let noise: f64 = rng.random_range(-0.02..0.02);
            let loss = (e + a * f64::powf(n, -alpha) + b * f64::powf(d, -beta)) * (1.0 + noise);
            let fpt = 6.0 * n + 6.0 * 2.0 * 128.0 * 64.0;
            records.push(RunRecord {
                run_id: format!("n{i}_d{j}"),
                arch: "gpt2".into(),
                d_model: 64 << i,
                n_layers: 2,
                n_heads: 4,
                context: 128,
                vocab_size: 512,
                params: n as u64 + 512 * 64,
                params_non_embedding: n as u64,
                tokens: d as u64,
                steps: (d / 12_800.0) as u64,
                batch_size: 100,
                lr: 1e-3,
                flops_per_token: fpt,
                flops: fpt * d,
                train_loss: loss * 0.98,
                eval_loss: loss,
                wall_seconds: 0.1 * (i + 1) as f64 * (j + 1) as f64,
                device: "cpu".into(),
                seed: 0,
                status: if i == 0 && j == 3 { RunStatus::Diverged } else { RunStatus::Ok },
                epochs: 1,
            });
        }
    }
    let opts = AnalysisOptions {
        title: "Synthetic sweep".into(),
        reference_loss: Some(("true E".into(), e)),
        unigram_loss: Some(6.0),
        bootstrap: 200,
        seed: 0,
        preamble: format!(
            "Generated from L = {e} + {a}/N^{alpha} + {b}/D^{beta} with ±2% uniform noise; \
             one run marked diverged."
        ),
        flop_convention: "6N + 6·2·128·64 (synthetic)".into(),
        broken_power_law: false,
    };
    let fits = write_report(&records, &opts, &out)?;
    print!("{}", summary_text(&fits));
    println!("report written to {}", out.display());
    Ok(())
}

//! `scalinglab fit` on two synthetic inputs with known truth:
//!
//! 1. a results file shaped like the quickstart sweep (4 widths × 4 token budgets), with
//!    losses from `L = 2.2 + 50/N^0.5 + 30/D^0.3` and 1% noise;
//! 2. a generic CSV of an IsoFLOP design at Chinchilla's scale (6 budgets × 9 model sizes)
//!    from the published law `E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28` with 1%
//!    noise, whose compute-optimal exponent is `β/(α+β) = 0.452`.
//!
//! ```text
//! cargo run -p scalinglab-analysis --example fit_demo -- /tmp/fit-demo
//! ```

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_analysis::frontier::JointLaw;
use scalinglab_analysis::{FitCommandOptions, ResultsWriter, RunRecord, RunStatus, fit_command};

fn normal(rng: &mut ChaCha12Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("fit-demo"));
    let mut rng = ChaCha12Rng::seed_from_u64(3);

    // 1. A quickstart-shaped results file (GPT-2, 2 layers, context 50, vocabulary 128).
    let dir = out.join("quickstart");
    std::fs::create_dir_all(&dir)?;
    let results = dir.join("results.csv");
    let _ = std::fs::remove_file(&results);
    let mut w = ResultsWriter::open(&results)?;
    let (layers, context, vocab) = (2usize, 50usize, 128usize);
    for width in [16usize, 32, 64, 128] {
        let d = width as u64;
        let non_emb = layers as u64 * (2 * 2 * d + 4 * d * d + 4 * d + 8 * d * d + 5 * d) + 2 * d;
        let emb = 2 * vocab as u64 * d + context as u64 * d;
        for tokens in [51_200u64, 102_400, 204_800, 409_600] {
            let n = non_emb as f64;
            let loss = (2.2 + 50.0 * n.powf(-0.5) + 30.0 * (tokens as f64).powf(-0.3))
                * (0.01 * normal(&mut rng)).exp();
            let fpt =
                6.0 * n + 6.0 * (layers * context * width) as f64 + 6.0 * (width * vocab) as f64;
            w.append(&RunRecord {
                run_id: format!("w{width}_d{tokens}"),
                arch: "gpt2".into(),
                d_model: width,
                n_layers: layers,
                n_heads: width / 16,
                context,
                vocab_size: vocab,
                params: non_emb + emb,
                params_non_embedding: non_emb,
                tokens,
                steps: tokens / 800,
                batch_size: 16,
                lr: 3e-3,
                flops_per_token: fpt,
                flops: fpt * tokens as f64,
                train_loss: loss,
                eval_loss: loss,
                wall_seconds: 1.0,
                device: "cpu".into(),
                seed: 0,
                status: RunStatus::Ok,
                epochs: 1,
            })?;
        }
    }
    let opts = FitCommandOptions {
        title: Some("Synthetic quickstart-shaped sweep".into()),
        ..Default::default()
    };
    let report = fit_command(&dir, &opts, &dir.join("fit"))?;
    println!("== quickstart-shaped results file ==\n{}", report.summary_text());

    // 2. A published-style CSV: IsoFLOP design at Chinchilla's scale.
    let law = JointLaw::CHINCHILLA;
    let csv = out.join("chinchilla_isoflop.csv");
    let mut text = String::from(
        "# synthetic IsoFLOP runs from the published Chinchilla law, 1% noise\nN,C,loss\n",
    );
    for c in [6e18, 1e19, 3e19, 6e19, 1e20, 3e20] {
        let (n0, _) = law.optimum_closed_form(c, 6.0).ok_or("no optimum")?;
        for k in -4..=4 {
            let n = n0 * 10f64.powf(0.25 * k as f64);
            let d = c / (6.0 * n);
            let loss = law.loss(n, d) * (0.01 * normal(&mut rng)).exp();
            text.push_str(&format!("{n:.6e},{c:.6e},{loss:.6}\n"));
        }
    }
    std::fs::write(&csv, text)?;
    let opts = FitCommandOptions {
        title: Some("Synthetic Chinchilla IsoFLOP design".into()),
        ..Default::default()
    };
    let report = fit_command(&csv, &opts, &out.join("chinchilla_fit"))?;
    println!("== generic CSV (N, C, loss) ==\n{}", report.summary_text());
    println!("truth: N_opt exponent {:.3}; outputs in {}", law.n_opt_exponent(), out.display());
    Ok(())
}

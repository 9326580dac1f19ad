//! Times the data statistics at the scale of the issue: correlation decay and n-gram
//! entropies on 10^8 tokens with V = 8192, and the intrinsic dimension of 10^5 points in 768
//! dimensions. Writes the full report (stats.json, stats.md, plots) of the run.
//!
//! ```text
//! cargo run -p scalinglab-analysis --example stats_bench -- [OUT_DIR]
//!     [--tokens 1e8] [--vocab 8192] [--lags 1..200@40] [--max-n 6]
//!     [--points 1e5] [--dim 768] [--full-knn]
//! ```
//!
//! The tokens come from [`PowerLawSource`] (Zipf unigrams, power-law correlations with
//! β = 0.6); the points lie on a 12-sphere randomly rotated into 768 dimensions (intrinsic
//! dimension 12). `--full-knn` also times one exact k-NN search over all points at once.

use std::path::PathBuf;
use std::time::Instant;

use scalinglab_analysis::stats::command::{StatsInputs, compute_stats};
use scalinglab_analysis::stats::output::write_stats;
use scalinglab_analysis::stats::synth::{PowerLawSource, sphere_points};
use scalinglab_analysis::stats::{IdOptions, Metric, StatsCommandOptions, knn, parse_lags};

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| {
        v.parse::<T>()
            .ok()
            .or_else(|| v.parse::<f64>().ok().and_then(|f| format!("{}", f as u64).parse().ok()))
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("scalinglab-stats-bench"));
    let n_tokens: usize = arg(&args, "--tokens").unwrap_or(100_000_000);
    let vocab: usize = arg(&args, "--vocab").unwrap_or(8192);
    let lags = parse_lags(&arg::<String>(&args, "--lags").unwrap_or_else(|| "1..200@40".into()))?;
    let max_n: usize = arg(&args, "--max-n").unwrap_or(6);
    let n_points: usize = arg(&args, "--points").unwrap_or(100_000);
    let dim: usize = arg(&args, "--dim").unwrap_or(768);
    let full = args.iter().any(|a| a == "--full-knn");
    println!("threads: {}", rayon::current_num_threads());

    let t = Instant::now();
    let src = PowerLawSource {
        vocab,
        zipf: 1.0,
        beta: 0.6,
        shape: 0.05,
        doc_len: 20_000,
        max_mean_run: 2000.0,
    };
    let stream = src.generate(n_tokens, 1)?;
    println!("generate {n_tokens} tokens (V = {vocab}): {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let points = sphere_points(12, dim, n_points, 2)?;
    println!("generate {n_points} points in {dim} dimensions: {:.1} s", t.elapsed().as_secs_f64());

    let mut opts = StatsCommandOptions {
        title: format!("stats_bench: {n_tokens} tokens, V = {vocab}"),
        ..Default::default()
    };
    opts.correlation.lags = lags;
    opts.entropy.max_n = max_n;
    opts.id =
        IdOptions { k: 20, metric: Metric::Euclidean, batch_size: 3600, max_points: None, seed: 0 };
    let inputs = StatsInputs {
        tokens: Some((&stream.tokens, vocab)),
        points: Some((&points, dim)),
        position_losses: None,
        loss_curves: None,
    };
    let t = Instant::now();
    let mut report = compute_stats(&inputs, &opts)?;
    println!("compute_stats: {:.1} s", t.elapsed().as_secs_f64());
    write_stats(&mut report, &out)?;
    print!("{}", report.summary_text());
    if let Some(c) = &report.correlation {
        let nnz: Vec<usize> = c.lags.iter().map(|l| l.nnz).collect();
        let it: Vec<usize> = c.lags.iter().map(|l| l.lanczos_iterations).collect();
        println!("distinct pairs per lag: {nnz:?}\nLanczos steps per lag: {it:?}");
    }
    println!("expected β of the source over the fitted window ≈ {}", src.beta);
    println!("report written to {}", out.display());

    if full {
        let t = Instant::now();
        let nb = knn(&points, dim, 20, Metric::Euclidean)?;
        println!(
            "full exact 20-NN over {n_points} points in {dim} dimensions: {:.1} s (first distance {:.4})",
            t.elapsed().as_secs_f64(),
            nb.dist[0]
        );
    }
    Ok(())
}

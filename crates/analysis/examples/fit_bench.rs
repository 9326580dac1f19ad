//! Times approach 3 as the issue asks: a 4,500-start fit (Chinchilla's grid) and 1,000
//! bootstrap resamples on 256 synthetic points from the published Chinchilla law with 1%
//! log-normal noise ([`fit_benchmark`]), with both bootstrap schemes; and compares the
//! full-data fit with scipy's L-BFGS-B from the same starts (`bench/scipy_reference.py`, see
//! bench/README.md).
//!
//! ```text
//! cargo run -p scalinglab-analysis --example fit_bench [-- [RESAMPLES] [--scipy FILE]]
//! cargo run -p scalinglab-analysis --example fit_bench -- --write-inputs DIR
//! ```
//!
//! `--write-inputs DIR` writes the benchmark's points (`DIR/points.csv`) and starts
//! (`DIR/starts.csv`) for the scipy script and exits; `--scipy FILE` reads the script's JSON
//! and prints both times, their ratio and both optima after each benchmark.

use scalinglab_analysis::frontier::bench::{ScipyReference, points_csv, starts_csv};
use scalinglab_analysis::frontier::{Resampling, fit_benchmark};

const STARTS: usize = 4500;
const SEED: u64 = 1;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bootstrap = 1000;
    let mut scipy = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--write-inputs" => {
                let dir =
                    std::path::PathBuf::from(args.next().ok_or("--write-inputs needs a folder")?);
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join("points.csv"), points_csv(SEED))?;
                std::fs::write(dir.join("starts.csv"), starts_csv(STARTS))?;
                println!("wrote {0}/points.csv and {0}/starts.csv", dir.display());
                return Ok(());
            }
            "--scipy" => {
                let path =
                    args.next().ok_or("--scipy needs the JSON file of bench/scipy_reference.py")?;
                let text = std::fs::read_to_string(&path)?;
                scipy = Some(ScipyReference::from_json(&text).map_err(|e| format!("{path}: {e}"))?);
            }
            other => bootstrap = other.parse().map_err(|e| format!("resamples {other:?}: {e}"))?,
        }
    }
    for resampling in [Resampling::Residuals, Resampling::Runs] {
        let b = fit_benchmark(resampling, STARTS, bootstrap, SEED)?;
        print!("{}", b.summary_text());
        if let Some(r) = &scipy {
            print!("{}", r.comparison_text(&b));
        }
    }
    Ok(())
}

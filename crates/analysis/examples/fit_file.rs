//! `scalinglab fit` without the CLI: fits a results file (or a run directory, or any CSV
//! with `N`, `D`, `loss` columns) with every method and prints `fit.md`.
//!
//! ```text
//! cargo run -p scalinglab-analysis --example fit_file -- \
//!     docs/example-report/results.csv /tmp/fit-example [bootstrap]
//! ```
//!
//! Without arguments it fits the repository's example report (`docs/example-report`).

use std::path::PathBuf;

use scalinglab_analysis::{FitCommandOptions, fit_command};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/example-report/results.csv")
    });
    let out =
        args.next().map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("fit-file"));
    let bootstrap = match args.next() {
        Some(b) => b.parse()?,
        None => 1000,
    };
    let opts = FitCommandOptions { bootstrap, ..Default::default() };
    fit_command(&input, &opts, &out)?;
    println!("{}", std::fs::read_to_string(out.join("fit.md"))?);
    println!("written to {}", out.display());
    Ok(())
}

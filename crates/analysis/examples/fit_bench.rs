//! Times approach 3 as the issue asks: a 4,500-start fit (Chinchilla's grid) and 1,000
//! bootstrap resamples on 256 synthetic points from the published Chinchilla law with 1%
//! log-normal noise ([`fit_benchmark`]), with both bootstrap schemes.
//!
//! ```text
//! cargo run -p scalinglab-analysis --example fit_bench [-- resamples]
//! ```

use scalinglab_analysis::frontier::{Resampling, fit_benchmark};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = match std::env::args().nth(1) {
        Some(b) => b.parse()?,
        None => 1000,
    };
    for resampling in [Resampling::Residuals, Resampling::Runs] {
        print!("{}", fit_benchmark(resampling, 4500, bootstrap, 1)?.summary_text());
    }
    Ok(())
}

//! The exact lag covariance of a multiscale hidden-topic process, and its sampling speed.
//!
//! `cargo run -p scalinglab-data --example multiscale [CONFIG.toml]` (default:
//! configs/data/multiscale.toml; a build config of kind `multiscale` or a bare
//! `MultiscaleConfig`). Prints the level weights, the unigram entropy, the exact `‖C(n)‖_op`
//! and `‖C(n)‖_F` at lags 1, 2, 4, …, 4·2^K with the local log-log slope of the operator norm
//! between successive lags, and the tokens per second of sampling.

use std::time::Instant;

use scalinglab_data::{DataBuildConfig, MultiscaleConfig};

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/data/multiscale.toml").into()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let config: MultiscaleConfig = match toml::from_str::<DataBuildConfig>(&text) {
        Ok(DataBuildConfig::Multiscale(b)) => b.multiscale,
        _ => toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}")),
    };
    let model = config.build().unwrap_or_else(|e| panic!("{path}: {e}"));
    println!("{config:?}");
    let weights: Vec<String> = model.weights().iter().map(|w| format!("{w:.4}")).collect();
    println!("weights [w_0, w_1, …]: {}", weights.join(" "));
    println!(
        "unigram entropy {:.6} nats (ln V = {:.6})",
        model.unigram_entropy(),
        (config.vocab as f64).ln()
    );
    println!("{:>8} {:>12} {:>12} {:>8}", "lag", "‖C‖_op", "‖C‖_F", "slope");
    let mut previous: Option<(f64, f64)> = None;
    for e in 0..=config.levels + 2 {
        let lag = 1usize << e;
        let op = model.exact_op_norm(lag);
        let slope = previous
            .map(|(l, o)| format!("{:8.3}", (op / o).ln() / (lag as f64 / l).ln()))
            .unwrap_or_default();
        println!("{lag:>8} {op:>12.4e} {:>12.4e} {slope}", model.exact_frobenius_norm(lag));
        previous = Some((lag as f64, op));
    }
    let (lo, hi) = (4usize, 256usize);
    let fine: Vec<usize> = (0..=24)
        .map(|i| (lo as f64 * (hi as f64 / lo as f64).powf(i as f64 / 24.0)).round() as usize)
        .collect();
    let norms: Vec<f64> = fine.iter().map(|&n| model.exact_op_norm(n)).collect();
    let slopes: Vec<f64> = (1..fine.len())
        .map(|i| (norms[i] / norms[i - 1]).ln() / (fine[i] as f64 / fine[i - 1] as f64).ln())
        .collect();
    let overall = (norms[24] / norms[0]).ln() / (hi as f64 / lo as f64).ln();
    let (min, max) = slopes.iter().fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    println!(
        "lags {lo}..{hi}: overall slope {overall:.4}, local slopes in [{min:.4}, {max:.4}] \
         (design −β = {}), smallest ‖C‖_op {:.4e}",
        -config.beta,
        norms.iter().cloned().fold(f64::MAX, f64::min)
    );
    let n = 50_000_000;
    let start = Instant::now();
    let tokens = model.sample(n, 1);
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "sampling: {:.1} M tokens/s ({n} tokens in {seconds:.2} s, last token {})",
        n as f64 / seconds / 1e6,
        tokens[n - 1]
    );
}

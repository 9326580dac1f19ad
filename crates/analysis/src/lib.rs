//! Scaling-law analysis for scalinglab: fits, compute-optimal frontiers, data statistics,
//! plots and reports, in pure `f64` Rust.
//!
//! The crate does not depend on burn or on the rest of the workspace: a sweep from any
//! framework, written as a CSV, can be fitted with it alone.
//!
//! # Map of the crate
//!
//! * [`records`] — the tidy results schema ([`RunRecord`], one CSV row per run), an
//!   append-only [`ResultsWriter`] that survives a killed sweep, and [`read_results`].
//! * [`powerlaw`] — robust fits of `L(x) = E + A·x^(−α)` in log space with an optional
//!   irreducible offset `E` ([`Offset`]), Huber or squared loss ([`FitLoss`]), a grid of
//!   initialisations and t-corrected residual-bootstrap intervals ([`fit_power_law`], [`FitOptions`],
//!   [`PowerLawFit`]).
//! * [`frontier`] — compute-optimal analysis: Chinchilla's approaches 1–3 (the joint law
//!   `L(N, D) = E + A/N^α + B/D^β`: [`frontier::fit_joint_law`], [`frontier::JointLaw`]) and
//!   the interpolated-surface frontier side by side, with bootstrap intervals
//!   ([`frontier::analyze`]); [`fit_command`] reads a results file or any CSV and writes
//!   `fit.json`, `fit.md` and plots ([`FitCommandOptions`], [`FitReport`], [`Method`]).
//! * [`broken`] — a broken power law in one variable (Caballero et al. 2022, one break), with
//!   bootstrap intervals and a verdict on whether the data resolve the break
//!   ([`broken::fit_broken_power_law`]).
//! * [`report`] — the whole analysis of one sweep: `L(N)` and `L(D)` fits, plots and a
//!   markdown report ([`fit_sweep`], [`write_report`], [`summary_text`], [`ScalingFits`]).
//! * [`html`] — the report as one HTML page, plots inline ([`html::markdown_to_html`]).
//! * [`lr_check`] — whether a sweep's learning rate sits at an edge of the rates tried
//!   ([`lr_checks`]).
//! * [`stats`] — statistics of the data that predict exponents before training: correlation
//!   and conditional-entropy decay, intrinsic dimension, predictions ([`stats_command`],
//!   [`StatsCommandOptions`], [`StatsReport`]).
//! * [`plot`] — log-log SVG plots via `plotters` ([`plot_svg`], [`PlotSpec`], [`Curve`]).
//! * [`optim`] — a small, dependency-free L-BFGS minimiser ([`lbfgs`], [`LbfgsOptions`]).
//! * [`format`](mod@format) — number formatting shared by reports, plots and the terminal.
//! * [`error`] — [`AnalysisError`], the one error type of the crate.
//!
//! Conventions: losses are in nats per token; `N` is the non-embedding parameter count
//! unless a field says otherwise (Kaplan et al. 2020); `D` is training tokens; compute `C` is
//! training FLOPs, `6ND` or, as the training crate records them, `6N + attention + 6dV`
//! (the unembedding) per token ([`frontier::ComputeCounting`]). Intervals are 95% unless they say otherwise, and each kind
//! has a coverage test by simulation (`tests/coverage_*.rs`). Library errors are values ([`AnalysisError`]); bad input never panics.
//!
//! # Examples
//!
//! Fit `L(N) = E + A·N^(−α)` to losses drawn from a known law with 1% multiplicative noise,
//! and recover the exponent and the irreducible loss:
//!
//! ```
//! use scalinglab_analysis::{FitOptions, fit_power_law};
//!
//! let n: Vec<f64> = (0..10).map(|i| 1e5 * 2f64.powi(i)).collect(); // parameters
//! let noise = [0.6, -0.9, 0.3, 1.0, -0.4, -0.7, 0.8, -0.2, 0.5, -1.0]; // percent
//! let loss: Vec<f64> = n
//!     .iter()
//!     .zip(noise)
//!     .map(|(n, e)| (1.7 + 400.0 * n.powf(-0.34)) * (1.0 + 0.01 * e)) // nats/token
//!     .collect();
//! let fit = fit_power_law(&n, &loss, &FitOptions { bootstrap: 100, ..Default::default() })?;
//! assert!((fit.alpha - 0.34).abs() < 0.05, "alpha = {}", fit.alpha);
//! assert!((fit.e - 1.7).abs() < 0.1, "E = {}", fit.e);
//! let (lo, hi) = fit.alpha_ci.expect("100 resamples give an interval");
//! assert!(lo < 0.34 && 0.34 < hi, "95% interval [{lo}, {hi}]");
//! # Ok::<(), scalinglab_analysis::AnalysisError>(())
//! ```
//!
//! Fit the Chinchilla law `L(N, D)` to a sweep stored as a plain CSV (`N,D,loss`), as
//! `scalinglab fit` does, and read off the compute-optimal allocation:
//!
//! ```
//! use scalinglab_analysis::frontier::JointLaw;
//! use scalinglab_analysis::{FitCommandOptions, Method, fit_command};
//!
//! let dir = std::env::temp_dir().join(format!("scalinglab-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let truth = JointLaw::CHINCHILLA;
//! let mut csv = String::from("N,D,loss\n");
//! for n in [1e7, 3e7, 1e8, 3e8, 1e9] {
//!     for d in [1e9, 4e9, 1.6e10, 6.4e10] {
//!         csv += &format!("{n},{d},{}\n", truth.loss(n, d));
//!     }
//! }
//! std::fs::write(dir.join("sweep.csv"), csv).unwrap();
//!
//! let opts = FitCommandOptions {
//!     methods: vec![Method::Approach3],
//!     starts: 300, // of Chinchilla's 4,500-point grid; enough for clean data
//!     bootstrap: 0,
//!     windows: false,
//!     holdout_sizes: 0,
//!     ..Default::default()
//! };
//! let report = fit_command(&dir.join("sweep.csv"), &opts, &dir.join("fit"))?;
//! let joint = report.joint.as_ref().expect("approach 3 ran");
//! assert!((joint.alpha.value - 0.34).abs() < 1e-3 && (joint.beta.value - 0.28).abs() < 1e-3);
//! // N_opt ∝ C^(β/(α+β)) = C^0.45 for Chinchilla's exponents.
//! let allocation = report.method(Method::Approach3).unwrap().allocation.as_ref().unwrap();
//! assert!((allocation.n_exponent.value - 0.28 / 0.62).abs() < 0.01);
//! assert!(dir.join("fit/fit.json").exists());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), scalinglab_analysis::AnalysisError>(())
//! ```

pub mod atomic;
pub mod broken;
pub mod error;
pub mod format;
pub mod frontier;
pub mod html;
pub mod lr_check;
pub mod optim;
pub mod plot;
pub mod powerlaw;
pub mod records;
pub mod report;
pub mod stats;
pub mod verdict;

pub use atomic::write_atomic;
pub use error::AnalysisError;
pub use frontier::{FitCommandOptions, FitReport, Method, fit_command};
pub use lr_check::{LrCheckResult, LrPosition, LrTrial, lr_checks};
pub use optim::{LbfgsOptions, Minimum, lbfgs};
pub use plot::{Curve, CurveStyle, PlotSpec, plot_svg};
pub use powerlaw::{FitLoss, FitOptions, Offset, PowerLawFit, fit_power_law};
pub use records::{ResultsWriter, RunRecord, RunStatus, read_results};
pub use report::{
    AnalysisOptions, REPORT_FILES, ScalingFits, fit_sweep, summary_text, write_report,
};
pub use stats::{StatsCommandOptions, StatsReport, stats_command};
pub use verdict::{Estimate, Precondition, Verdict, VerdictOptions, compare};

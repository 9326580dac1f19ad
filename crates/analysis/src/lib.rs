//! Scaling-law analysis for scalinglab.
//!
//! This crate turns a sweep of training runs into scaling laws:
//!
//! * [`records`] — the tidy results schema ([`RunRecord`], one CSV row per run), an
//!   append-only [`ResultsWriter`] that survives a killed sweep, and [`read_results`].
//! * [`optim`] — a small, dependency-free L-BFGS minimiser ([`lbfgs`]).
//! * [`powerlaw`] — robust fits of `L(x) = E + A·x^(−α)` in log space with an optional
//!   irreducible offset `E`, Huber or squared loss, a grid of initialisations and percentile
//!   bootstrap intervals ([`fit_power_law`]).
//! * [`plot`] — log-log SVG plots via `plotters` ([`plot_svg`]).
//! * [`frontier`] — compute-optimal analysis: Chinchilla's approaches 1–3 and the
//!   interpolated-surface frontier side by side, with bootstrap intervals ([`fit_command`]).
//! * [`report`] — the whole analysis of one sweep: fits, plots and a markdown report
//!   ([`fit_sweep`], [`write_report`], [`summary_text`]).
//! * [`stats`] — statistics of the data that predict exponents before training: correlation
//!   and conditional-entropy decay, intrinsic dimension, predictions ([`stats_command`]).
//!
//! Conventions: losses are in nats per token; `N` is the non-embedding parameter count
//! unless a field says otherwise (Kaplan et al. 2020); training FLOPs per token are
//! `6N + attention` as recorded by the training crate. Library errors are values
//! ([`AnalysisError`]); bad input never panics.

pub mod error;
pub mod format;
pub mod frontier;
pub mod optim;
pub mod plot;
pub mod powerlaw;
pub mod records;
pub mod report;
pub mod stats;

pub use error::AnalysisError;
pub use frontier::{FitCommandOptions, FitReport, Method, fit_command};
pub use optim::{LbfgsOptions, Minimum, lbfgs};
pub use plot::{Curve, CurveStyle, PlotSpec, plot_svg};
pub use powerlaw::{FitLoss, FitOptions, Offset, PowerLawFit, fit_power_law};
pub use records::{ResultsWriter, RunRecord, RunStatus, read_results};
pub use report::{AnalysisOptions, ScalingFits, fit_sweep, summary_text, write_report};
pub use stats::{StatsCommandOptions, StatsReport, stats_command};

//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the analysis crate. Each variant carries enough context
/// (file, line, field, value) to fix the input without a debugger.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// An I/O operation on a file or directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "cannot open results file".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A results CSV could not be parsed or written.
    #[error("{path}: line {line}: {message}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number in the file (0 when unknown).
        line: u64,
        /// What was wrong, including the offending field where known.
        message: String,
    },

    /// An input value is out of its domain (non-positive `x`, NaN loss, mismatched lengths…).
    #[error("invalid input for {context}: {message}")]
    InvalidInput {
        /// Which input, e.g. `fit_power_law: y[3]`.
        context: String,
        /// What is wrong with it, including the value.
        message: String,
    },

    /// Fewer data points than free parameters.
    #[error("{context}: {n} points but {needed} are needed ({detail})")]
    TooFewPoints {
        /// Which fit.
        context: String,
        /// Number of usable points supplied.
        n: usize,
        /// Minimum number of points required.
        needed: usize,
        /// Why that many are needed.
        detail: String,
    },

    /// The optimiser could not produce a finite fit.
    #[error("fit failed for {context}: {message}")]
    FitFailed {
        /// Which fit.
        context: String,
        /// What went wrong.
        message: String,
    },

    /// A sweep contains no usable runs.
    #[error("no usable runs: {0}")]
    NoData(String),

    /// Drawing an SVG plot failed.
    #[error("cannot draw plot {path}: {message}")]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// The plotting backend's message.
        message: String,
    },

    /// JSON (de)serialisation failed.
    #[error("JSON error for {path}: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl AnalysisError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        AnalysisError::Io { action, path: path.into(), source }
    }

    pub(crate) fn invalid(context: impl Into<String>, message: impl Into<String>) -> Self {
        AnalysisError::InvalidInput { context: context.into(), message: message.into() }
    }
}

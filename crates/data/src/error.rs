//! The crate's error type.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong when building graphs, chains, corpora, tokenizers and shards.
///
/// Messages name the offending field and its value, e.g.
/// `graph.edges = 10 is too few to connect 64 nodes (need at least 63)`.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum DataError {
    /// A field of a configuration or an argument has an unusable value.
    #[error("{field} = {value} {reason}")]
    Invalid {
        /// Name of the field or argument, e.g. `graph.edges` or `rows[2]`.
        field: String,
        /// The offending value, formatted.
        value: String,
        /// What is wrong with it, e.g. `must be at least 2`.
        reason: String,
    },
    /// An Erdős–Rényi graph stayed disconnected in every try.
    #[error(
        "graph.kind = \"erdos_renyi\" with graph.nodes = {nodes} and graph.edges = {edges}: \
         no connected graph in {tries} tries from seed {seed}; use more edges \
         (about n ln(n) / 2 = {suggested_edges} make G(n, m) connected with high probability)"
    )]
    NoConnectedGraph {
        /// Number of nodes asked for.
        nodes: usize,
        /// Number of edges asked for.
        edges: usize,
        /// How many graphs were drawn.
        tries: usize,
        /// The seed the tries were derived from.
        seed: u64,
        /// A rough number of edges at which G(n, m) is usually connected.
        suggested_edges: usize,
    },
    /// A random walk needs a connected graph.
    #[error(
        "graph with {nodes} nodes is not connected ({components} components); \
         a random walk needs a connected graph"
    )]
    Disconnected {
        /// Number of nodes.
        nodes: usize,
        /// Number of connected components.
        components: usize,
    },
    /// Power iteration for a stationary distribution did not converge.
    #[error(
        "stationary distribution: power iteration did not converge in {iterations} iterations \
         (last L1 change {residual:e}, tolerance {tolerance:e})"
    )]
    NotConverged {
        /// Iterations run.
        iterations: usize,
        /// L1 distance between the last two iterates.
        residual: f64,
        /// The L1 tolerance that was asked for.
        tolerance: f64,
    },
    /// Every draw of a random-graph ensemble was rejected (not connected, or a pairing that
    /// could not be completed), under [`Connectivity::Resample`](crate::graph::Connectivity).
    #[error(
        "graph.kind = \"{kind}\": no connected graph in {tries} tries from seed {seed}; {hint}"
    )]
    NoConnectedDraw {
        /// The ensemble's `kind`, e.g. `erdos_renyi_gnp`.
        kind: String,
        /// How many graphs were drawn.
        tries: usize,
        /// The seed the tries were derived from.
        seed: u64,
        /// What to change, e.g. a larger `p` or `connectivity = "largest_component"`.
        hint: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: cannot {action}: {message}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done, e.g. `open for reading`.
        action: String,
        /// The operating system's message.
        message: String,
    },
    /// A file's contents are malformed at a given line (or record).
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (or record) number.
        line: u64,
        /// What is wrong, naming the offending text.
        message: String,
    },
}

impl DataError {
    /// Shorthand for [`DataError::Io`] from an I/O error.
    pub(crate) fn io(path: &Path, action: &str, err: std::io::Error) -> Self {
        DataError::Io { path: path.to_path_buf(), action: action.into(), message: err.to_string() }
    }

    /// Shorthand for [`DataError::Parse`].
    pub(crate) fn parse(path: &Path, line: u64, message: impl Into<String>) -> Self {
        DataError::Parse { path: path.to_path_buf(), line, message: message.into() }
    }

    /// Shorthand for [`DataError::Invalid`].
    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        DataError::Invalid { field: field.into(), value: value.to_string(), reason: reason.into() }
    }
}

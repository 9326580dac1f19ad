use std::path::PathBuf;

/// Everything that can go wrong in a training run or sweep, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    /// The experiment file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The experiment file is not valid TOML for an experiment.
    #[error("cannot parse {path}: {message}")]
    Parse {
        /// The file (or `<string>`).
        path: PathBuf,
        /// The parser's message, which names the line and the field.
        message: String,
    },
    /// A field has a value the experiment cannot run with.
    #[error("{field} = {value}: {reason}")]
    Invalid {
        /// Dotted field path, e.g. `sweep.widths`.
        field: String,
        /// The offending value.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The requested backend cannot be used.
    #[error("device: {0}")]
    Device(String),
    /// Writing results failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The run directory holds results of a different experiment.
    #[error("{dir} already holds runs of a different configuration ({changes}); {hint}")]
    ConfigMismatch {
        /// The run directory.
        dir: PathBuf,
        /// What changed, `field: old → new`, separated by `; `.
        changes: String,
        /// What the user can do.
        hint: String,
    },
    /// Another live process works in the run directory (or trains the run).
    #[error(
        "{dir} is in use by another scalinglab process: {holder}. Wait for it to finish or stop \
         it, or pass another --out directory (a lock left by a process that has ended never \
         blocks)"
    )]
    Locked {
        /// The run directory (or `runs/<id>` for a task's run).
        dir: PathBuf,
        /// Who holds it: pid, host, start time and command line.
        holder: String,
    },
    /// A checkpoint could not be read or does not fit the run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A run was stopped on request before it finished (a test hook).
    #[error("interrupted at step {step}")]
    Interrupted {
        /// Steps taken when it stopped.
        step: u64,
    },
    /// A SIGTERM stopped a run (see [`crate::stop_on_sigterm`]); its checkpoint holds every
    /// step it took.
    #[error(
        "terminated by SIGTERM at step {step}; the checkpoint in {dir} holds it: run the same command again to resume"
    )]
    Terminated {
        /// Steps taken (all saved).
        step: u64,
        /// The run's directory.
        dir: std::path::PathBuf,
    },
    /// SIGTERM stopped a group of runs trained as one stack, which keeps no checkpoint.
    #[error(
        "terminated by SIGTERM at step {step} of {runs} runs trained as one stack; stacks keep no checkpoint, so the same command retrains these runs from their start (the finished runs are kept)"
    )]
    TerminatedStack {
        /// Steps the stack had taken.
        step: u64,
        /// Runs in the stack.
        runs: usize,
    },
    /// The data crate rejected the data configuration.
    #[error("data: {0}")]
    Data(#[from] scalinglab_data::DataError),
    /// The model crate rejected the model configuration.
    #[error("{0}")]
    Model(#[from] scalinglab_model::ModelError),
    /// The analysis failed.
    #[error("analysis: {0}")]
    Analysis(#[from] scalinglab_analysis::AnalysisError),
}

impl TrainingError {
    /// The refusal of `field = value`, with the reason (for crates built on this one, such as
    /// the reproductions, so that their refusals read like ours).
    pub fn invalid(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> TrainingError {
        TrainingError::Invalid {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// [`TrainingError::invalid`], by its short name inside this crate.
pub(crate) fn invalid(
    field: impl Into<String>,
    value: impl std::fmt::Display,
    reason: impl Into<String>,
) -> TrainingError {
    TrainingError::invalid(field, value, reason)
}

/// [`scalinglab_data::memory::check`], its refusal as [`TrainingError::Invalid`] of `field`.
pub(crate) fn check_memory(
    field: &str,
    value: impl std::fmt::Display,
    what: &str,
    bytes: Option<u64>,
) -> Result<(), TrainingError> {
    scalinglab_data::memory::check(field, value, what, bytes).map_err(|e| match e {
        scalinglab_data::DataError::Invalid { field, value, reason } => {
            TrainingError::Invalid { field, value, reason }
        }
        other => other.into(),
    })
}

//! Stopping on SIGTERM: what Slurm sends a job before preempting it (or at its time limit,
//! `GraceTime` seconds before the SIGKILL). With [`stop_on_sigterm`] installed, every run in
//! progress writes its checkpoint after the step it is on and returns
//! [`TrainingError::Terminated`](crate::TrainingError::Terminated), no new run starts, and the
//! sweep exits; the requeued task (or the same command) resumes each run from that step, so
//! nothing trained is lost, however far the last periodic checkpoint lies behind.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::TrainingError;

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Makes SIGTERM stop training gracefully for the rest of the process (idempotent). Without it
/// SIGTERM ends the process at once, as SIGKILL does, and a resume redoes the steps since the
/// last periodic checkpoint.
///
/// # Errors
/// [`TrainingError::Invalid`] when the handler cannot be installed (the message says why).
pub fn stop_on_sigterm() -> Result<(), TrainingError> {
    let flag = STOP.get_or_init(|| Arc::new(AtomicBool::new(false)));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(flag)).map(|_| ()).map_err(
        |e| crate::error::invalid("SIGTERM", "handler", format!("cannot be installed: {e}")),
    )
}

/// Whether a SIGTERM has arrived since [`stop_on_sigterm`].
pub(crate) fn stop_requested() -> bool {
    STOP.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

//! `scalinglab reproduce NAME`: the three papers of the science notes at laptop scale, each
//! writing a report whose first table puts the prediction next to the measurement. This crate
//! sits above `scalinglab-training` and `scalinglab-analysis`: it designs the experiments,
//! calls them to train and fit, and writes the reports; one file per paper, the ladder of
//! languages its own.
//!
//! * [`reproduce_graphs`]: Barkeshli, Alfarano & Gromov, random walks on graphs.
//! * [`reproduce_manifolds`]: Havrilla & Liao, regression on manifolds and the intrinsic
//!   dimension of a language model's hidden states.
//! * `statistics` (Cagnetta et al.) is in [`reproduce_statistics`].
//!
//! Every reproduction is resumable (finished runs are kept on disk and skipped when the command
//! is repeated) and its report names the command, the versions and the device.

mod graphs;
mod ladder;
mod manifolds;
mod statistics;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use graphs::reproduce_graphs;
pub use manifolds::reproduce_manifolds;
pub use statistics::reproduce_statistics;

use scalinglab_analysis::PowerLawFit;

use scalinglab_training::{DeviceChoice, ExperimentConfig, TrainingError};

/// The walk experiment the reproductions start from: 2-layer GPT-2 decoders (context 50) of
/// widths 16–128 on walks on an unweighted Erdős–Rényi graph with 1,024 nodes and 5,120 edges,
/// one epoch of 51,200–819,200 tokens, AdamW at 0.03 × 16/width with cosine decay to 0.1×.
/// (It was the quickstart until the quickstart was redesigned to show both laws cleanly; the
/// reproductions' committed reports were made with it, so it stays theirs.)
fn walk_base() -> ExperimentConfig {
    const WALK_BASE: &str = r#"
name = "walk_base"
description = """
Random walks on an Erdős–Rényi graph are a bigram task whose best possible loss is known
exactly: the walk's entropy rate. A family of 2-layer GPT-2 decoders (context 50) is trained
for one epoch over a grid of model widths and token budgets; the eval loss is fitted as
L = E + A·x^(−α) in N and in D, and the fitted offset E is set beside the exact entropy rate
(after Barkeshli, Alfarano & Gromov, arXiv 2601.10684)."""
[data]
eval_sequences = 256
seed = 1
[data.walk]
seed = 0
bias = { kind = "unbiased" }
[data.walk.graph]
kind = "erdos_renyi"
nodes = 1024
edges = 5120
[model]
arch = "gpt2"
n_layers = 2
context = 50
[sweep]
widths = [16, 32, 64, 128]
head_dim = 16
tokens = [51200, 102400, 204800, 409600, 819200]
[train]
batch_size = 16
lr = 3e-2
lr_base_width = 16
warmup_frac = 0.02
min_lr_ratio = 0.1
weight_decay = 0.01
beta1 = 0.9
beta2 = 0.95
seed = 0
[analysis]
bootstrap = 200
"#;
    ExperimentConfig::from_toml(WALK_BASE, Path::new("reproduce::walk_base"))
        .expect("the reproductions' base experiment is valid (checked by a test)")
}

/// What every reproduction takes.
#[derive(Clone, Debug)]
pub struct ReproduceOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Backend.
    pub device: DeviceChoice,
    /// A smaller grid (about a third of the time), for a first look.
    pub quick: bool,
    /// Grows the grids for a GPU or a cluster: data sizes (and, where there are any, model
    /// widths) are extended by factors of 2 up to `scale` times the default's largest. 1 is
    /// the default laptop size.
    pub scale: f64,
    /// Show progress bars.
    pub progress: bool,
    /// The command line, for the report.
    pub command: String,
    /// A text corpus (file or folder) to use instead of the generated default, where the
    /// reproduction takes one (statistics).
    pub corpus: Option<PathBuf>,
}

impl ReproduceOptions {
    /// Defaults: auto device, full size, progress on.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            device: DeviceChoice::Auto,
            quick: false,
            scale: 1.0,
            progress: true,
            command: String::new(),
            corpus: None,
        }
    }

    fn validate(&self) -> Result<(), TrainingError> {
        if !(self.scale.is_finite() && self.scale >= 1.0) {
            return Err(TrainingError::invalid("--scale", self.scale, "must be at least 1"));
        }
        Ok(())
    }
}

/// Runs the reproduction `name` (`graphs`, `manifolds` or `statistics`) and returns the path of
/// its report.
///
/// # Errors
/// An unknown name, or the errors of the reproduction.
pub fn reproduce(name: &str, opts: &ReproduceOptions) -> Result<PathBuf, TrainingError> {
    opts.validate()?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|source| TrainingError::Write { path: opts.out.clone(), source })?;
    // Two reproductions in one folder would train each other's arms and interleave reports.
    let _lock = scalinglab_training::lock_dir(&opts.out, scalinglab_training::LockMode::Exclusive)?;
    match name {
        "graphs" => reproduce_graphs(opts),
        "manifolds" => reproduce_manifolds(opts),
        "statistics" => reproduce_statistics(opts),
        other => Err(TrainingError::invalid(
            "reproduce",
            other,
            "expected graphs, manifolds or statistics",
        )),
    }
}

/// The provenance block every report ends with: command, versions, device, date.
fn provenance(opts: &ReproduceOptions, device: &str, seconds: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n## Provenance\n");
    let command = if opts.command.is_empty() { "(library call)" } else { opts.command.as_str() };
    let _ = writeln!(s, "- Command: `{command}`");
    let _ = writeln!(
        s,
        "- scalinglab {}, burn {}, {} build",
        env!("CARGO_PKG_VERSION"),
        BURN_VERSION,
        if cfg!(debug_assertions) { "dev-profile" } else { "release" }
    );
    let _ = writeln!(s, "- Device: {device}");
    let _ = writeln!(
        s,
        "- Wall time of this call: {:.0} s (runs already on disk are not redone)",
        seconds
    );
    s
}

/// The device the runs of a sweep were trained on (a resumed call that trains nothing
/// describes itself differently).
fn trained_on(o: &scalinglab_training::ExperimentOutcome) -> String {
    o.records.iter().map(|r| r.device.clone()).next().unwrap_or_else(|| o.device.clone())
}

/// The lowest held-out loss of a sweep's finished (not diverged) runs.
fn best_loss(o: &scalinglab_training::ExperimentOutcome) -> f64 {
    o.records
        .iter()
        .filter(|r| r.status == scalinglab_analysis::RunStatus::Ok)
        .map(|r| r.eval_loss)
        .fold(f64::INFINITY, f64::min)
}

/// The burn version this crate is built against (kept in step with the workspace manifest).
const BURN_VERSION: &str = "0.22";

/// `value [lo, hi]`, or a note when the fit interpolates or has no interval.
fn fmt_fit(f: Option<&PowerLawFit>, e: bool) -> String {
    let Some(f) = f else { return "–".into() };
    let (v, ci) = if e { (f.e, f.e_ci) } else { (f.alpha, f.alpha_ci) };
    if f.dof() == 0 {
        // As many points as parameters: the curve interpolates, the value says nothing.
        return format!("({v:.3}, {} pts: interpolates)", f.n_points);
    }
    match ci {
        Some((lo, hi)) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        None => format!("{v:.3} (no interval)"),
    }
}

/// Writes a reproduction's report: `reproduce.md` in `out`, and `reproduce.html`, the same page
/// for a browser with its plots inline. Returns the markdown's path.
fn write_report(out: &Path, md: &str) -> Result<PathBuf, TrainingError> {
    let path = out.join("reproduce.md");
    write_file(&path, md)?;
    let title = md.lines().next().unwrap_or("scalinglab reproduction").trim_start_matches("# ");
    let html = scalinglab_analysis::html::markdown_to_html(md, title, out);
    write_file(&out.join("reproduce.html"), &html)?;
    Ok(path)
}

fn write_file(path: &Path, text: &str) -> Result<(), TrainingError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|source| TrainingError::Write { path: dir.to_path_buf(), source })?;
    }
    // Replaced whole (a temporary file and a rename), never left half-written.
    scalinglab_training::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_walk_base_is_the_experiment_the_reports_were_made_with() {
        let c = super::walk_base();
        assert_eq!(c.sweep.widths, vec![16, 32, 64, 128]);
        assert_eq!(c.sweep.tokens, vec![51_200, 102_400, 204_800, 409_600, 819_200]);
        assert_eq!((c.train.lr, c.train.min_lr_ratio, c.train.weight_decay), (3e-2, 0.1, 0.01));
        assert_eq!(c.sweep.layout, scalinglab_training::GridLayout::Full);
        assert!(c.sweep.lr_check.is_none() && c.description.contains("Erdős–Rényi"));
    }

    use super::*;

    #[test]
    fn unknown_names_and_bad_scales_are_refused() {
        let opts = ReproduceOptions::new(std::env::temp_dir().join("scalinglab-never-written"));
        let e = reproduce("papers", &opts).unwrap_err().to_string();
        assert!(e.contains("papers") && e.contains("graphs, manifolds or statistics"), "{e}");
        let small = ReproduceOptions { scale: 0.5, ..opts };
        let e = reproduce("graphs", &small).unwrap_err().to_string();
        assert!(e.contains("--scale") && e.contains("0.5"), "{e}");
    }

    #[test]
    fn grids_grow_by_doublings_up_to_the_scale() {
        let mut g: Vec<u64> = vec![100, 200, 400];
        graphs::grow(&mut g, 1.0);
        assert_eq!(g, vec![100, 200, 400]);
        graphs::grow(&mut g, 4.0);
        assert_eq!(g, vec![100, 200, 400, 800, 1600]);
        let mut w: Vec<usize> = vec![16, 32];
        graphs::grow(&mut w, 3.0);
        assert_eq!(w, vec![16, 32, 64]);
    }
}

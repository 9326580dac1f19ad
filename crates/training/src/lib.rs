//! Training runs and sweeps over model size N and data size D.
//!
//! - [`ExperimentConfig`]: the TOML experiment (data, model family, grid, optimiser, analysis),
//!   with defaults and validation; [`ExperimentConfig::quickstart`] is compiled in.
//! - [`select_device`]: the backend, chosen at run time (`auto`, `flex`, `ndarray`, `wgpu`, `cuda`).
//! - [`train_run`]: one run — a fresh model, one epoch of AdamW with warmup and cosine decay,
//!   divergence detection, held-out evaluation.
//! - [`train_stacked`]: K runs that differ only in learning rate and seed, trained as one
//!   stacked model, each replica as it would train alone.
//! - [`run_experiment`]: the whole grid, resumable (finished runs are skipped, each result is
//!   appended to `results.csv` as soon as it exists), then fits, plots and `report.md`.

mod bench;
mod config;
mod coord;
mod dataset;
mod device;
mod error;
mod floor;
mod knn_regression;
mod ladder;
mod lock;
mod optim;
mod regression;
mod run;
mod schedule;
mod slurm;
mod stacked;
mod stop;
mod sweep;
mod teacher;

pub use bench::{
    BenchOptions, BenchResult, BenchShape, BenchVariant, SamplingBench, bench_command,
    bench_sampling, bench_training, bench_training_parallel, matmul_peak,
};
pub use config::{
    AnalysisConfig, DataConfig, ExperimentConfig, GridLayout, LrCheck, ModelFamily,
    QUICKSTART_TOML, ShardData, SweepConfig, TrainConfig,
};
pub use coord::{CoordCheckConfig, CoordRow, CoordSlope, coord_check, coord_check_command};
pub use device::{DeviceChoice, SelectedDevice, cpu_threads, run_parallel, select_device};
pub use error::TrainingError;
pub use floor::{LearnerFloor, walk_window_floor};
pub use knn_regression::{K_GRID, KnnResult, knn_regression};
pub use ladder::{BatchRule, DepthRule, LADDER_PRESETS, LadderPreset, LrRule, ladder_preset};
pub use lock::{DirLock, LOCK_FILE, LockMode, lock_dir, lock_runs};
pub use optim::AdamW;
pub use regression::{RegressionResult, RegressionTrain, train_regressor};
pub use run::{
    Checkpointing, CurveRow, LanguageModel, RunOutcome, evaluate, init_seeded, remove_checkpoint,
    train_model, train_run,
};
pub use schedule::{LrSchedule, ScheduleKind};
pub use slurm::{SlurmOptions, slurm_script};
pub use stacked::{stackable, train_stacked};
pub use stop::stop_on_sigterm;
pub use sweep::{
    ExperimentOutcome, ModelSweep, RunOptions, files, oracle_loss, planned_totals, progress_bar,
    reanalyze, reanalyze_with, run_experiment, run_only, status, sweep_models, write_atomic,
};
pub use teacher::{
    SampledCorpus, TeacherEntropy, hidden_state_points, load_saved_model, sample_corpus,
    teacher_entropy,
};

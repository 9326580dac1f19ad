//! A whole experiment: the N × D grid, resumable, with results appended as each run finishes,
//! then the fits, plots and report.

use std::collections::{HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use burn::module::Module;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scalinglab_analysis::{
    AnalysisOptions, ResultsWriter, RunRecord, RunStatus, ScalingFits, read_results, write_report,
};
use scalinglab_data::{MarkovChain, TokenCorpus};
use scalinglab_model::{FlopCounting, ModelConfig};

use crate::device::{DeviceChoice, SelectedDevice, cpu_threads, select_device};
use crate::error::invalid;
use crate::run::{Checkpointing, RunOutcome, train_run};
use crate::{ExperimentConfig, TrainConfig, TrainingError};

/// File names inside a run directory.
pub mod files {
    /// The experiment exactly as run.
    pub const CONFIG: &str = "config.toml";
    /// One row per finished run, appended as runs finish.
    pub const RESULTS: &str = "results.csv";
    /// The report, with plots beside it.
    pub const REPORT: &str = "report.md";
    /// Fitted laws.
    pub const FITS: &str = "fits.json";
    /// Training curves of every finished run: `run_id,step,tokens_seen,flops_so_far,
    /// train_loss,eval_loss,loss` (`loss` is the eval loss where evaluated, else the windowed
    /// training loss); `scalinglab fit` reads it for approach 1.
    pub const CURVES: &str = "curves.csv";
    /// Held-out loss by context length of every finished run:
    /// `run_id,params_non_embedding,tokens,position,loss` (`position` n = tokens of context).
    pub const POSITIONS: &str = "per_position.csv";
    /// `results.csv` as JSON lines (`pandas.read_json(path, lines=True)`), rewritten from it
    /// after every sweep.
    pub const RESULTS_JSONL: &str = "results.jsonl";
    /// `curves.csv` as JSON lines (one object per curve point, numbers as numbers, empty cells
    /// as null), rewritten from it after every sweep: a plain scalar log for pandas or any
    /// dashboard that reads JSON lines.
    pub const CURVES_JSONL: &str = "curves.jsonl";
    /// One line per finished run, as printed.
    pub const LOG: &str = "sweep.log";
    /// Per-run directories (checkpoints while a run trains; weights if kept).
    pub const RUNS: &str = "runs";
}

const CURVES_HEADER: &str = "run_id,step,tokens_seen,flops_so_far,train_loss,eval_loss,loss";
const POSITIONS_HEADER: &str = "run_id,params_non_embedding,tokens,position,loss";

/// Keeps the rows of a side file (curves, per-position losses) whose run is finished, and drops
/// a torn last line: a sweep killed between writing a run's rows and its result retrains the
/// run, which then writes its rows again.
fn retain_rows(path: &Path, header: &str, done: &HashSet<String>) -> Result<(), TrainingError> {
    if !path.exists() {
        return Ok(());
    }
    let text = fs::read_to_string(path)
        .map_err(|source| TrainingError::Read { path: path.to_path_buf(), source })?;
    let columns = header.split(',').count();
    let mut out = String::with_capacity(text.len());
    out.push_str(header);
    out.push('\n');
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().skip(1).collect();
    for (i, line) in lines.iter().enumerate() {
        let torn = i + 1 == lines.len() && !complete;
        let id = line.split(',').next().unwrap_or("");
        if !torn && line.split(',').count() == columns && done.contains(id) {
            out.push_str(line);
            out.push('\n');
        }
    }
    write_atomic(path, out.as_bytes())
}

/// The run directory's JSON-lines copies, each rewritten whole: `results.jsonl` from
/// `records`, and `curves.jsonl` from `curves.csv`.
fn write_json_lines(dir: &Path, records: &[RunRecord]) -> Result<(), TrainingError> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).expect("a run record serialises"));
        text.push('\n');
    }
    write_atomic(&dir.join(files::RESULTS_JSONL), text.as_bytes())?;
    write_curves_jsonl(&dir.join(files::CURVES), &dir.join(files::CURVES_JSONL))
}

/// `curves.csv` (the tool's own: a header, then unquoted cells) as JSON lines: one object per
/// row keyed by the header, a cell that parses as an integer or a number as that number, an
/// empty cell as null, anything else as a string. No `curves.csv`, no file.
fn write_curves_jsonl(csv: &Path, jsonl: &Path) -> Result<(), TrainingError> {
    let Ok(text) = fs::read_to_string(csv) else { return Ok(()) };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let mut out = String::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let mut row = serde_json::Map::new();
        for (key, cell) in header.iter().zip(line.split(',')) {
            let value = if cell.is_empty() {
                serde_json::Value::Null
            } else if *key == "run_id" {
                serde_json::Value::String(cell.to_string())
            } else if let Ok(i) = cell.parse::<i64>() {
                serde_json::Value::Number(i.into())
            } else {
                match cell.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    Some(n) => serde_json::Value::Number(n),
                    None => serde_json::Value::String(cell.to_string()),
                }
            };
            row.insert((*key).to_string(), value);
        }
        out.push_str(&serde_json::Value::Object(row).to_string());
        out.push('\n');
    }
    write_atomic(jsonl, out.as_bytes())
}

/// Appends lines to a side file (creating it with its header), flushed.
fn append_rows(path: &Path, header: &str, rows: &[String]) -> Result<(), TrainingError> {
    use std::io::Write;
    let new = !path.exists();
    let mut f =
        fs::OpenOptions::new().create(true).append(true).open(path).map_err(write_err(path))?;
    let mut text = String::new();
    if new {
        text.push_str(header);
        text.push('\n');
    }
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    f.write_all(text.as_bytes()).map_err(write_err(path))?;
    f.sync_data().map_err(write_err(path))
}

/// How to run an experiment (as opposed to what it is).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The run directory; created if missing.
    pub out_dir: PathBuf,
    /// Backend.
    pub device: DeviceChoice,
    /// Discard results already in `out_dir` instead of resuming.
    pub fresh: bool,
    /// Accept a config whose only changes add grid points (widths, token budgets, compute
    /// budgets) to the finished ones.
    pub extend: bool,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Runs trained side by side, each in its own thread pool; 0 picks one per core on a CPU
    /// backend (small models keep one core busy at most, so this is nearly twice as fast on two
    /// cores) and one on a GPU.
    pub jobs: usize,
    /// Runs trained as one stacked model ([`crate::train_stacked`]): cells that differ only
    /// in learning rate and seed (same width, data, batch and schedule) share each step, up
    /// to this many at a time. 1 trains every run alone; 0 picks: 1 on a CPU backend (where
    /// `scalinglab bench --replicas` measured no gain on our shapes) and up to 8 on a GPU.
    pub replicas: usize,
}

impl RunOptions {
    /// Options with defaults: resume, progress bar, automatic parallelism.
    pub fn new(out_dir: impl Into<PathBuf>, device: DeviceChoice) -> Self {
        Self {
            out_dir: out_dir.into(),
            device,
            fresh: false,
            extend: false,
            progress: true,
            jobs: 0,
            replicas: 0,
        }
    }
}

/// What an experiment produced.
#[derive(Clone, Debug)]
pub struct ExperimentOutcome {
    /// The run directory.
    pub out_dir: PathBuf,
    /// Path of `report.md`.
    pub report: PathBuf,
    /// Every run in the results file (earlier sessions included).
    pub records: Vec<RunRecord>,
    /// Runs trained by this call (the rest were found finished and skipped).
    pub trained: usize,
    /// Runs finished by `--only` tasks and merged into the shared files by this call.
    pub collected: usize,
    /// Fitted laws.
    pub fits: ScalingFits,
    /// The learner's floor in nats/token: the irreducible loss on the windows the models see,
    /// which the fits compare E with (for in-memory walks, the chain's exact entropy rate); NaN
    /// when it is not known (E is then only fitted).
    pub entropy_rate: f64,
    /// Entropy of the stationary distribution: the best loss without context.
    pub unigram_entropy: f64,
    /// Loss of the true transition probabilities on the held-out tokens.
    pub eval_oracle_loss: f64,
    /// The device description.
    pub device: String,
    /// Wall-clock time of this call.
    pub wall: Duration,
}

/// One cell of the N × D grid.
#[derive(Clone, Debug)]
pub(crate) struct PlannedRun {
    id: String,
    model: ModelConfig,
    /// Unique training sequences (each seen `epochs` times).
    sequences: usize,
    /// Training tokens seen: `sequences × context × epochs`.
    tokens: u64,
    flops_per_token: f64,
    lr: f64,
    seed: u64,
    epochs: u32,
    batch_size: usize,
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainingError + '_ {
    move |source| TrainingError::Write { path: path.to_path_buf(), source }
}

/// Mean of −ln P(x_{t+1} | x_t) under the true chain over every target of `corpus`: the loss
/// a perfect model would get on exactly these held-out tokens.
pub fn oracle_loss(chain: &MarkovChain, corpus: &TokenCorpus) -> f64 {
    let (mut total, mut count) = (0.0, 0u64);
    for i in 0..corpus.num_sequences() {
        for w in corpus.sequence(i).windows(2) {
            let row = chain.row(w[0] as usize);
            let p = row.iter().find(|(j, _)| *j == w[1]).map_or(0.0, |&(_, p)| p);
            total -= p.ln();
            count += 1;
        }
    }
    total / count.max(1) as f64
}

/// The dotted fields whose values differ between two config texts, as `field: old → new`.
fn changed_fields(old: &str, new: &str) -> Vec<String> {
    fn flatten(
        prefix: &str,
        v: &toml::Value,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    flatten(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let parse = |t: &str| {
        let mut m = std::collections::BTreeMap::new();
        if let Ok(v) = toml::from_str::<toml::Table>(t) {
            flatten("", &toml::Value::Table(v), &mut m);
        }
        m
    };
    let (a, b) = (parse(old), parse(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&String>| v.map_or("(absent)".to_string(), |v| v.clone());
            format!("{k}: {} → {}", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

/// Reads a results file and refuses a row that contradicts the experiment (another
/// vocabulary, context, architecture or depth than `cfg` gives), naming the file, the row and
/// the field: such a row was written by another experiment, and fitting it with these runs
/// would give a silently wrong law.
fn read_checked(cfg: &ExperimentConfig, path: &Path) -> Result<Vec<RunRecord>, TrainingError> {
    let records = read_results(path)?;
    let vocab = cfg.vocab_size()?;
    let m = &cfg.model;
    for (i, r) in records.iter().enumerate() {
        let contradiction = if r.vocab_size != vocab {
            Some(("vocab_size", r.vocab_size.to_string(), vocab.to_string()))
        } else if r.context != m.context {
            Some(("context", r.context.to_string(), m.context.to_string()))
        } else if r.arch != m.arch.to_string() {
            Some(("arch", r.arch.clone(), m.arch.to_string()))
        } else if r.n_layers != m.n_layers {
            Some(("n_layers", r.n_layers.to_string(), m.n_layers.to_string()))
        } else {
            None
        };
        if let Some((field, value, expected)) = contradiction {
            return Err(invalid(
                format!("{}, row {} (run {}), {field}", path.display(), i + 1, r.run_id),
                value,
                format!(
                    "the experiment's config gives {field} = {expected}: this row was written by \
                     another experiment; move the file away or pass another --out directory"
                ),
            ));
        }
    }
    Ok(records)
}

/// Whether a run directory holds results or runs (finished, or checkpoints): a results file,
/// or anything under `runs/` besides the per-run lock files.
fn holds_runs(dir: &Path) -> bool {
    dir.join(files::RESULTS).exists()
        || fs::read_dir(dir.join(files::RUNS)).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| e.file_name() != crate::lock::RUN_LOCKS)
        })
}

/// Prepares the run directory: writes `config.toml`, or checks that the one already there is
/// the same experiment (so that finished runs can be resumed).
fn prepare_dir(cfg: &ExperimentConfig, opts: &RunOptions) -> Result<(), TrainingError> {
    let dir = &opts.out_dir;
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    let config_path = dir.join(files::CONFIG);
    let text = cfg.to_toml();
    if opts.fresh {
        // Everything a run writes: results, fits, report and its plots.
        let entries = fs::read_dir(dir).map_err(write_err(dir))?;
        for entry in entries {
            let p = entry.map_err(write_err(dir))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // Only what the tool writes, by name: a user's own figures stay.
            let ours = [
                files::RESULTS,
                files::REPORT,
                files::FITS,
                files::CURVES,
                files::POSITIONS,
                files::LOG,
                files::RESULTS_JSONL,
                files::CURVES_JSONL,
            ]
            .contains(&name)
                || scalinglab_analysis::REPORT_FILES.contains(&name);
            if ours && p.is_file() {
                fs::remove_file(&p).map_err(write_err(&p))?;
            }
            if name == files::RUNS && p.is_dir() {
                fs::remove_dir_all(&p).map_err(write_err(&p))?;
            }
        }
    } else if config_path.exists() {
        let old = fs::read_to_string(&config_path)
            .map_err(|source| TrainingError::Read { path: config_path.clone(), source })?;
        // A truncated or damaged config names itself, rather than listing every field as
        // "(absent)" in a mismatch.
        if let Err(e) = toml::from_str::<toml::Table>(&old) {
            return Err(TrainingError::Parse {
                path: config_path,
                message: format!(
                    "{}; it records which experiment the runs in {} belong to: restore it, pass \
                     another --out directory, or --fresh to discard the finished runs",
                    e.to_string().trim_end(),
                    dir.display()
                ),
            });
        }
        // Read with this version's defaults, so that a field added since the directory was made
        // (its default keeps the old behaviour) is not taken for a change.
        let old = toml::from_str::<ExperimentConfig>(&old).map(|c| c.to_toml()).unwrap_or(old);
        let changed = changed_fields(&old, &text);
        if !changed.is_empty() && holds_runs(dir) {
            // Growing the grid keeps every finished run valid; anything else would mix
            // experiments in one results file.
            let grid_only = changed.iter().all(|c| {
                ["sweep.widths", "sweep.tokens", "sweep.compute_budgets"]
                    .iter()
                    .any(|k| c.starts_with(k))
            });
            if !(opts.extend && grid_only) {
                return Err(TrainingError::ConfigMismatch {
                    dir: dir.clone(),
                    changes: changed.join("; "),
                    hint: if grid_only {
                        "pass --extend to add the new grid points to the finished ones".into()
                    } else {
                        "pass another --out directory, or --fresh to discard the finished runs"
                            .into()
                    },
                });
            }
        }
    } else if holds_runs(dir) {
        // Results without the config that made them: adopting them would mix experiments.
        return Err(TrainingError::ConfigMismatch {
            dir: dir.clone(),
            changes: format!(
                "it has {} or {}/ but no {}, so which experiment they belong to is unknown",
                files::RESULTS,
                files::RUNS,
                files::CONFIG
            ),
            hint: format!(
                "restore {} from the run that wrote them, pass another --out directory, or \
                 --fresh to discard them",
                config_path.display()
            ),
        });
    }
    // Atomically, and only when it changes: `--only` tasks read it while others start.
    if fs::read_to_string(&config_path).ok().as_deref() != Some(text.as_str()) {
        write_atomic(&config_path, text.as_bytes())?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` through a temporary file in the same folder and a rename, so
/// that a reader (or a kill) sees the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainingError> {
    scalinglab_analysis::write_atomic(path, bytes)
        .map_err(|(path, source)| TrainingError::Write { path, source })
}

/// Every run of the experiment: the (width, tokens) grid × learning-rate multipliers × seeds,
/// then the learning-rate check's runs.
/// A run's id is derived from its settings (`w64_D102400`, with `_lr0.5` and `_s3` when the
/// sweep varies them), so it names the same run in every session and on every machine.
pub(crate) fn plan(cfg: &ExperimentConfig) -> Result<Vec<PlannedRun>, TrainingError> {
    let mut runs = Vec::new();
    let seeds =
        if cfg.sweep.seeds.is_empty() { vec![cfg.train.seed] } else { cfg.sweep.seeds.clone() };
    // Every cell with the rates it trains at: the grid's cells at the grid's multipliers, then
    // the learning-rate check's cell at its own. Ids name the rate when a cell has several, and
    // always for the check's runs (the grid's run of that cell keeps the plain id).
    let many_lrs = cfg.sweep.lr_multipliers.len() > 1;
    let mut cells: Vec<(usize, u64, &[f64], bool)> = cfg
        .grid()?
        .into_iter()
        .map(|(width, budget)| (width, budget, cfg.sweep.lr_multipliers.as_slice(), many_lrs))
        .collect();
    if let Some((width, budget, multipliers)) = cfg.lr_check_cell() {
        cells.push((width, budget, multipliers, true));
    }
    for (width, budget, multipliers, name_lr) in cells {
        let model = cfg.run_model(width)?;
        for epochs in cfg.epoch_counts() {
            // D tokens in all, D / epochs of them unique (whole sequences, at least one).
            let sequences = cfg.sequences_for(budget).div_ceil(epochs as usize).max(1);
            let tokens = (sequences as u64)
                .saturating_mul(cfg.model.context as u64)
                .saturating_mul(u64::from(epochs));
            for &mult in multipliers {
                for &seed in &seeds {
                    let mut id = format!("w{width}_D{budget}");
                    if !cfg.sweep.epochs.is_empty() {
                        id.push_str(&format!("_e{epochs}"));
                    }
                    if name_lr {
                        id.push_str(&format!("_lr{mult}"));
                    }
                    if !cfg.sweep.seeds.is_empty() {
                        id.push_str(&format!("_s{seed}"));
                    }
                    runs.push(PlannedRun {
                        id,
                        flops_per_token: model.flops_per_token(FlopCounting::WithUnembedding),
                        model: model.clone(),
                        sequences,
                        tokens,
                        lr: cfg.lr_for_width(width) * mult,
                        seed,
                        epochs,
                        batch_size: cfg.batch_for(tokens),
                    });
                }
            }
        }
    }
    Ok(runs)
}

/// How many runs the experiment plans (grid, rates, seeds, epochs and the learning-rate
/// check) and the training tokens they see in all.
///
/// # Errors
/// As [`ExperimentConfig::grid`]: a model that cannot be built.
pub fn planned_totals(cfg: &ExperimentConfig) -> Result<(usize, u64), TrainingError> {
    let runs = plan(cfg)?;
    Ok((runs.len(), runs.iter().map(|r| r.tokens).sum()))
}

/// Prints a line above the progress bar (or plainly when the bar is hidden: `println` on a
/// hidden bar prints nothing).
fn say(bar: &ProgressBar, line: String) {
    bar.suspend(|| println!("{line}"));
}

/// A progress bar over `total_work` units on stderr (hidden when `show` is false), in the
/// sweep's style: elapsed time, bar, percent and ETA.
pub fn progress_bar(total_work: f64, show: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total_work.max(1.0) as u64),
        if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:30}] {percent:>3}%  ETA {eta_precise}  {msg}",
        )
        .expect("a valid progress template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// What the training part of a sweep leaves for the analysis.
struct Trained {
    data_description: String,
    entropy_rate: f64,
    floor_label: String,
    unigram_entropy: f64,
    eval_oracle_loss: f64,
    trained: usize,
    description: String,
}

/// Where a finished run's rows go: the sweep's shared files, or (for `--only`, where several
/// processes share a directory) files of its own under `runs/<id>/`, merged by `--collect`.
#[derive(Clone, Copy, PartialEq)]
enum Sink {
    Shared,
    PerRun,
}

/// Runs (or resumes) an experiment and writes its report. Rows that `--only` tasks left
/// under `runs/` are merged first.
pub fn run_experiment(
    cfg: &ExperimentConfig,
    opts: &RunOptions,
) -> Result<ExperimentOutcome, TrainingError> {
    let start = Instant::now();
    fs::create_dir_all(&opts.out_dir).map_err(write_err(&opts.out_dir))?;
    let _lock = crate::lock::lock_dir(&opts.out_dir, crate::lock::LockMode::Exclusive)?;
    prepare_dir(cfg, opts)?;
    let collected = collect_shards(cfg, &opts.out_dir)?;
    crate::lock::remove_run_locks(&opts.out_dir);
    let t = train_grid(cfg, opts, None)?;
    let results_path = opts.out_dir.join(files::RESULTS);
    let records = read_checked(cfg, &results_path)?;
    write_json_lines(&opts.out_dir, &records)?;
    let fits = write_report(
        &records,
        &analysis_options(
            cfg,
            &t.data_description,
            (&t.floor_label, t.entropy_rate),
            t.unigram_entropy,
        ),
        &opts.out_dir,
    )?;
    Ok(ExperimentOutcome {
        report: opts.out_dir.join(files::REPORT),
        out_dir: opts.out_dir.clone(),
        records,
        trained: t.trained,
        collected,
        fits,
        entropy_rate: t.entropy_rate,
        unigram_entropy: t.unigram_entropy,
        eval_oracle_loss: t.eval_oracle_loss,
        device: t.description,
        wall: start.elapsed(),
    })
}

/// Trains only the grid points `indices` (0-based, in the order `scalinglab status` lists),
/// writing each run's rows under `runs/<id>/`: what each task of a Slurm job array (or of GNU
/// parallel) runs against a shared directory. Returns how many runs were trained (finished
/// ones are skipped). `scalinglab run --collect` merges the rows and writes the report.
///
/// # Errors
/// An index past the grid, an invalid config, a changed config, or a failed run.
pub fn run_only(
    cfg: &ExperimentConfig,
    opts: &RunOptions,
    indices: &[usize],
) -> Result<usize, TrainingError> {
    let n = plan(cfg)?.len();
    if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
        return Err(invalid("--only", bad, format!("the grid has {n} runs, indices 0..{}", n - 1)));
    }
    if opts.fresh {
        // Other tasks may be training in the directory: discarding it is a whole sweep's job.
        return Err(invalid(
            "--fresh",
            true,
            "cannot be combined with --only (other tasks may be training in the directory); \
             start over with `scalinglab run CONFIG --out DIR --fresh` once no task runs",
        ));
    }
    fs::create_dir_all(&opts.out_dir).map_err(write_err(&opts.out_dir))?;
    let _lock = crate::lock::lock_dir(&opts.out_dir, crate::lock::LockMode::Shared)?;
    let runs = plan(cfg)?;
    let ids: Vec<&str> = indices.iter().map(|&i| runs[i].id.as_str()).collect();
    let _runs = crate::lock::lock_runs(&opts.out_dir, &ids)?;
    prepare_dir(cfg, opts)?;
    Ok(train_grid(cfg, opts, Some(indices))?.trained)
}

/// Merges the rows that `--only` tasks wrote under `runs/<id>/` into the shared files (each
/// run once), then removes them. Returns how many runs were merged.
///
/// # Errors
/// If a file cannot be read or written.
pub(crate) fn collect_shards(cfg: &ExperimentConfig, dir: &Path) -> Result<usize, TrainingError> {
    let runs_dir = dir.join(files::RUNS);
    if !runs_dir.exists() {
        return Ok(0);
    }
    let results_path = dir.join(files::RESULTS);
    let mut done: HashSet<String> = if results_path.exists() {
        read_checked(cfg, &results_path)?.into_iter().map(|r| r.run_id).collect()
    } else {
        HashSet::new()
    };
    let mut writer: Option<ResultsWriter> = None;
    let mut merged = 0;
    let mut entries: Vec<PathBuf> = fs::read_dir(&runs_dir)
        .map_err(write_err(&runs_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(files::RESULTS).exists())
        .collect();
    entries.sort();
    for run_dir in entries {
        let shard = run_dir.join(files::RESULTS);
        for record in read_checked(cfg, &shard)? {
            if done.contains(&record.run_id) {
                continue;
            }
            for (name, header) in
                [(files::CURVES, CURVES_HEADER), (files::POSITIONS, POSITIONS_HEADER)]
            {
                let p = run_dir.join(name);
                if p.exists() {
                    let text = fs::read_to_string(&p)
                        .map_err(|source| TrainingError::Read { path: p.clone(), source })?;
                    let rows: Vec<String> = text.lines().skip(1).map(str::to_string).collect();
                    append_rows(&dir.join(name), header, &rows)?;
                }
            }
            if writer.is_none() {
                writer = Some(ResultsWriter::open(&results_path)?);
            }
            writer.as_mut().expect("opened").append(&record)?;
            done.insert(record.run_id.clone());
            merged += 1;
        }
        for name in [files::RESULTS, files::CURVES, files::POSITIONS] {
            let _ = fs::remove_file(run_dir.join(name));
        }
        let _ = fs::remove_dir(&run_dir);
    }
    Ok(merged)
}

/// Trains every unfinished run of the grid (or of `only`), resuming interrupted ones.
fn train_grid(
    cfg: &ExperimentConfig,
    opts: &RunOptions,
    only: Option<&[usize]>,
) -> Result<Trained, TrainingError> {
    cfg.validate()?;
    let sink = if only.is_some() { Sink::PerRun } else { Sink::Shared };
    let SelectedDevice { device, description, choice } = select_device(opts.device)?;
    let results_path = opts.out_dir.join(files::RESULTS);

    // Nothing is allocated for a sweep that cannot fit.
    cfg.check_memory()?;
    // Data: one pool of training walks (each budget takes a prefix, so the sets are nested) and
    // a held-out set drawn with another seed.
    let runs = plan(cfg)?;
    let max_sequences = runs.iter().map(|r| r.sequences).max().unwrap_or(0);
    let crate::dataset::SweepData {
        train_pool,
        eval,
        entropy_rate,
        floor,
        unigram_entropy,
        eval_oracle_loss,
        summary: data_summary,
        description: data_description,
        ..
    } = crate::dataset::prepare(cfg, max_sequences)?;

    let done: HashSet<String> = if results_path.exists() {
        read_checked(cfg, &results_path)?.into_iter().map(|r| r.run_id).collect()
    } else {
        HashSet::new()
    };
    let curves_path = opts.out_dir.join(files::CURVES);
    let positions_path = opts.out_dir.join(files::POSITIONS);
    let log_path = opts.out_dir.join(files::LOG);
    if sink == Sink::Shared {
        retain_rows(&curves_path, CURVES_HEADER, &done)?;
        retain_rows(&positions_path, POSITIONS_HEADER, &done)?;
        for id in &done {
            // A kill between recording a result and cleaning up leaves the checkpoint (and
            // then an empty run directory) behind; finish the cleanup.
            let dir = opts.out_dir.join(files::RUNS).join(id);
            crate::run::remove_checkpoint(&dir);
            let _ = fs::remove_dir(&dir); // only if empty (no kept model, no shard)
        }
    }
    let runs_dir = opts.out_dir.join(files::RUNS);
    let selected: Vec<&PlannedRun> = match only {
        Some(ix) => ix.iter().map(|&i| &runs[i]).collect(),
        None => runs.iter().collect(),
    };
    let todo: Vec<&PlannedRun> = selected
        .into_iter()
        .filter(|r| !done.contains(&r.id) && !runs_dir.join(&r.id).join(files::RESULTS).exists())
        .collect();
    let total_work: f64 = todo.iter().map(|r| r.flops_per_token * r.tokens as f64).sum();
    let scale = 1e6; // progress in MFLOP
    let bar = progress_bar(total_work / scale, opts.progress);
    let mut writer = match sink {
        Sink::Shared => Some(ResultsWriter::open(&results_path)?),
        Sink::PerRun => None,
    };
    let cores = cpu_threads();
    let jobs = match (opts.jobs, choice) {
        (0, DeviceChoice::Flex | DeviceChoice::Ndarray) => cores,
        (0, _) => 1,
        (n, _) => n,
    }
    .clamp(1, todo.len().max(1));
    let threads_per_job = (cores / jobs).max(1);
    let description = match choice {
        DeviceChoice::Flex | DeviceChoice::Ndarray => {
            format!("{choice} (cpu, {jobs} parallel runs × {threads_per_job} threads)")
        }
        _ => description,
    };
    say(
        &bar,
        format!(
            "scalinglab: {} runs ({} already done) on {description}; data: {data_summary}",
            runs.len(),
            runs.len() - todo.len(),
        ),
    );
    let replicas = match (opts.replicas, choice) {
        (0, DeviceChoice::Flex | DeviceChoice::Ndarray) => 1,
        (0, _) => 8,
        (n, _) => n,
    };
    let mut queue = stack_groups(&todo, replicas, runs_dir.as_path());
    if queue.iter().any(|g| g.len() > 1) {
        say(
            &bar,
            format!(
                "  stacked: {} runs train as {} groups of up to {replicas} (--replicas 1 trains each alone)",
                queue.iter().filter(|g| g.len() > 1).map(Vec::len).sum::<usize>(),
                queue.iter().filter(|g| g.len() > 1).count()
            ),
        );
    }
    // Longest work first: with several workers this keeps the last one from finishing alone.
    let work =
        |g: &Vec<&PlannedRun>| g.iter().map(|r| r.flops_per_token * r.tokens as f64).sum::<f64>();
    queue.sort_by(|a, b| work(b).total_cmp(&work(a)));
    let queue = Mutex::new(VecDeque::from(queue));
    let work_done = AtomicU64::new(0); // in units of `scale` FLOPs
    let (tx, rx) = mpsc::channel::<(&PlannedRun, Result<RunOutcome, TrainingError>)>();
    let mut write_result: Result<(), TrainingError> = Ok(());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (queue, bar, work_done, device) = (&queue, &bar, &work_done, &device);
            let train_pool = &train_pool;
            let eval = &eval;
            let runs_dir = &runs_dir;
            scope.spawn(move || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads_per_job)
                    .build()
                    .expect("a rayon thread pool can be built");
                pool.install(|| {
                    loop {
                        if crate::stop::stop_requested() {
                            break; // SIGTERM: start nothing new
                        }
                        let Some(group) = queue.lock().expect("queue lock").pop_front() else {
                            break;
                        };
                        if group.len() > 1 {
                            let progress = Progress { bar, work_done, scale };
                            let sent = train_group(
                                &group,
                                cfg,
                                (train_pool, eval),
                                device,
                                runs_dir,
                                &progress,
                                &tx,
                            );
                            if !sent {
                                break;
                            }
                            continue;
                        }
                        let run = group[0];
                        let train = train_pool.take(run.sequences);
                        let mut reported = 0u64;
                        let train_cfg = TrainConfig {
                            lr: run.lr,
                            seed: run.seed,
                            epochs: run.epochs,
                            batch_size: run.batch_size,
                            ..cfg.train.clone()
                        };
                        let run_dir = runs_dir.join(&run.id);
                        let ckpt = Checkpointing { dir: Some(run_dir.clone()), stop_after: None };
                        let result = fs::create_dir_all(&run_dir)
                            .map_err(write_err(&run_dir))
                            .and_then(|()| {
                                train_run(
                                    &run.model,
                                    &train_cfg,
                                    &train,
                                    eval,
                                    device,
                                    &ckpt,
                                    |t, loss| {
                                        let now = (run.flops_per_token * t as f64 / scale) as u64;
                                        work_done.fetch_add(
                                            now.saturating_sub(reported),
                                            Ordering::Relaxed,
                                        );
                                        reported = now;
                                        bar.set_position(work_done.load(Ordering::Relaxed));
                                        bar.set_message(format!("{} loss {loss:.3}", run.id));
                                    },
                                )
                            })
                            .and_then(|(model, outcome)| {
                                save_model(cfg, run, &run_dir, &model, &outcome)?;
                                Ok(outcome)
                            });
                        let total = (run.flops_per_token * run.tokens as f64 / scale) as u64;
                        work_done.fetch_add(total.saturating_sub(reported), Ordering::Relaxed);
                        if tx.send((run, result)).is_err() {
                            break;
                        }
                    }
                });
            });
        }
        drop(tx);
        // Results are written here, on one thread, in the order runs finish.
        // Side files first, then the result row: a kill in between retrains the run, and the
        // next start drops the side rows of runs without a result.
        for (run, outcome) in rx {
            bar.set_position(work_done.load(Ordering::Relaxed));
            let written = outcome.and_then(|outcome| {
                let record = record_of(run, &outcome, &description);
                let here = runs_dir.join(&run.id);
                let (curves, positions) = match sink {
                    Sink::Shared => (curves_path.clone(), positions_path.clone()),
                    Sink::PerRun => (here.join(files::CURVES), here.join(files::POSITIONS)),
                };
                append_rows(&curves, CURVES_HEADER, &curve_rows(run, &outcome))?;
                append_rows(&positions, POSITIONS_HEADER, &position_rows(run, &record, &outcome))?;
                match writer.as_mut() {
                    Some(w) => w.append(&record)?,
                    None => ResultsWriter::open(&here.join(files::RESULTS))?.append(&record)?,
                }
                tracing::info!(
                    run = %run.id,
                    eval_loss = outcome.eval_loss,
                    seconds = outcome.wall_seconds,
                    "run finished"
                );
                crate::run::remove_checkpoint(&here);
                let _ = fs::remove_dir(&here); // only if empty (no kept model, no shard)
                let line = format!(
                    "  {:<14} N={:>8} D={:>8}  steps {:>5}  train {:.4}  eval {:.4}  {:>6.1}s{}{}{}",
                    run.id,
                    record.params_non_embedding,
                    run.tokens,
                    outcome.steps,
                    outcome.train_loss,
                    outcome.eval_loss,
                    outcome.wall_seconds,
                    if outcome.checkpoint_seconds > 0.0 {
                        format!(" (checkpoints {:.2}s)", outcome.checkpoint_seconds)
                    } else {
                        String::new()
                    },
                    outcome
                        .resumed_from
                        .map_or(String::new(), |s| format!("  (resumed at step {s})")),
                    outcome
                        .divergence
                        .as_ref()
                        .map_or(String::new(), |d| format!("  DIVERGED: {d}")),
                );
                append_rows(
                    &log_path,
                    "# scalinglab sweep log: one line per finished run",
                    std::slice::from_ref(&line),
                )?;
                say(&bar, line);
                Ok(())
            });
            if let Err(e) = written {
                write_result = Err(e);
                queue.lock().expect("queue lock").clear();
            }
        }
    });
    write_result?;
    bar.finish_and_clear();
    Ok(Trained {
        data_description,
        entropy_rate,
        floor_label: floor_label(&floor),
        unigram_entropy,
        eval_oracle_loss,
        trained: todo.len(),
        description,
    })
}

/// The todo list as work items: runs that may share a stacked step (same model, data,
/// epochs and batch size; they differ only in learning rate and seed), in groups of at most
/// `replicas`, and every other run alone. A run with a checkpoint on disk resumes alone, and
/// models the stack cannot hold (LLaMA blocks, grouped-query attention, dropout) train alone.
fn stack_groups<'a>(
    todo: &[&'a PlannedRun],
    replicas: usize,
    runs_dir: &Path,
) -> Vec<Vec<&'a PlannedRun>> {
    let stackable = |r: &PlannedRun| {
        replicas > 1
            && r.model.arch == scalinglab_model::Arch::Gpt2
            && r.model.kv_heads() == r.model.n_heads
            && r.model.dropout == 0.0
            && !runs_dir.join(&r.id).join(crate::run::CHECKPOINT).exists()
    };
    let mut groups: Vec<Vec<&PlannedRun>> = Vec::new();
    let mut by_key: Vec<(String, Vec<&PlannedRun>)> = Vec::new();
    for &r in todo {
        if !stackable(r) {
            groups.push(vec![r]);
            continue;
        }
        let key = format!(
            "{}|{}|{}|{}",
            serde_json::to_string(&r.model).unwrap_or_default(),
            r.sequences,
            r.epochs,
            r.batch_size
        );
        match by_key.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(r),
            None => by_key.push((key, vec![r])),
        }
    }
    for (_, g) in by_key {
        groups.extend(g.chunks(replicas).map(<[&PlannedRun]>::to_vec));
    }
    groups
}

/// Where the workers report the FLOPs done, in units of `scale`.
struct Progress<'a> {
    bar: &'a ProgressBar,
    work_done: &'a AtomicU64,
    scale: f64,
}

/// Trains a group of runs as one stack and sends each run's result (the error to the first
/// run if the group fails). Returns false when the receiver is gone.
fn train_group<'a>(
    group: &[&'a PlannedRun],
    cfg: &ExperimentConfig,
    (train_pool, eval): (&TokenCorpus, &TokenCorpus),
    device: &burn::prelude::Device,
    runs_dir: &Path,
    progress: &Progress<'_>,
    tx: &mpsc::Sender<(&'a PlannedRun, Result<RunOutcome, TrainingError>)>,
) -> bool {
    let first = group[0];
    let train = train_pool.take(first.sequences);
    let train_cfgs: Vec<TrainConfig> = group
        .iter()
        .map(|run| TrainConfig {
            lr: run.lr,
            seed: run.seed,
            epochs: run.epochs,
            batch_size: run.batch_size,
            ..cfg.train.clone()
        })
        .collect();
    let Progress { bar, work_done, scale } = *progress;
    let mut reported = 0u64;
    let result =
        crate::train_stacked(&first.model, &train_cfgs, &train, eval, device, |t, loss| {
            // `t` sums the tokens of every replica; they share one FLOP count per token.
            let now = (first.flops_per_token * t as f64 / scale) as u64;
            work_done.fetch_add(now.saturating_sub(reported), Ordering::Relaxed);
            reported = now;
            bar.set_position(work_done.load(Ordering::Relaxed));
            bar.set_message(format!("{} and {} more, loss {loss:.3}", first.id, group.len() - 1));
        });
    let total: u64 =
        group.iter().map(|r| (r.flops_per_token * r.tokens as f64 / scale) as u64).sum();
    work_done.fetch_add(total.saturating_sub(reported), Ordering::Relaxed);
    match result {
        Ok(trained) => {
            for (run, (model, outcome)) in group.iter().zip(trained) {
                let dir = runs_dir.join(&run.id);
                let saved = fs::create_dir_all(&dir)
                    .map_err(write_err(&dir))
                    .and_then(|()| save_model(cfg, run, &dir, &model, &outcome))
                    .map(|()| outcome);
                if tx.send((run, saved)).is_err() {
                    return false;
                }
            }
            true
        }
        Err(e) => {
            let e = match e {
                TrainingError::Interrupted { step } => {
                    TrainingError::TerminatedStack { step, runs: group.len() }
                }
                e => e,
            };
            tx.send((first, Err(e))).is_ok()
        }
    }
}

/// Writes a finished run's model as `model.safetensors` when the experiment keeps models.
fn save_model(
    cfg: &ExperimentConfig,
    run: &PlannedRun,
    run_dir: &Path,
    model: &scalinglab_model::Gpt,
    outcome: &RunOutcome,
) -> Result<(), TrainingError> {
    if !cfg.train.save_models || outcome.diverged {
        return Ok(());
    }
    let path = run_dir.join("model.safetensors");
    let meta = [
        ("run_id".to_string(), run.id.clone()),
        ("model".to_string(), serde_json::to_string(&run.model).unwrap_or_default()),
    ]
    .into_iter()
    .collect();
    model
        .valid()
        .export_safetensors(&path, &meta)
        .map_err(|e| TrainingError::Checkpoint { path, reason: e.to_string() })
}

/// `curves.csv` rows of a finished run.
fn curve_rows(run: &PlannedRun, outcome: &RunOutcome) -> Vec<String> {
    outcome
        .curve
        .iter()
        .map(|c| {
            let eval = c.eval_loss.map_or(String::new(), |e| format!("{e}"));
            format!(
                "{},{},{},{},{},{},{}",
                run.id,
                c.step,
                c.tokens_seen,
                run.flops_per_token * c.tokens_seen as f64,
                c.train_loss,
                eval,
                c.eval_loss.unwrap_or(c.train_loss)
            )
        })
        .collect()
}

/// `per_position.csv` rows of a finished run.
fn position_rows(run: &PlannedRun, record: &RunRecord, outcome: &RunOutcome) -> Vec<String> {
    outcome
        .eval_loss_by_position
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!("{},{},{},{},{l}", run.id, record.params_non_embedding, run.tokens, i + 1)
        })
        .collect()
}

/// The results row of a finished run.
fn record_of(run: &PlannedRun, outcome: &RunOutcome, device: &str) -> RunRecord {
    let counts = run.model.param_counts();
    RunRecord {
        run_id: run.id.clone(),
        arch: run.model.arch.to_string(),
        d_model: run.model.d_model,
        n_layers: run.model.n_layers,
        n_heads: run.model.n_heads,
        context: run.model.context,
        vocab_size: run.model.vocab_size,
        params: counts.total,
        params_non_embedding: counts.non_embedding,
        tokens: run.tokens,
        steps: outcome.steps,
        batch_size: run.batch_size,
        lr: run.lr,
        flops_per_token: run.flops_per_token,
        flops: run.flops_per_token * run.tokens as f64,
        train_loss: outcome.train_loss,
        eval_loss: outcome.eval_loss,
        wall_seconds: outcome.wall_seconds,
        device: device.to_string(),
        seed: run.seed,
        status: if outcome.diverged { RunStatus::Diverged } else { RunStatus::Ok },
        epochs: run.epochs,
    }
}

/// The name the report gives the reference loss: the learner's floor, which for in-memory
/// walks is exactly the entropy rate.
fn floor_label(floor: &crate::floor::LearnerFloor) -> String {
    match floor.value {
        Some((v, se)) if se == 0.0 && floor.process_rate == Some(v) => "entropy rate".into(),
        Some((_, se)) if se > 0.0 => format!("learner's floor (± {se:.4}, one standard error)"),
        _ => "learner's floor".into(),
    }
}

/// Report options for an experiment: its description, the reference loss `(name, value)` (the
/// learner's floor) and the unigram entropy.
fn analysis_options(
    cfg: &ExperimentConfig,
    data_description: &str,
    (floor_name, entropy_rate): (&str, f64),
    unigram_entropy: f64,
) -> AnalysisOptions {
    let preamble = format!(
        "{}\n\n\
         **Data.** {data_description}\n\n\
        **Models.** {} decoders, {}, context {}, head width {}, widths {:?}. \
         **Training.** {} over D ∈ {:?} tokens{}, AdamW (peak lr {}, β = ({}, {}), weight decay {}), \
         batch {}, {}% linear warmup then cosine decay to {}× the peak. \
         The experiment as run is in `config.toml`; every run is a row of `results.csv`.",
        cfg.description.trim(),
        cfg.model.arch,
        cfg.sweep.depth.describe(cfg.model.n_layers),
        cfg.model.context,
        cfg.sweep.head_dim,
        cfg.sweep.widths,
        match cfg.epoch_counts().as_slice() {
            [1] => "One epoch".to_string(),
            [e] => format!("{e} epochs (D/{e} unique tokens, each seen {e} times)"),
            es => format!("{es:?} epochs (D/e unique tokens, each seen e times)"),
        },
        cfg.sweep.tokens,
        if cfg.sweep.compute_budgets.is_empty() {
            String::new()
        } else {
            format!(" and on IsoFLOP lines D = C/(6N) at C ∈ {:?} FLOPs", cfg.sweep.compute_budgets)
        },
        cfg.lr_rule().describe(cfg.train.lr),
        cfg.train.beta1,
        cfg.train.beta2,
        cfg.train.weight_decay,
        cfg.train.batch_rule.describe(cfg.train.batch_size),
        cfg.train.warmup_frac * 100.0,
        cfg.train.min_lr_ratio,
    );
    AnalysisOptions {
        title: format!("scalinglab report: {}", cfg.name),
        reference_loss: entropy_rate.is_finite().then(|| (floor_name.to_string(), entropy_rate)),
        unigram_loss: unigram_entropy.is_finite().then_some(unigram_entropy),
        bootstrap: cfg.analysis.bootstrap,
        seed: cfg.analysis.seed,
        preamble,
        flop_convention: "6N (N without embeddings) + 6·L·T·d for attention (L layers, context T, \
                          width d) + 6·d·V for the unembedding matmul (vocabulary V), Kaplan et al.'s \
                          count plus the unembedding as Porian et al. (2024) count it"
            .into(),
        broken_power_law: false,
    }
}

/// Re-reads a run directory (its `config.toml` and `results.csv`) and rewrites the report; for
/// partial sweeps, or after changing the analysis code.
pub fn reanalyze(dir: &Path) -> Result<ExperimentOutcome, TrainingError> {
    reanalyze_with(dir, false)
}

/// [`reanalyze`], also fitting a broken power law to `L(N)` and `L(D)` when
/// `broken_power_law` is set ([`AnalysisOptions::broken_power_law`]; `scalinglab analyze
/// --broken-power-law`).
pub fn reanalyze_with(
    dir: &Path,
    broken_power_law: bool,
) -> Result<ExperimentOutcome, TrainingError> {
    let start = Instant::now();
    let cfg = ExperimentConfig::load(&dir.join(files::CONFIG))?;
    let data = crate::dataset::prepare(&cfg, 0)?;
    let records = read_checked(&cfg, &dir.join(files::RESULTS))?;
    write_json_lines(dir, &records)?;
    let opts = AnalysisOptions {
        broken_power_law,
        ..analysis_options(
            &cfg,
            &data.description,
            (&floor_label(&data.floor), data.entropy_rate),
            data.unigram_entropy,
        )
    };
    let fits = write_report(&records, &opts, dir)?;
    Ok(ExperimentOutcome {
        report: dir.join(files::REPORT),
        out_dir: dir.to_path_buf(),
        trained: 0,
        collected: 0,
        device: records.first().map(|r| r.device.clone()).unwrap_or_default(),
        records,
        fits,
        entropy_rate: data.entropy_rate,
        unigram_entropy: data.unigram_entropy,
        eval_oracle_loss: data.eval_oracle_loss,
        wall: start.elapsed(),
    })
}

/// The state of every planned run of a run directory, as a table (`scalinglab status`):
/// index (for `--only`), id, N, D, and done (with its eval loss), diverged, interrupted at a
/// checkpoint (step k of K), finished by an `--only` task but not yet collected, or pending.
///
/// # Errors
/// If the directory has no readable `config.toml`, or a results file cannot be read.
pub fn status(dir: &Path) -> Result<String, TrainingError> {
    let cfg = ExperimentConfig::load(&dir.join(files::CONFIG))?;
    let runs = plan(&cfg)?;
    let results_path = dir.join(files::RESULTS);
    let mut records: Vec<RunRecord> =
        if results_path.exists() { read_results(&results_path)? } else { Vec::new() };
    let runs_dir = dir.join(files::RUNS);
    let mut out = format!(
        "{}: {} runs planned ({})\n\n{:>4}  {:<16} {:>10} {:>10}  state\n",
        dir.display(),
        runs.len(),
        cfg.name,
        "idx",
        "run",
        "N",
        "D"
    );
    let (mut done, mut diverged, mut partial, mut pending, mut uncollected) = (0, 0, 0, 0, 0);
    for (i, run) in runs.iter().enumerate() {
        let shard = runs_dir.join(&run.id).join(files::RESULTS);
        let mut state = String::new();
        if shard.exists() {
            records.extend(read_results(&shard)?);
            uncollected += 1;
            state.push_str("finished by --only, not collected; ");
        }
        let n = run.model.param_counts().non_embedding;
        match records.iter().find(|r| r.run_id == run.id) {
            Some(r) if r.status == RunStatus::Diverged => {
                diverged += 1;
                state.push_str("DIVERGED");
            }
            Some(r) => {
                done += 1;
                state.push_str(&format!("done: eval {:.4}, {:.0} s", r.eval_loss, r.wall_seconds));
            }
            None => {
                let ck = runs_dir.join(&run.id).join("checkpoint").join("state.json");
                let step = fs::read_to_string(&ck).ok().and_then(|t| {
                    let v: serde_json::Value = serde_json::from_str(&t).ok()?;
                    Some((v.get("step")?.as_u64()?, v.get("batches")?.as_u64()?))
                });
                match step {
                    Some((k, total)) => {
                        partial += 1;
                        state.push_str(&format!("interrupted: checkpoint at step {k} of {total}"));
                    }
                    None => {
                        pending += 1;
                        state.push_str("pending");
                    }
                }
            }
        }
        out.push_str(&format!("{i:>4}  {:<16} {n:>10} {:>10}  {state}\n", run.id, run.tokens));
    }
    out.push_str(&format!(
        "\n{done} done, {diverged} diverged, {partial} interrupted (resume from checkpoint), {pending} pending{}\n",
        if uncollected > 0 {
            format!("; {uncollected} to merge with `scalinglab run CONFIG --out DIR --collect`")
        } else {
            String::new()
        }
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rates_and_seeds_multiply_the_grid_with_stable_ids() {
        let mut cfg = ExperimentConfig::quickstart();
        cfg.sweep.widths = vec![16, 32];
        cfg.sweep.tokens = vec![51_200];
        cfg.sweep.lr_multipliers = vec![0.5, 1.0];
        cfg.sweep.seeds = vec![3, 4];
        cfg.sweep.lr_check = None;
        let runs = plan(&cfg).unwrap();
        assert_eq!(runs.len(), 8);
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids[0], "w16_D51200_lr0.5_s3");
        assert_eq!(ids[3], "w16_D51200_lr1_s4");
        assert!((runs[0].lr - 0.5 * cfg.lr_for_width(16)).abs() < 1e-15);
        assert_eq!((runs[0].seed, runs[1].seed), (3, 4));
        // The default sweep keeps the short ids.
        let plain = plan(&ExperimentConfig::quickstart()).unwrap();
        assert_eq!(plain[0].id, "w4_D2316800");
        cfg.sweep.lr_multipliers = vec![];
        assert!(cfg.validate().unwrap_err().to_string().contains("sweep.lr_multipliers"));
    }

    #[test]
    fn ladders_epochs_and_rules_set_each_runs_depth_rate_batch_and_data() {
        let text = r#"
            name = "ladder"
            [sweep]
            ladder = "aspect16-xs"
            tokens = [3200, 6400]
            epochs = [1, 4]
            [train]
            lr = 0.02
            lr_rule = { kind = "power_law", reference_params = 1e5, exponent = 0.5 }
            batch_rule = { kind = "power_law", reference_tokens = 3200, exponent = 1.0 }
            batch_size = 4
        "#;
        let cfg = ExperimentConfig::from_toml(text, Path::new("ladder.toml")).unwrap();
        assert_eq!(cfg.sweep.widths, vec![32, 48, 64, 96, 128]);
        let runs = plan(&cfg).unwrap();
        assert_eq!(runs.len(), 5 * 2 * 2);
        // Depth follows width at the preset's aspect ratio 16.
        let depths: Vec<usize> =
            runs.iter().step_by(4).map(|r| r.model.n_layers).collect::<Vec<_>>();
        assert_eq!(depths, vec![2, 3, 4, 6, 8]);
        assert!(runs.iter().all(|r| r.model.d_model == 16 * r.model.n_layers));
        // The fitted rule: lr = 0.02 × (N / 1e5)^−0.5, N without embeddings.
        for r in &runs {
            let n = r.model.param_counts().non_embedding as f64;
            assert!((r.lr - 0.02 * (n / 1e5).powf(-0.5)).abs() < 1e-15, "{}", r.id);
        }
        // Epochs: D tokens seen, D/e unique; ids name the epochs when the sweep varies them.
        let r = runs.iter().find(|r| r.id == "w32_D6400_e4").expect("named by epochs");
        assert_eq!((r.epochs, r.tokens), (4, 6400));
        assert_eq!(r.sequences, 128 / 4);
        let one = runs.iter().find(|r| r.id == "w32_D6400_e1").unwrap();
        assert_eq!((one.sequences, one.tokens), (128, 6400));
        // The batch grows with D: 4 × (D / 3200)^1.
        assert_eq!(one.batch_size, 8);
        assert_eq!(runs.iter().find(|r| r.id == "w32_D3200_e1").unwrap().batch_size, 4);
        // The report states every rule.
        let opts = analysis_options(&cfg, "data", ("entropy rate", 1.0), 2.0);
        for phrase in ["depth = width / 16", "(N / 1e5)^−0.5", "(D / 3.2e3)^1", "[1, 4] epochs"] {
            assert!(opts.preamble.contains(phrase), "{phrase}: {}", opts.preamble);
        }
        // Refusals name the field and the value.
        for (edit, field) in [
            (("sweep.ladder", "\"huge\""), "sweep.ladder"),
            (("sweep.widths", "[8, 16]"), "sweep.widths"),
            (("train.lr_base_width", "16"), "train.lr_base_width"),
            (("sweep.epochs", "[0]"), "sweep.epochs"),
            (("train.epochs", "0"), "train.epochs"),
            (("train.lr_rule", "{ kind = \"mup\" }"), "train.lr_rule"),
        ] {
            let sets = vec![format!("{}={}", edit.0, edit.1)];
            let e = ExperimentConfig::from_toml_with(text, Path::new("ladder.toml"), &sets)
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{edit:?}: {e}");
        }
    }

    #[test]
    fn slices_and_the_learning_rate_check_plan_the_runs_the_laws_need() {
        let mut cfg = ExperimentConfig::quickstart();
        cfg.sweep.widths = vec![8, 16, 32];
        cfg.sweep.tokens = vec![800, 1600, 3200];
        cfg.sweep.layout = crate::GridLayout::Slices;
        // The default cell: the largest width at the middle budget.
        cfg.sweep.lr_check =
            Some(crate::LrCheck { width: None, tokens: None, multipliers: vec![0.5, 2.0] });
        cfg.validate().unwrap();
        let ids: Vec<String> = plan(&cfg).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            [
                "w8_D3200",
                "w16_D3200",
                "w32_D800",
                "w32_D1600",
                "w32_D3200",
                "w32_D1600_lr0.5",
                "w32_D1600_lr2"
            ]
        );
        let runs = plan(&cfg).unwrap();
        assert!((runs[5].lr - 0.5 * cfg.lr_for_width(32)).abs() < 1e-15);
        assert_eq!(runs[6].tokens, runs[3].tokens);
        // A full grid has every cell.
        cfg.sweep.layout = crate::GridLayout::Full;
        assert_eq!(plan(&cfg).unwrap().len(), 9 + 2);
        // Refusals name the field and the value.
        for (edit, field) in [
            (
                crate::LrCheck { width: Some(24), tokens: Some(1600), multipliers: vec![2.0] },
                "sweep.lr_check.width",
            ),
            (
                crate::LrCheck { width: Some(32), tokens: Some(999), multipliers: vec![2.0] },
                "sweep.lr_check.tokens",
            ),
            (
                crate::LrCheck { width: Some(32), tokens: Some(1600), multipliers: vec![1.0] },
                "sweep.lr_check.multipliers",
            ),
            (
                crate::LrCheck { width: Some(32), tokens: Some(1600), multipliers: vec![] },
                "sweep.lr_check.multipliers",
            ),
            (
                crate::LrCheck { width: Some(32), tokens: Some(1600), multipliers: vec![-2.0] },
                "sweep.lr_check.multipliers",
            ),
        ] {
            cfg.sweep.lr_check = Some(edit);
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        // Under slices the checked cell must lie on a slice.
        cfg.sweep.layout = crate::GridLayout::Slices;
        cfg.sweep.lr_check =
            Some(crate::LrCheck { width: Some(16), tokens: Some(1600), multipliers: vec![2.0] });
        assert!(cfg.validate().unwrap_err().to_string().contains("sweep.lr_check"));
        // Widths split evenly into max(1, width / head_dim) heads.
        cfg.sweep.lr_check = None;
        cfg.sweep.head_dim = 16;
        cfg.sweep.widths = vec![4, 6, 12, 24, 48];
        cfg.validate().unwrap();
        assert_eq!(cfg.run_model(48).unwrap().n_heads, 3);
        cfg.sweep.widths = vec![50];
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("sweep.widths") && e.contains("50"), "{e}");
    }

    #[test]
    fn changed_fields_name_the_field_and_both_values() {
        let a = "name = \"x\"\n[train]\nlr = 0.01\n";
        let b = "name = \"x\"\n[train]\nlr = 0.02\nseed = 3\n";
        assert_eq!(changed_fields(a, b), vec!["train.lr: 0.01 → 0.02", "train.seed: (absent) → 3"]);
        assert!(changed_fields(a, a).is_empty());
    }
}

/// A sweep over a user's own model family (see [`sweep_models`]).
#[derive(Clone, Debug)]
pub struct ModelSweep {
    /// Run directory: `results.csv`, `runs/<id>/` checkpoints, report.
    pub out_dir: PathBuf,
    /// Family name, used in run ids (`<name>_k<size>_D<tokens>`) and the `arch` column.
    pub name: String,
    /// Model sizes `k` passed to the builder.
    pub sizes: Vec<usize>,
    /// Training tokens per run (whole sequences of the corpus's length are taken).
    pub tokens: Vec<u64>,
    /// Optimiser, schedule, checkpoints, divergence.
    pub train: TrainConfig,
    /// Vocabulary size (for the divergence bound and the records).
    pub vocab_size: usize,
    /// The report's reference loss (e.g. an exact entropy rate), if known.
    pub reference_loss: Option<f64>,
    /// Bootstrap resamples of the report's fits.
    pub bootstrap: usize,
}

/// Trains every (size, tokens) cell of a user's model family with [`crate::train_model`]
/// (the same optimiser, schedule, divergence checks and checkpoints as a scalinglab sweep),
/// appending each finished run to `results.csv` and resuming an interrupted sweep, then fits
/// and writes the report. `build(k, device)` builds a fresh size-`k` model on `device` (an
/// autodiff device); `params(k)` is its `N` for the fits. `train_pool` must hold at least the
/// largest token budget; runs take prefixes of it.
///
/// # Errors
/// A token budget larger than the pool, a results file that cannot be read or written, a
/// failed checkpoint, or a report that cannot be written.
pub fn sweep_models<M: crate::LanguageModel>(
    sweep: &ModelSweep,
    build: impl Fn(usize, &burn::prelude::Device) -> M,
    params: impl Fn(usize) -> u64,
    train_pool: &TokenCorpus,
    eval: &TokenCorpus,
    device: &burn::prelude::Device,
) -> Result<ScalingFits, TrainingError> {
    fs::create_dir_all(&sweep.out_dir).map_err(write_err(&sweep.out_dir))?;
    let results_path = sweep.out_dir.join(files::RESULTS);
    let done: HashSet<String> = if results_path.exists() {
        read_results(&results_path)?.into_iter().map(|r| r.run_id).collect()
    } else {
        HashSet::new()
    };
    let mut writer = ResultsWriter::open(&results_path)?;
    let seq = train_pool.seq_len;
    for &k in &sweep.sizes {
        for &tokens in &sweep.tokens {
            let id = format!("{}_k{k}_D{tokens}", sweep.name);
            if done.contains(&id) {
                continue;
            }
            let sequences = tokens.div_ceil(seq as u64) as usize;
            if sequences > train_pool.num_sequences() {
                return Err(invalid(
                    "tokens",
                    tokens,
                    format!("the training pool holds {} tokens", train_pool.num_target_tokens()),
                ));
            }
            let train = train_pool.take(sequences);
            let run_dir = sweep.out_dir.join(files::RUNS).join(&id);
            fs::create_dir_all(&run_dir).map_err(write_err(&run_dir))?;
            let ad = device.clone().autodiff();
            device.seed(sweep.train.seed);
            let fresh = build(k, &ad);
            fresh.visit(&mut crate::run::Materialize); // draw every weight now, from this seed
            let ckpt = Checkpointing { dir: Some(run_dir.clone()), stop_after: None };
            let fingerprint = format!("{} k={k}", sweep.name);
            let (_, out) = crate::train_model(
                fresh,
                &fingerprint,
                sweep.vocab_size,
                &sweep.train,
                &train,
                eval,
                device,
                &ckpt,
                |_, _| {},
            )?;
            let n = params(k);
            let d = (sequences * seq) as u64 * u64::from(sweep.train.epochs);
            writer.append(&RunRecord {
                run_id: id.clone(),
                arch: sweep.name.clone(),
                d_model: k,
                n_layers: 0,
                n_heads: 0,
                context: seq,
                vocab_size: sweep.vocab_size,
                params: n,
                params_non_embedding: n,
                tokens: d,
                steps: out.steps,
                batch_size: sweep.train.batch_size,
                lr: sweep.train.lr,
                flops_per_token: 6.0 * n as f64,
                flops: 6.0 * n as f64 * d as f64,
                train_loss: out.train_loss,
                eval_loss: out.eval_loss,
                wall_seconds: out.wall_seconds,
                device: "custom".into(),
                seed: sweep.train.seed,
                status: if out.diverged { RunStatus::Diverged } else { RunStatus::Ok },
                epochs: sweep.train.epochs,
            })?;
            crate::run::remove_checkpoint(&run_dir);
            let _ = fs::remove_dir(&run_dir);
            tracing::info!(run = %id, eval_loss = out.eval_loss, "run finished");
        }
    }
    let records = read_results(&results_path)?;
    write_json_lines(&sweep.out_dir, &records)?;
    let opts = AnalysisOptions {
        title: format!("scalinglab report: {}", sweep.name),
        reference_loss: sweep.reference_loss.map(|r| ("reference".to_string(), r)),
        bootstrap: sweep.bootstrap,
        flop_convention: "6N, N the parameters the family's counter gives".into(),
        ..AnalysisOptions::default()
    };
    Ok(write_report(&records, &opts, &sweep.out_dir)?)
}

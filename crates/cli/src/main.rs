//! `scalinglab`: the command line. It parses arguments and calls the library crates; all the
//! work lives in `scalinglab-training` and `scalinglab-analysis`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use scalinglab_training::{
    DeviceChoice, ExperimentConfig, ExperimentOutcome, RunOptions, reanalyze_with, run_experiment,
};

// Training allocates and frees large buffers every step; an allocator that keeps freed pages
// avoids the page faults that cost about a fifth of the time with the system allocator (BURN.md 6.11).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc returns freed memory to the OS a while after it is freed (its `purge_delay`, 1 s);
/// a training step takes 10–2000 ms and allocates its largest buffers once per step, so they
/// were faulted back in, and the kernel's page clearing was 13% of a 1-thread profile. Never purging keeps the pages of the last step
/// for the next: +25–35% tokens/s on the bench shapes (README, "Performance"), at the cost of
/// holding the peak memory of a step until exit. `MIMALLOC_PURGE_DELAY` in the environment
/// still wins.
fn keep_freed_pages() {
    // `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (include/mimalloc.h), just before
    // `mi_option_use_numa_nodes` (16), which the Rust bindings name; it is not bound itself.
    // Its default is 1000 (ms): the value is only changed when that default is what the option
    // holds, so a different layout is left alone.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const _: () = assert!(libmimalloc_sys::mi_option_use_numa_nodes - 1 == PURGE_DELAY);
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_get` and `mi_option_set` read and store an integer in mimalloc's
    // option table; they take no pointers and are valid at any time, here before any other
    // thread exists.
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == 1000 {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
        }
    }
}

/// A laboratory for neural scaling laws: train model families over grids of model size N and
/// data size D, fit power laws, and compare them with what the data predicts.
#[derive(Parser, Debug)]
#[command(name = "scalinglab", version, about, long_about = None)]
struct Cli {
    /// More log lines on stderr: -v run starts, resumes and ends; -vv checkpoints; -vvv every
    /// 100th training loss. Quiet by default apart from progress bars. `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run (or resume) an experiment: train every run of its grid, fit, plot and report.
    Run {
        /// Experiment file (TOML). Without one, the built-in quickstart runs
        /// (configs/quickstart.toml, compiled in).
        config: Option<PathBuf>,
        /// Backend: auto (a GPU if found, else CPU), flex, ndarray, wgpu, cuda.
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
        /// Run directory. Default: `runs/<experiment name>`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Discard finished runs in the run directory instead of resuming them.
        #[arg(long)]
        fresh: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Runs trained side by side (0: one per core on a CPU backend, one on a GPU).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Runs trained as one stacked model: cells that differ only in learning rate and
        /// seed share each step, up to this many (1: every run alone; 0: 1 on a CPU backend,
        /// where it measured no faster, and up to 8 on a GPU). Results match runs trained
        /// alone to float rounding; a stack keeps no checkpoint.
        #[arg(long, default_value_t = 0)]
        replicas: usize,
        /// Accept a changed config whose only changes add grid points (widths, token or
        /// compute budgets) to the finished runs.
        #[arg(long)]
        extend: bool,
        /// Train only these grid points (comma-separated indices, as `scalinglab status`
        /// numbers them) into `runs/<id>/` for a later --collect: one task of a Slurm array.
        #[arg(long, conflicts_with_all = ["collect", "emit"])]
        only: Option<String>,
        /// Merge the runs that --only tasks finished, train any that are missing, and report.
        #[arg(long)]
        collect: bool,
        /// Write a scheduler script instead of training: `slurm` (a job array, one run per
        /// task) into the run directory as sweep.slurm.
        #[arg(long)]
        emit: Option<String>,
        /// With --emit slurm: the partition (`#SBATCH --partition`).
        #[arg(long, requires = "emit")]
        partition: Option<String>,
        /// With --emit slurm: the time limit per task (`MM`, `HH:MM:SS`, `D-HH:MM:SS`, …).
        #[arg(long, requires = "emit")]
        time: Option<String>,
        /// With --emit slurm: GPUs per task (0: none; with GPUs the tasks pick their device).
        #[arg(long, requires = "emit", default_value_t = 0)]
        gpus: u32,
        /// With --emit slurm: CPUs per task.
        #[arg(long, requires = "emit", default_value_t = 2)]
        cpus: u32,
        /// With --emit slurm: memory per task (`16G`, `4000M`).
        #[arg(long, requires = "emit")]
        mem: Option<String>,
        /// With --emit slurm: the account to charge.
        #[arg(long, requires = "emit")]
        account: Option<String>,
        /// With --emit slurm: runs per array task (small runs packed together queue less).
        #[arg(long, requires = "emit", default_value_t = 1)]
        runs_per_task: usize,
        /// Override a field of the experiment: `--set train.lr=1e-3 --set sweep.widths=[32,64]`
        /// (repeatable; the value is TOML). Validated like the file, and recorded in the run
        /// directory's config.toml.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// The state of every run of a run directory: done, diverged, interrupted (with the
    /// checkpoint's step), pending; with the indices --only takes.
    Status {
        /// A run directory.
        dir: PathBuf,
    },
    /// Rewrite the fits, plots and report of a run directory from its results.csv.
    Analyze {
        /// A run directory written by `scalinglab run`.
        dir: PathBuf,
        /// Also fit a broken power law (one break, Caballero et al. 2022) to L(N) and L(D), with a
        /// "Broken power law" section in the report.
        #[arg(long)]
        broken_power_law: bool,
    },
    /// Compute-optimal analysis of a sweep or any CSV: Chinchilla's approaches 1-3 and the
    /// interpolated-surface frontier side by side, with bootstrap intervals.
    Fit {
        /// A results.csv (or run directory) written by `scalinglab run`, or any CSV with
        /// columns for N, D (or C) and loss.
        input: PathBuf,
        /// Methods: approach1, approach2, approach3, surface, or all (comma-separated list).
        #[arg(long, default_value = "all")]
        method: String,
        /// Output directory for fit.json, fit.md and plots. Default: beside the input.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Parameter column of a generic CSV.
        #[arg(long, default_value = "N")]
        n_column: String,
        /// Token column of a generic CSV.
        #[arg(long, default_value = "D")]
        d_column: String,
        /// Compute column of a generic CSV (instead of, or with, D).
        #[arg(long)]
        c_column: Option<String>,
        /// Loss column of a generic CSV.
        #[arg(long, default_value = "loss")]
        loss_column: String,
        /// Unique-token column of a generic CSV, for the data-constrained law (Muennighoff et
        /// al. 2023). Default: a column named U, when present.
        #[arg(long)]
        unique_column: Option<String>,
        /// Bootstrap resamples per method (0: no intervals).
        #[arg(long, default_value_t = 1000)]
        bootstrap: usize,
        /// L-BFGS starts of approach 3 (4,500 is Chinchilla's grid).
        #[arg(long, default_value_t = 4500)]
        starts: usize,
        /// Huber δ of approach 3.
        #[arg(long, default_value_t = 1e-3)]
        huber_delta: f64,
        /// For results files: N without embeddings (non-embedding) or with them (total).
        #[arg(long, default_value = "non-embedding")]
        params: scalinglab_analysis::frontier::ParamCounting,
        /// For results files: C = 6ND (6nd), the recorded FLOPs (recorded), or the recorded FLOPs
        /// without the unembedding (recorded-without-unembedding).
        #[arg(long, default_value = "6nd")]
        compute: scalinglab_analysis::frontier::ComputeCounting,
        /// Training curves (run_id,tokens_seen,flops_so_far,loss) for approach 1.
        #[arg(long)]
        curves: Option<PathBuf>,
        /// Seed of the bootstrap.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Budget C in FLOPs (same convention as the data's C): each method's compute-optimal
        /// N, D, D/N and loss there, with 95% intervals. Repeatable or comma-separated.
        #[arg(long, value_name = "C", value_delimiter = ',', allow_negative_numbers = true)]
        budget: Vec<f64>,
        /// N,D (parameters, tokens): the loss of that model from approach 3's law (and the
        /// surface, inside the runs), with 95% intervals. Repeatable.
        #[arg(
            long,
            value_name = "N,D",
            allow_hyphen_values = true,
            value_parser = scalinglab_analysis::frontier::parse_predict
        )]
        predict: Vec<(f64, f64)>,
        /// A loss no model can go below (the data's irreducible loss): approach 3's E and any
        /// predicted loss under it are flagged. Default: the reference loss a scalinglab sweep
        /// recorded in fits.json beside its results.
        #[arg(long, value_name = "L", allow_negative_numbers = true)]
        floor: Option<f64>,
    },
    /// Statistics that predict exponents before training: correlation decay and conditional
    /// entropy of a token shard, intrinsic dimension of a point file, and the predictions
    /// α_D = γ/(2β), α_D = 2s/(2s+d), α_N = 2s/d.
    Stats {
        /// Token shard: little-endian u16/u32 ids (.bin, .u16, .u32) or whitespace-separated ids.
        #[arg(long)]
        tokens: Option<PathBuf>,
        /// Vocabulary size of the token shard (every id must be below it). Default: from the
        /// shard's JSON header (`scalinglab data` writes one beside each `.bin`), which also
        /// sets the id width.
        #[arg(long)]
        vocab: Option<usize>,
        /// Id width of a binary token shard, 16 or 32 bits.
        #[arg(long, default_value_t = 16)]
        token_width: u32,
        /// Lags of the correlation decay: `1..200` (all), `1..200@40` (40 log-spaced), `1,2,4`.
        #[arg(long)]
        lags: Option<String>,
        /// Lag window of the β fit, `LO..HI` (default: every resolved lag).
        #[arg(long)]
        fit_lags: Option<String>,
        /// Longest context n of the n-gram conditional entropies H_n.
        #[arg(long)]
        max_n: Option<usize>,
        /// Bias correction of H_n: miller_madow, grassberger or plugin.
        #[arg(long)]
        estimator: Option<String>,
        /// Point file (CSV, or raw little-endian f32 with --dim) for the intrinsic dimension.
        #[arg(long)]
        points: Option<PathBuf>,
        /// Dimension of a binary point file.
        #[arg(long)]
        dim: Option<usize>,
        /// Neighbours of the Levina–Bickel estimator.
        #[arg(long)]
        k: Option<usize>,
        /// Distance: euclidean or cosine.
        #[arg(long)]
        metric: Option<String>,
        /// Points per batch of the intrinsic-dimension estimate.
        #[arg(long)]
        batch_size: Option<usize>,
        /// A trained model's per-position losses L_n (CSV).
        #[arg(long)]
        position_losses: Option<PathBuf>,
        /// Per-position losses of a sweep over data sizes (CSV tokens,position,loss): collapse test.
        #[arg(long)]
        loss_table: Option<PathBuf>,
        /// Smoothness s of the intrinsic-dimension prediction.
        #[arg(long)]
        smoothness: Option<f64>,
        /// Bootstrap resamples of every fit.
        #[arg(long)]
        bootstrap: Option<usize>,
        /// Seed of every random choice.
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory.
        #[arg(long, default_value = "runs/stats")]
        out: PathBuf,
    },
    /// Training throughput (tokens/s, FLOP/s) of the quickstart's model family on each backend,
    /// measured in one process, with ratios against the first backend listed.
    Bench {
        /// Backends to compare, comma-separated; the first is the reference for the ratios.
        #[arg(long, default_value = "flex,ndarray")]
        devices: String,
        /// Model shapes LAYERSxWIDTH@CONTEXTbBATCH, comma-separated (GPT-2, SP).
        #[arg(long, default_value = "2x64@50b64,2x128@50b64,2x256@50b64,2x512@50b64,6x384@256b16")]
        shapes: String,
        /// Vocabulary size.
        #[arg(long, default_value_t = 1024)]
        vocab: usize,
        /// Head width: heads = width / head-dim.
        #[arg(long, default_value_t = 32)]
        head_dim: usize,
        /// Timed steps per cell (after --warmup untimed ones).
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Untimed steps per cell.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Runs side by side, comma-separated: 1 is one run on every core, 2 is two runs with
        /// half the cores each (a sweep's throughput per machine).
        #[arg(long, default_value = "1")]
        jobs: String,
        /// The PyTorch reference (bench/pytorch_reference.py): run with the same shapes,
        /// threads and runs, and print the ratio (needs python3 with torch; see bench/README.md).
        #[arg(long)]
        reference: Option<PathBuf>,
        /// Python interpreter for --reference.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Time sampling instead of training: tokens/s through the key/value cache against
        /// re-encoding the window for every token, for each shape's width, context and batch.
        #[arg(long)]
        sampling: bool,
        /// Also time flex with its fused LayerNorm and cross-entropy kernels off (`flex-unf`
        /// rows), so that "vs first" shows what the fused kernels buy.
        #[arg(long)]
        unfused: bool,
        /// Also time flex with K models trained as one stack per run (`flex×K` rows; each at
        /// its own learning rate, as a learning-rate grid trains): tokens/s counts every
        /// replica, so "vs torch" is the machine's throughput against PyTorch training the K
        /// models one after another.
        #[arg(long, default_value_t = 1)]
        replicas: usize,
    },
    /// Build a data set into token shards from a data config (random walks, a tokenised
    /// corpus, an n-gram model's samples, or manifold data; see configs/data/): train.bin,
    /// validation.bin, their JSON headers and data.json with the summary.
    Data {
        /// Data config (TOML with `kind = "walk" | "corpus" | "ngram" | "manifold" | "hierarchy" | "multiscale" | "copy"`).
        config: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// muP coordinate check: train SP and muP models of several widths for a few steps at one
    /// learning rate and compare how each layer's activation size grows with width.
    CoordCheck {
        /// Architecture: gpt2 or llama.
        #[arg(long, default_value = "gpt2")]
        arch: String,
        /// Widths, comma-separated.
        #[arg(long, default_value = "32,64,128,256")]
        widths: String,
        /// Adam steps before measuring.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Learning rate, the same at every width.
        #[arg(long, default_value_t = 1e-2)]
        lr: f64,
        /// Backend.
        #[arg(long, default_value = "flex")]
        device: DeviceChoice,
        /// Output directory for coord_check.csv and the two plots.
        #[arg(long, default_value = "coord_check")]
        out: PathBuf,
    },
    /// Sample a token corpus from a model saved by a sweep (train.save_models = true), through
    /// the key/value cache; writes raw little-endian u16 (vocabulary ≤ 65536) or u32 ids.
    Sample {
        /// model.safetensors written by a sweep.
        model: PathBuf,
        /// Output file (.bin).
        #[arg(long)]
        out: PathBuf,
        /// Sequences to sample.
        #[arg(long, default_value_t = 1000)]
        sequences: usize,
        /// Tokens per sequence (the first is drawn uniformly).
        #[arg(long, default_value_t = 51)]
        length: usize,
        /// Softmax temperature (0: greedy).
        #[arg(long, default_value_t = 1.0)]
        temperature: f64,
        /// Keep only the k most likely tokens.
        #[arg(long)]
        top_k: Option<usize>,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Sequences sampled together.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Backend.
        #[arg(long, default_value = "flex")]
        device: DeviceChoice,
    },
    /// Final-layer hidden states of a saved model at positions drawn from a token file: a point
    /// cloud (raw f32, row-major) for `scalinglab stats --points FILE --dim D_MODEL`.
    Hidden {
        /// model.safetensors written by a sweep.
        model: PathBuf,
        /// Token file (raw little-endian ids, as `scalinglab sample` writes).
        #[arg(long)]
        tokens: PathBuf,
        /// Bits per token id in the token file: 16 or 32.
        #[arg(long, default_value_t = 16)]
        token_bits: u32,
        /// Points (positions) to take.
        #[arg(long, default_value_t = 10000)]
        points: usize,
        /// Output file (.bin, f32).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the positions.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Backend.
        #[arg(long, default_value = "flex")]
        device: DeviceChoice,
    },
    /// Export a model saved by a sweep (train.save_models = true) for other tools. `--format
    /// hf` writes Hugging Face GPT-2 into --out: `model.safetensors` under GPT2LMHeadModel's
    /// names and layout, and `config.json`, for `GPT2LMHeadModel.from_pretrained(OUT)`. Models
    /// GPT-2 cannot express exactly (LLaMA, muP) are refused.
    Export {
        /// model.safetensors written by a sweep, or the run directory holding it.
        model: PathBuf,
        /// Output format: hf (Hugging Face GPT2LMHeadModel).
        #[arg(long, default_value = "hf", value_parser = ["hf"])]
        format: String,
        /// Output directory (created if needed; existing files of the same names are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Weight type: f32, bf16 or f16 (rounded to nearest).
        #[arg(long, default_value = "f32")]
        dtype: scalinglab_model::FloatDtype,
        /// Backend the weights are loaded on.
        #[arg(long, default_value = "flex")]
        device: DeviceChoice,
    },
    /// Reproduce a paper at laptop scale, prediction beside measurement: `graphs` (Barkeshli
    /// et al.: graph families, SP against muP, the entropy rate beside the fitted offset),
    /// `manifolds` (Havrilla & Liao: estimated intrinsic dimension against the measured
    /// exponents), `statistics` (Cagnetta et al.: correlation and entropy exponents against a
    /// data-size sweep). Resumable: repeat the command to finish an interrupted run.
    Reproduce {
        /// Which: graphs, manifolds or statistics.
        name: String,
        /// Output directory. Default: `runs/reproduce-<name>`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Smaller grids (about a third of the time), for a first look.
        #[arg(long)]
        quick: bool,
        /// Grow the grids by doublings up to SCALE times the default's largest data size (and
        /// width), for a GPU or a cluster.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// A text file or folder to measure instead of the generated corpus (statistics only).
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Backend.
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Print a shell completion script: `scalinglab completions bash > ~/.local/share/bash-completion/completions/scalinglab`
    /// (also zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Check an experiment file and print what it would run, without training.
    Check {
        /// Experiment file (TOML); without one, the built-in quickstart.
        config: Option<PathBuf>,
    },
}

/// [`load`] with `--set` overrides applied.
fn load_with(config: Option<&PathBuf>, sets: &[String]) -> Result<ExperimentConfig> {
    Ok(match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            ExperimentConfig::from_toml_with(&text, path, sets)?
        }
        None => ExperimentConfig::from_toml_with(
            scalinglab_training::QUICKSTART_TOML,
            std::path::Path::new("configs/quickstart.toml"),
            sets,
        )?,
    })
}

fn load(config: Option<&PathBuf>) -> Result<ExperimentConfig> {
    Ok(match config {
        Some(path) => ExperimentConfig::load(path)?,
        None => ExperimentConfig::quickstart(),
    })
}

fn print_outcome(o: &ExperimentOutcome) {
    println!();
    println!("{}", scalinglab_analysis::summary_text(&o.fits));
    println!(
        "entropy rate (exact): {:.4} nats/token; oracle on held-out tokens: {:.4}; unigram: {:.4}",
        o.entropy_rate, o.eval_oracle_loss, o.unigram_entropy
    );
    println!(
        "{} runs in results ({} trained now) on {} in {:.1} s",
        o.records.len(),
        o.trained,
        o.device,
        o.wall.as_secs_f64()
    );
    println!("report: {}", o.report.display());
}

fn main() -> std::process::ExitCode {
    keep_freed_pages();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The error chain, without a backtrace and without repeating a cause that the
            // message above it already quotes.
            let mut shown = format!("{e}");
            eprintln!("error: {shown}");
            for cause in e.chain().skip(1) {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown.push_str(&text);
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logging through `tracing`: warnings by default, more with each `-v`.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,scalinglab={level},scalinglab_training={level},scalinglab_analysis={level},scalinglab_data={level}"
        ))
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> Result<()> {
    init_logging(cli.verbose);
    match cli.command {
        Command::Run {
            config,
            device,
            out,
            fresh,
            quiet,
            jobs,
            replicas,
            extend,
            only,
            collect,
            emit,
            partition,
            time,
            gpus,
            cpus,
            mem,
            account,
            runs_per_task,
            sets,
        } => {
            anyhow::ensure!(
                sets.is_empty() || emit.is_none(),
                "--set with --emit slurm: the array's tasks read the experiment file, so write the \
                 overrides into it"
            );
            let cfg = load_with(config.as_ref(), &sets)?;
            let out_dir = out.unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
            let opts = RunOptions {
                fresh,
                extend,
                progress: !quiet,
                jobs,
                replicas,
                ..RunOptions::new(out_dir.clone(), device)
            };
            if let Some(kind) = emit {
                anyhow::ensure!(
                    kind == "slurm",
                    "--emit {kind:?}: the one scheduler format is slurm"
                );
                let config = config.context(
                    "--emit slurm needs the experiment file (the tasks must read the same file)",
                )?;
                let config = std::fs::canonicalize(&config)
                    .with_context(|| format!("cannot find {}", config.display()))?;
                std::fs::create_dir_all(&out_dir)
                    .with_context(|| format!("cannot create {}", out_dir.display()))?;
                let dir = std::fs::canonicalize(&out_dir)?;
                let binary = std::env::current_exe()
                    .map_or_else(|_| "scalinglab".to_string(), |p| p.display().to_string());
                let slurm = scalinglab_training::SlurmOptions {
                    partition,
                    time,
                    gpus,
                    cpus,
                    mem,
                    account,
                    runs_per_task,
                };
                let script =
                    scalinglab_training::slurm_script(&cfg, &config, &dir, &binary, &slurm)?;
                let path = dir.join("sweep.slurm");
                scalinglab_training::write_atomic(&path, script.as_bytes())?;
                println!("wrote {}; submit it with sbatch", path.display());
                return Ok(());
            }
            // A SIGTERM (Slurm's preemption notice) checkpoints every run in progress and exits.
            scalinglab_training::stop_on_sigterm()?;
            if let Some(only) = only {
                let indices = parse_list(&only, "--only")?;
                let trained = scalinglab_training::run_only(&cfg, &opts, &indices)?;
                println!(
                    "{trained} run(s) trained into {}; merge with --collect",
                    out_dir.join("runs").display()
                );
                return Ok(());
            }
            let outcome = run_experiment(&cfg, &opts)
                .with_context(|| format!("experiment {:?} failed", cfg.name))?;
            if collect || outcome.collected > 0 {
                println!("merged {} run(s) finished by --only tasks", outcome.collected);
            }
            print_outcome(&outcome);
        }
        Command::Data { config, out } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("cannot read {}", config.display()))?;
            let cfg: scalinglab_data::build::DataBuildConfig =
                toml::from_str(&text).with_context(|| format!("{}", config.display()))?;
            let mut last = String::new();
            let summary = scalinglab_data::build::build_data(&cfg, &out, |p| {
                if p.stage != last {
                    eprintln!("  {} …", p.stage);
                    last = p.stage.clone();
                }
            })?;
            println!(
                "{}: {} train tokens ({} documents), {} validation tokens, vocabulary {}, tokenizer {}",
                summary.kind,
                summary.train_tokens,
                summary.train_documents,
                summary.validation_tokens,
                summary.vocab_size,
                summary.tokenizer
            );
            if let Some(h) = summary.entropy_rate {
                println!("  exact entropy rate {h:.4} nats/token (the irreducible loss)");
            }
            println!(
                "  {:.1} s, {:.2e} tokens/s; files in {}",
                summary.seconds,
                summary.tokens_per_second,
                out.display()
            );
            for n in &summary.notes {
                println!("  note: {n}");
            }
        }
        Command::Reproduce { name, out, quick, scale, corpus, device, quiet } => {
            let out = out.unwrap_or_else(|| PathBuf::from(format!("runs/reproduce-{name}")));
            let opts = scalinglab_reproduce::ReproduceOptions {
                device,
                quick,
                scale,
                corpus,
                progress: !quiet,
                command: std::env::args().collect::<Vec<_>>().join(" "),
                ..scalinglab_reproduce::ReproduceOptions::new(&out)
            };
            let path = scalinglab_reproduce::reproduce(&name, &opts)?;
            let report = std::fs::read_to_string(&path)?;
            // The report's opening paragraph and first table.
            let head: Vec<&str> = report.lines().take_while(|l| !l.starts_with("## ")).collect();
            println!("{}", head.join("\n").trim_end());
            println!("\nreport: {}", path.display());
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "scalinglab",
                &mut std::io::stdout(),
            );
        }
        Command::Status { dir } => {
            print!("{}", scalinglab_training::status(&dir)?);
        }
        Command::Analyze { dir, broken_power_law } => {
            let outcome = reanalyze_with(&dir, broken_power_law)
                .with_context(|| format!("cannot analyse {}", dir.display()))?;
            print_outcome(&outcome);
        }
        Command::Fit {
            input,
            method,
            out,
            n_column,
            d_column,
            c_column,
            loss_column,
            unique_column,
            bootstrap,
            starts,
            huber_delta,
            params,
            compute,
            curves,
            seed,
            budget,
            predict,
            floor,
        } => {
            let opts = scalinglab_analysis::FitCommandOptions {
                methods: scalinglab_analysis::frontier::parse_methods(&method)?,
                n_column,
                d_column,
                c_column,
                loss_column,
                unique_column,
                bootstrap,
                starts,
                huber_delta,
                params,
                compute,
                curves,
                seed,
                budgets: budget,
                predict,
                floor,
                ..Default::default()
            };
            let out = out.unwrap_or_else(|| {
                let base = if input.is_dir() {
                    input.clone()
                } else {
                    input.parent().map(PathBuf::from).unwrap_or_default()
                };
                base.join("fit")
            });
            let report = scalinglab_analysis::fit_command(&input, &opts, &out)
                .with_context(|| format!("cannot fit {}", input.display()))?;
            println!("{}", report.summary_text());
            println!("written to {}", out.display());
        }
        Command::Stats {
            tokens,
            vocab,
            token_width,
            lags,
            fit_lags,
            max_n,
            estimator,
            points,
            dim,
            k,
            metric,
            batch_size,
            position_losses,
            loss_table,
            smoothness,
            bootstrap,
            seed,
            out,
        } => {
            use scalinglab_analysis::stats::{self, io::TokenWidth};
            let mut opts = stats::StatsCommandOptions::default();
            if let Some(path) = tokens {
                let (vocab, width) = match vocab {
                    Some(v) => (v, TokenWidth::from_bits(token_width)?),
                    None => {
                        let shard = scalinglab_data::TokenShard::open(&path).with_context(|| {
                            format!(
                                "--tokens {}: give --vocab, or a shard with its JSON header beside it",
                                path.display()
                            )
                        })?;
                        let width = match shard.header().dtype {
                            scalinglab_data::TokenDtype::U16 => TokenWidth::U16,
                            scalinglab_data::TokenDtype::U32 => TokenWidth::U32,
                        };
                        (shard.vocab_size(), width)
                    }
                };
                // --max-n is checked against the most tokens the file can hold (its size alone),
                // before the counts are sized by it.
                if let Some(n) = max_n {
                    let bytes = std::fs::metadata(&path)
                        .with_context(|| format!("--tokens {}", path.display()))?
                        .len();
                    let binary = path
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| ["bin", "u16", "u32"].contains(&e));
                    let most = match (binary, width) {
                        (true, TokenWidth::U16) => bytes / 2,
                        (true, TokenWidth::U32) => bytes / 4,
                        (false, _) => bytes.div_ceil(2), // one digit and a separator each
                    };
                    if n == 0 || (n as u64).saturating_add(2) > most {
                        anyhow::bail!(
                            "--max-n {n}: must be at least 1, and the n-gram entropies H_1..H_n \
                             need at least n + 2 tokens; {} holds at most {most}",
                            path.display()
                        );
                    }
                }
                let mut source = stats::TokenSource::new(path, vocab);
                source.width = width;
                opts.tokens = Some(source);
            }
            if let Some(path) = points {
                // A binary point of --dim f32 values must fit in the file (and its byte count
                // in 64 bits) before anything is sized by it.
                let csv = path.extension().and_then(|e| e.to_str()) == Some("csv");
                if let (Some(d), false) = (dim, csv) {
                    let bytes = std::fs::metadata(&path)
                        .with_context(|| format!("--points {}", path.display()))?
                        .len();
                    if d == 0 || (d as u64).checked_mul(4).is_none_or(|b| b > bytes) {
                        anyhow::bail!(
                            "--dim {d}: a point is --dim f32 values (4 bytes each), at least 1 and \
                             no more than {} holds ({bytes} bytes)",
                            path.display()
                        );
                    }
                }
                opts.points = Some(stats::PointSource::new(path, dim));
            }
            opts.position_losses = position_losses;
            opts.loss_table = loss_table;
            if let Some(l) = lags {
                opts.correlation.lags = stats::parse_lags(&l)?;
            }
            if let Some(w) = fit_lags {
                opts.correlation.fit_window = Some(stats::parse_window(&w)?);
            }
            if let Some(n) = max_n {
                opts.entropy.max_n = n;
            }
            if let Some(e) = estimator {
                opts.entropy.estimator = stats::EntropyEstimator::parse(&e)?;
            }
            if let Some(k) = k {
                opts.id.k = k;
            }
            if let Some(m) = metric {
                opts.id.metric = stats::Metric::parse(&m)?;
            }
            if let Some(b) = batch_size {
                opts.id.batch_size = b;
            }
            if let Some(s) = smoothness {
                opts.smoothness = s;
            }
            if let Some(b) = bootstrap {
                opts.set_bootstrap(b);
            }
            if let Some(s) = seed {
                opts.set_seed(s);
            }
            let report = stats::stats_command(&opts, &out).context("scalinglab stats failed")?;
            println!("{}", report.summary_text());
            println!("written to {}", out.display());
        }
        Command::Bench {
            devices,
            shapes,
            vocab,
            head_dim,
            steps,
            warmup,
            jobs,
            reference,
            python,
            sampling,
            unfused,
            replicas,
        } => {
            let devices: Vec<DeviceChoice> =
                devices.split(',').map(|d| d.trim().parse()).collect::<Result<_, _>>()?;
            let shapes: Vec<scalinglab_training::BenchShape> =
                shapes.split(',').map(|s| s.parse()).collect::<Result<_, _>>()?;
            if sampling {
                println!(
                    "{:<14} {:<36} {:>14} {:>16} {:>8}",
                    "shape", "backend", "cached tok/s", "re-encode tok/s", "speedup"
                );
                for shape in &shapes {
                    let model = shape.model(vocab, head_dim);
                    for &d in &devices {
                        let r = scalinglab_training::bench_sampling(
                            d,
                            &model,
                            shape.batch,
                            model.context - 1,
                        )?;
                        println!(
                            "{:<14} {:<36} {:>14.0} {:>16.0} {:>7.1}x",
                            shape.to_string(),
                            r.device,
                            r.cached_tokens_per_s,
                            r.naive_tokens_per_s,
                            r.cached_tokens_per_s / r.naive_tokens_per_s
                        );
                    }
                }
                return Ok(());
            }
            let opts = scalinglab_training::BenchOptions {
                devices,
                shapes,
                vocab,
                head_dim,
                warmup,
                steps,
                jobs: parse_list(&jobs, "--jobs")?,
                reference,
                python,
                unfused,
                replicas,
                ..Default::default()
            };
            scalinglab_training::bench_command(&opts, &mut |line| println!("{line}"))?;
        }
        Command::CoordCheck { arch, widths, steps, lr, device, out } => {
            let arch = match arch.as_str() {
                "gpt2" => scalinglab_model::Arch::Gpt2,
                "llama" => scalinglab_model::Arch::Llama,
                other => anyhow::bail!("--arch {other:?}: expected gpt2 or llama"),
            };
            let widths = parse_list(&widths, "--widths")?;
            let cfg = scalinglab_training::CoordCheckConfig {
                arch,
                widths,
                steps,
                lr,
                ..Default::default()
            };
            let dev = scalinglab_training::select_device(device)?;
            print!("{}", scalinglab_training::coord_check_command(&cfg, &dev.device, &out)?);
        }
        Command::Sample {
            model,
            out,
            sequences,
            length,
            temperature,
            top_k,
            seed,
            batch,
            device,
        } => {
            let dev = scalinglab_training::select_device(device)?;
            let (cfg, net) = scalinglab_training::load_saved_model(&model, &dev.device)?;
            let s = scalinglab_model::SampleConfig { temperature, top_k, seed };
            let corpus = scalinglab_training::sample_corpus(
                &net,
                cfg.vocab_size,
                sequences,
                length,
                batch,
                &s,
                &dev.device,
            )?;
            let width = if cfg.vocab_size <= 65_536 { 16 } else { 32 };
            scalinglab_analysis::stats::io::write_tokens_binary(
                &out,
                &corpus.tokens,
                scalinglab_analysis::stats::io::TokenWidth::from_bits(width)?,
            )?;
            println!(
                "{} tokens ({sequences} × {length}) from a {} d={} model in {:.1} s ({:.0} tokens/s); written as u{width} to {}",
                corpus.tokens.len(),
                cfg.arch,
                cfg.d_model,
                corpus.seconds,
                corpus.tokens.len() as f64 / corpus.seconds.max(1e-9),
                out.display()
            );
        }
        Command::Hidden { model, tokens, token_bits, points, out, seed, device } => {
            let dev = scalinglab_training::select_device(device)?;
            let (cfg, net) = scalinglab_training::load_saved_model(&model, &dev.device)?;
            let ids = scalinglab_analysis::stats::io::read_tokens(
                &tokens,
                scalinglab_analysis::stats::io::TokenFormat::Binary,
                scalinglab_analysis::stats::io::TokenWidth::from_bits(token_bits)?,
                cfg.vocab_size,
            )?;
            let (values, dim) = scalinglab_training::hidden_state_points(
                &net,
                &cfg,
                &ids,
                points,
                seed,
                &dev.device,
            )?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            // Through a temporary file and a rename: an existing --out is replaced whole or
            // not at all.
            let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("points");
            let tmp = out.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::rename(&tmp, &out))
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&tmp);
                })
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{points} hidden states of dimension {dim} written to {} (f32); next: scalinglab stats --points {} --dim {dim}",
                out.display(),
                out.display()
            );
        }
        Command::Export { model, format: _, out, dtype, device } => {
            let path = if model.is_dir() { model.join("model.safetensors") } else { model };
            let dev = scalinglab_training::select_device(device)?;
            let (cfg, net) = scalinglab_training::load_saved_model(&path, &dev.device)?;
            let [weights, config] = scalinglab_model::export_hf_gpt2(&net, &cfg, &out, dtype)
                .with_context(|| format!("exporting {}", path.display()))?;
            println!(
                "{} d={} L={} model written as Hugging Face GPT-2 ({dtype}): {} and {}",
                cfg.arch,
                cfg.d_model,
                cfg.n_layers,
                weights.display(),
                config.display()
            );
        }
        Command::Check { config } => {
            let cfg = load(config.as_ref())?;
            println!("{}: valid", cfg.name);
            if let Some(s) = &cfg.data.shards {
                println!(
                    "  data: shards {} and {}, vocabulary {}",
                    s.train.display(),
                    s.validation.display(),
                    cfg.vocab_size()?
                );
            } else {
                let chain = cfg.data.walk.build()?;
                println!(
                    "  data: {:?}, {} tokens; entropy rate {:.4} nats/token (the irreducible loss), unigram {:.4}",
                    cfg.data.walk.graph,
                    chain.num_states(),
                    chain.entropy_rate(),
                    chain.unigram_entropy()
                );
            }
            for &w in &cfg.sweep.widths {
                let m = cfg.run_model(w)?;
                let c = m.param_counts();
                println!(
                    "  width {w:>5}: {} layers, {} heads, peak lr {:.3e}, N = {} ({} without embeddings), {:.3e} FLOPs/token",
                    m.n_layers,
                    m.n_heads,
                    cfg.lr_for_width(w),
                    c.total,
                    c.non_embedding,
                    m.flops_per_token(scalinglab_model::FlopCounting::WithUnembedding)
                );
            }
            println!("  token budgets: {:?}", cfg.sweep.tokens);
            if cfg.train.batch_rule != scalinglab_training::BatchRule::Constant {
                let batches: Vec<usize> =
                    cfg.sweep.tokens.iter().map(|&d| cfg.batch_for(d)).collect();
                println!("  batch sizes (sequences) at those budgets: {batches:?}");
            }
            if cfg.epoch_counts() != [1] {
                println!("  epochs over the unique data: {:?}", cfg.epoch_counts());
            }
            if !cfg.sweep.compute_budgets.is_empty() {
                println!("  IsoFLOP budgets (C = 6ND): {:?}", cfg.sweep.compute_budgets);
            }
            let (runs, tokens) = scalinglab_training::planned_totals(&cfg)?;
            println!("  {runs} runs, {tokens} training tokens in all");
        }
    }
    Ok(())
}

/// Parses a comma-separated list of numbers, naming the flag in errors.
fn parse_list(s: &str, flag: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|w| w.trim().parse().with_context(|| format!("{flag}: bad number {w:?}")))
        .collect()
}

//! Throughput benchmarks: training tokens/s, model FLOP/s and the fraction of the machine's
//! measured matrix-multiply peak, per model shape and backend, measured in one process so that
//! the ratios compare like with like; and sampling through the key/value cache against naive
//! re-encoding.
//!
//! FLOP counting: `6N + 6·L·T·d + 6·d·V` per token
//! ([`FlopCounting::WithUnembedding`]), N non-embedding; the same formula is used by the
//! PyTorch reference in `bench/pytorch_reference.py`.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use scalinglab_model::{Arch, FlopCounting, ModelConfig};

use crate::TrainingError;
use crate::device::{DeviceChoice, cpu_threads, select_device};

/// A model shape to benchmark: `LAYERSxWIDTH@CONTEXTbBATCH`, e.g. `2x128@50b64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchShape {
    /// Decoder blocks.
    pub layers: usize,
    /// Model width d.
    pub width: usize,
    /// Context length T.
    pub context: usize,
    /// Sequences per batch.
    pub batch: usize,
}

impl BenchShape {
    /// The shapes of the performance issue: the 2-layer context-50 decoder at widths 64–512
    /// (batch 64) and a 6-layer width-384 context-256 decoder (batch 16).
    pub fn defaults() -> Vec<BenchShape> {
        let two = |width| BenchShape { layers: 2, width, context: 50, batch: 64 };
        vec![
            two(64),
            two(128),
            two(256),
            two(512),
            BenchShape { layers: 6, width: 384, context: 256, batch: 16 },
        ]
    }

    /// The GPT-2 (SP) model of this shape: `width / head_dim` heads, every other field at
    /// [`ModelConfig`]'s default.
    pub fn model(&self, vocab: usize, head_dim: usize) -> ModelConfig {
        ModelConfig {
            arch: Arch::Gpt2,
            vocab_size: vocab,
            context: self.context,
            d_model: self.width,
            n_layers: self.layers,
            n_heads: (self.width / head_dim.max(1)).max(1),
            ..ModelConfig::default()
        }
    }
}

impl fmt::Display for BenchShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}@{}b{}", self.layers, self.width, self.context, self.batch)
    }
}

impl FromStr for BenchShape {
    type Err = TrainingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| TrainingError::Invalid {
            field: "bench shape".into(),
            value: format!("{s:?}"),
            reason: format!("{why}; expected LAYERSxWIDTH@CONTEXTbBATCH, e.g. 2x128@50b64"),
        };
        let (lw, tb) = s.trim().split_once('@').ok_or_else(|| bad("no '@'"))?;
        let (l, w) = lw.split_once('x').ok_or_else(|| bad("no 'x'"))?;
        let (t, b) = tb.split_once('b').ok_or_else(|| bad("no 'b'"))?;
        let num = |v: &str, what: &str| -> Result<usize, TrainingError> {
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| bad(&format!("{what} {v:?} is not a positive integer")))
        };
        Ok(BenchShape {
            layers: num(l, "layers")?,
            width: num(w, "width")?,
            context: num(t, "context")?,
            batch: num(b, "batch")?,
        })
    }
}

/// One measured (backend, model) cell.
#[derive(Clone, Debug)]
pub struct BenchResult {
    /// Backend description.
    pub device: String,
    /// Model width.
    pub d_model: usize,
    /// Runs trained side by side (1: one run with every thread).
    pub jobs: usize,
    /// Training tokens per second, summed over the side-by-side runs (forward, backward and
    /// the training's AdamW step with global gradient-norm clipping; the loss is read back
    /// every step, as the training loop does).
    pub tokens_per_s: f64,
    /// Training FLOP/s, counting 6N + attention + unembedding per token.
    pub flops_per_s: f64,
    /// Mean seconds per step (of one run).
    pub step_seconds: f64,
    /// Where one step's time goes: forward (to the loss on the host), backward, optimiser, as
    /// fractions of the step. Exact on the CPU backends, which run each op when it is called.
    pub phases: [f64; 3],
}

/// Trains `model` for `warmup + steps` steps of `batch` fixed random sequences on `choice` and
/// times the last `steps`.
///
/// # Errors
/// If the backend cannot be used.
pub fn bench_training(
    choice: DeviceChoice,
    model: &ModelConfig,
    batch: usize,
    warmup: usize,
    steps: usize,
) -> Result<BenchResult, TrainingError> {
    bench_training_parallel(choice, model, batch, warmup, steps, 1)
}

/// [`bench_training`] with `jobs` identical runs side by side, each in its own rayon pool of
/// `cores / jobs` threads (as a sweep runs them), reporting the summed tokens/s: the throughput
/// of the machine rather than of one run.
///
/// # Errors
/// If the backend cannot be used.
pub fn bench_training_parallel(
    choice: DeviceChoice,
    model: &ModelConfig,
    batch: usize,
    warmup: usize,
    steps: usize,
    jobs: usize,
) -> Result<BenchResult, TrainingError> {
    bench_training_fusion(choice, model, batch, warmup, steps, jobs, BenchVariant::default())
}

/// How the benchmarked runs train: with the fused CPU kernels or without, and how many
/// replicas of the model share one stacked step ([`crate::train_stacked`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchVariant {
    /// The fused kernels of [`scalinglab_model::fused`] on (as training uses them) or off.
    pub fused: bool,
    /// Models trained as one stack per run (1: a plain model).
    pub replicas: usize,
}

impl Default for BenchVariant {
    fn default() -> Self {
        Self { fused: true, replicas: 1 }
    }
}

impl fmt::Display for BenchVariant {
    /// The backend column's suffix: `-unf` without fusion, `×K` for K stacked replicas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.fused {
            write!(f, "-unf")?;
        }
        if self.replicas > 1 {
            write!(f, "×{}", self.replicas)?;
        }
        Ok(())
    }
}

/// [`bench_training_parallel`] in a [`BenchVariant`]: the fused CPU kernels of
/// [`scalinglab_model::fused`] on (as training uses them) or off (burn's composed operations:
/// the baseline they are measured against), and K replicas stacked per run (tokens/s counts
/// every replica's tokens).
///
/// # Errors
/// If the backend cannot be used.
pub fn bench_training_fusion(
    choice: DeviceChoice,
    model: &ModelConfig,
    batch: usize,
    warmup: usize,
    steps: usize,
    jobs: usize,
    variant: BenchVariant,
) -> Result<BenchResult, TrainingError> {
    let selected = select_device(choice)?;
    let jobs = jobs.max(1);
    let steps = steps.max(1);
    let threads = (cpu_threads() / jobs).max(1);
    let barrier = std::sync::Barrier::new(jobs);
    let timings: Vec<(f64, [f64; 3])> = if jobs == 1 {
        vec![train_steps(&selected.device, model, batch, warmup, steps, None, variant)]
    } else {
        let mut timings = Vec::with_capacity(jobs);
        let runs: Vec<usize> = (0..jobs).collect();
        crate::device::run_parallel(
            &runs,
            jobs,
            threads,
            |_| train_steps(&selected.device, model, batch, warmup, steps, Some(&barrier), variant),
            |_, t| timings.push(t),
        );
        timings
    };
    let t = model.context;
    let k = variant.replicas.max(1);
    let tokens_per_s: f64 =
        timings.iter().map(|(secs, _)| (k * steps * batch * t) as f64 / secs).sum();
    let step_seconds = timings.iter().map(|(s, _)| s).sum::<f64>() / (jobs * steps) as f64;
    let mut phases = [0.0; 3];
    for (_, p) in &timings {
        phases.iter_mut().zip(p).for_each(|(a, b)| *a += b / jobs as f64);
    }
    let description = if jobs > 1 {
        format!("{choice} (cpu, {jobs} runs × {threads} threads)")
    } else {
        selected.description
    };
    Ok(BenchResult {
        device: description,
        d_model: model.d_model,
        jobs,
        tokens_per_s,
        flops_per_s: tokens_per_s * model.flops_per_token(FlopCounting::WithUnembedding),
        step_seconds,
        phases,
    })
}

/// Seconds for `steps` timed steps and the forward/backward/optimiser fractions.
fn train_steps(
    device: &Device,
    model: &ModelConfig,
    batch: usize,
    warmup: usize,
    steps: usize,
    barrier: Option<&std::sync::Barrier>,
    variant: BenchVariant,
) -> (f64, [f64; 3]) {
    if !variant.fused {
        return scalinglab_model::fused::without_fusion(|| {
            let fused = BenchVariant { fused: true, ..variant };
            train_steps(device, model, batch, warmup, steps, barrier, fused)
        });
    }
    if variant.replicas > 1 {
        return train_steps_stacked(device, model, batch, warmup, steps, barrier, variant.replicas);
    }
    let device = device.clone().autodiff();
    device.seed(0);
    let net = model.init(&device);
    let mut optim = crate::AdamW::new(&crate::TrainConfig::default(), &net);
    let mut net = Some(net);
    let tokens = bench_tokens(model, batch, 1, &device);
    let t = model.context;
    let x = tokens.clone().slice([0..1, 0..batch, 0..t]).reshape([batch, t]);
    let y = tokens.slice([0..1, 0..batch, 1..t + 1]).reshape([batch, t]);
    timed_steps(warmup, steps, barrier, || {
        let t0 = Instant::now();
        let m = net.take().expect("the model is put back every step");
        let loss = m.loss(x.clone(), y.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let t2 = Instant::now();
        net = Some(optim.step(1e-3, m, grads).0);
        [t0, t1, t2, Instant::now()]
    })
}

/// Runs `warmup` untimed then `steps` timed calls of `step` (which returns the instants
/// before its forward, backward, optimiser and after), waiting at `barrier` before timing;
/// returns the timed seconds and the forward/backward/optimiser fractions.
fn timed_steps(
    warmup: usize,
    steps: usize,
    barrier: Option<&std::sync::Barrier>,
    mut step: impl FnMut() -> [Instant; 4],
) -> (f64, [f64; 3]) {
    let mut start = Instant::now();
    let mut phase = [0.0f64; 3];
    for i in 0..warmup + steps {
        if i == warmup {
            if let Some(b) = barrier {
                b.wait();
            }
            start = Instant::now();
            phase = [0.0; 3];
        }
        let t = step();
        for (p, w) in phase.iter_mut().zip(t.windows(2)) {
            *p += (w[1] - w[0]).as_secs_f64();
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total: f64 = phase.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    (elapsed, phase.map(|p| p / total))
}

/// The benchmark's fixed synthetic batch, `[k, batch, context + 1]` (every replica reads the
/// same tokens).
fn bench_tokens(model: &ModelConfig, batch: usize, k: usize, device: &Device) -> Tensor<3, Int> {
    let (t, v) = (model.context, model.vocab_size as i64);
    let one: Vec<i64> = (0..batch * (t + 1)).map(|i| (i as i64 * 7919 + 13) % v).collect();
    let data: Vec<i64> = (0..k).flat_map(|_| one.iter().copied()).collect();
    Tensor::<1, Int>::from_data(TensorData::new(data, [k * batch * (t + 1)]), device).reshape([
        k,
        batch,
        t + 1,
    ])
}

/// [`train_steps`] for `k` replicas stacked into one [`scalinglab_model::StackedGpt`], each at
/// its own learning rate (as a learning-rate grid trains).
fn train_steps_stacked(
    device: &Device,
    model: &ModelConfig,
    batch: usize,
    warmup: usize,
    steps: usize,
    barrier: Option<&std::sync::Barrier>,
    k: usize,
) -> (f64, [f64; 3]) {
    let device = device.clone().autodiff();
    let nets: Vec<_> = (0..k)
        .map(|r| {
            device.seed(r as u64);
            model.init(&device)
        })
        .collect();
    let net = scalinglab_model::StackedGpt::stack(&nets).expect("bench shapes stack");
    let mut optim = crate::AdamW::for_stack(&crate::TrainConfig::default(), &net);
    let mut net = Some(net);
    let lrs: Vec<f64> = (0..k).map(|r| 1e-3 * 2f64.powi(r as i32)).collect();
    let tokens = bench_tokens(model, batch, k, &device);
    let t = model.context;
    let x = tokens.clone().slice([0..k, 0..batch, 0..t]);
    let y = tokens.slice([0..k, 0..batch, 1..t + 1]);
    timed_steps(warmup, steps, barrier, || {
        let t0 = Instant::now();
        let m = net.take().expect("the model is put back every step");
        let loss = m.loss_per_token(x.clone(), y.clone()).reshape([k, batch * t]).mean_dim(1);
        let _ = loss.clone().into_data();
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(loss.sum().backward(), &m);
        let t2 = Instant::now();
        net = Some(optim.step_replicas(&lrs, m, grads).0);
        [t0, t1, t2, Instant::now()]
    })
}

/// The backend's fp32 matrix-multiply rate at `size × size × size`, in FLOP/s (best of 5 after
/// one warm-up): the peak that the model FLOP/s is compared against.
///
/// # Errors
/// If the backend cannot be used.
pub fn matmul_peak(choice: DeviceChoice, size: usize) -> Result<f64, TrainingError> {
    let selected = select_device(choice)?;
    let device = &selected.device;
    device.seed(0);
    let a = Tensor::<2>::random([size, size], burn::tensor::Distribution::Default, device);
    let b = Tensor::<2>::random([size, size], burn::tensor::Distribution::Default, device);
    let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
    let reps = 4;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let mut acc = a.clone().matmul(b.clone());
        for _ in 1..reps {
            acc = acc + a.clone().matmul(b.clone());
        }
        let _ = acc.slice([0..1, 0..1]).into_scalar::<f32>();
        best = best.min(start.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(2.0 * (size as f64).powi(3) / best)
}

/// What `scalinglab bench` measures.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Backends, each timed on every shape; the first is the reference for the backend ratio.
    pub devices: Vec<DeviceChoice>,
    /// Model shapes.
    pub shapes: Vec<BenchShape>,
    /// Vocabulary size.
    pub vocab: usize,
    /// Head width (heads = width / head_dim).
    pub head_dim: usize,
    /// Untimed steps before timing.
    pub warmup: usize,
    /// Timed steps.
    pub steps: usize,
    /// Side-by-side run counts to measure, e.g. `[1, 2]`: one run with every thread, then two
    /// runs with half the threads each (the throughput of a sweep).
    pub jobs: Vec<usize>,
    /// `bench/pytorch_reference.py`, run with the same shapes, threads and runs, or `None`.
    pub reference: Option<std::path::PathBuf>,
    /// The Python interpreter for the reference.
    pub python: String,
    /// Side of the square matrix multiply that measures the peak.
    pub matmul_size: usize,
    /// Also time the CPU backend with its fused kernels off (`flex-unf` rows: the baseline
    /// of `scalinglab_model::fused`).
    pub unfused: bool,
    /// Also time flex with this many replicas stacked per run (1: no such rows).
    pub replicas: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            devices: DeviceChoice::default_cpu().into_iter().collect(),
            shapes: BenchShape::defaults(),
            vocab: 1024,
            head_dim: 32,
            warmup: 3,
            steps: 20,
            jobs: vec![1],
            reference: None,
            python: "python3".into(),
            matmul_size: 1024,
            unfused: false,
            replicas: 1,
        }
    }
}

/// One line of the PyTorch reference's output.
#[derive(Clone, Debug, serde::Deserialize)]
struct ReferenceLine {
    kind: String,
    #[serde(default)]
    shape: String,
    #[serde(default)]
    gflops: f64,
    #[serde(default)]
    tokens_per_s: f64,
    #[serde(default)]
    flops_per_s: f64,
    #[serde(default)]
    step_seconds: f64,
    #[serde(default)]
    params_non_embedding: Option<u64>,
}

/// Runs the PyTorch reference script and returns its matmul peak (FLOP/s) and its per-shape
/// lines.
fn run_reference(
    opts: &BenchOptions,
    script: &std::path::Path,
    threads: usize,
    jobs: usize,
) -> Result<(f64, Vec<ReferenceLine>), TrainingError> {
    let shapes: Vec<String> = opts.shapes.iter().map(|s| s.to_string()).collect();
    let output = std::process::Command::new(&opts.python)
        .arg(script)
        .args(["--shapes", &shapes.join(",")])
        .args(["--vocab", &opts.vocab.to_string()])
        .args(["--head-dim", &opts.head_dim.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--jobs", &jobs.to_string()])
        .args(["--warmup", &opts.warmup.to_string()])
        .args(["--steps", &opts.steps.to_string()])
        .args(["--matmul-size", &opts.matmul_size.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            TrainingError::Device(format!("running {} {}: {e}", opts.python, script.display()))
        })?;
    if !output.status.success() {
        return Err(TrainingError::Device(format!(
            "{} {} exited with {} (is torch installed? see bench/README.md)",
            opts.python,
            script.display(),
            output.status
        )));
    }
    let mut peak = 0.0;
    let mut lines = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines().filter(|l| !l.trim().is_empty()) {
        let r: ReferenceLine = serde_json::from_str(line).map_err(|e| {
            TrainingError::Device(format!("{}: bad output line {line:?}: {e}", script.display()))
        })?;
        if r.kind == "matmul" {
            peak = r.gflops * 1e9;
        } else {
            lines.push(r);
        }
    }
    Ok((peak, lines))
}

/// Runs the benchmark table: for every side-by-side run count, every shape and every backend
/// (and the PyTorch reference when given), training tokens/s, GFLOP/s, the fraction of that
/// backend's matmul peak, ms/step, the forward/backward/optimiser split, and the ratios against
/// the first backend and against PyTorch. Each finished line is handed to `emit`.
///
/// # Errors
/// If a backend cannot be used or the reference fails.
pub fn bench_command(opts: &BenchOptions, emit: &mut dyn FnMut(&str)) -> Result<(), TrainingError> {
    let mut peaks = Vec::new();
    for &d in &opts.devices {
        let p = matmul_peak(d, opts.matmul_size)?;
        peaks.push(p);
    }
    let cores = cpu_threads();
    let mut line = format!("fp32 matmul peak at {0}×{0}×{0}, {cores} threads:", opts.matmul_size);
    for (d, p) in opts.devices.iter().zip(&peaks) {
        line += &format!(" {d} {:.1} GFLOP/s;", p / 1e9);
    }
    let mut references = Vec::new();
    for &jobs in &opts.jobs {
        let threads = (cores / jobs.max(1)).max(1);
        references.push(match &opts.reference {
            Some(script) => Some(run_reference(opts, script, threads, jobs)?),
            None => None,
        });
    }
    let torch_peak = match references.first() {
        Some(Some((p, _))) => {
            line += &format!(" pytorch {:.1} GFLOP/s;", p / 1e9);
            *p
        }
        _ => 0.0,
    };
    emit(line.trim_end_matches(';'));
    emit(&format!(
        "{:<14} {:>9} {:<9} {:>10} {:>8} {:>6} {:>8} {:>14} {:>8} {:>8}",
        "shape",
        "runs×thr",
        "backend",
        "tokens/s",
        "GFLOP/s",
        "%peak",
        "ms/step",
        "fwd/bwd/opt %",
        "vs first",
        "vs torch"
    ));
    for (&jobs, reference) in opts.jobs.iter().zip(&references) {
        let threads = (cores / jobs.max(1)).max(1);
        for shape in &opts.shapes {
            let model = shape.model(opts.vocab, opts.head_dim);
            model.validate()?;
            let torch = reference.as_ref().and_then(|(peak, lines)| {
                lines.iter().find(|l| l.shape == shape.to_string()).map(|l| (peak, l))
            });
            if let Some((_, l)) = torch
                && let Some(n) = l.params_non_embedding
                && n != model.param_counts().non_embedding
            {
                return Err(TrainingError::Device(format!(
                    "PyTorch reference counts {n} non-embedding parameters for {shape}, we count {}: the models differ",
                    model.param_counts().non_embedding
                )));
            }
            let mut first = None;
            let plain = BenchVariant::default();
            let mut rows: Vec<(DeviceChoice, f64, BenchVariant)> =
                opts.devices.iter().zip(&peaks).map(|(&d, &p)| (d, p, plain)).collect();
            if let Some(i) = rows.iter().position(|(d, _, _)| *d == DeviceChoice::Flex) {
                let peak = rows[i].1;
                if opts.replicas > 1 {
                    let stacked = BenchVariant { replicas: opts.replicas, ..plain };
                    rows.insert(i + 1, (DeviceChoice::Flex, peak, stacked));
                }
                if opts.unfused {
                    rows.insert(
                        i + 1,
                        (DeviceChoice::Flex, peak, BenchVariant { fused: false, ..plain }),
                    );
                }
            }
            for (d, peak, variant) in rows {
                let r = bench_training_fusion(
                    d,
                    &model,
                    shape.batch,
                    opts.warmup,
                    opts.steps,
                    jobs,
                    variant,
                )?;
                let base = *first.get_or_insert(r.tokens_per_s);
                let vs_torch = torch.map_or("–".to_string(), |(_, l)| {
                    format!("{:.2}x", r.tokens_per_s / l.tokens_per_s)
                });
                emit(&format!(
                    "{:<14} {:>9} {:<9} {:>10.0} {:>8.2} {:>5.0}% {:>8.1} {:>14} {:>7.2}x {:>8}",
                    shape.to_string(),
                    format!("{jobs}×{threads}"),
                    format!("{d}{variant}"),
                    r.tokens_per_s,
                    r.flops_per_s / 1e9,
                    100.0 * r.flops_per_s / peak,
                    r.step_seconds * 1e3,
                    format!(
                        "{:.0}/{:.0}/{:.0}",
                        100.0 * r.phases[0],
                        100.0 * r.phases[1],
                        100.0 * r.phases[2]
                    ),
                    r.tokens_per_s / base,
                    vs_torch
                ));
            }
            if let Some((_, l)) = torch {
                // The machine's peak: PyTorch's matmul with every thread (the first run count).
                let peak = torch_peak.max(f64::MIN_POSITIVE);
                emit(&format!(
                    "{:<14} {:>9} {:<9} {:>10.0} {:>8.2} {:>5.0}% {:>8.1} {:>14} {:>8} {:>8}",
                    shape.to_string(),
                    format!("{jobs}×{threads}"),
                    "pytorch",
                    l.tokens_per_s,
                    l.flops_per_s / 1e9,
                    100.0 * l.flops_per_s / peak,
                    l.step_seconds * 1e3,
                    "–",
                    "",
                    "1.00x"
                ));
            }
        }
    }
    Ok(())
}

/// Sampling throughput through the key/value cache and by re-encoding the window for every
/// token (the naive way), on one backend.
#[derive(Clone, Debug)]
pub struct SamplingBench {
    /// Backend description.
    pub device: String,
    /// Model width.
    pub d_model: usize,
    /// Generated tokens per second with the cache.
    pub cached_tokens_per_s: f64,
    /// Generated tokens per second re-encoding the window.
    pub naive_tokens_per_s: f64,
}

/// Generates `batch` sequences of `length` new tokens from a freshly initialised `model`,
/// with and without the cache, and times both.
///
/// # Errors
/// If the backend cannot be used.
pub fn bench_sampling(
    choice: DeviceChoice,
    model: &ModelConfig,
    batch: usize,
    length: usize,
) -> Result<SamplingBench, TrainingError> {
    let selected = select_device(choice)?;
    let device = selected.device.clone();
    device.seed(0);
    let net = model.init(&device);
    let prompts: Vec<Vec<u32>> = (0..batch).map(|i| vec![(i % model.vocab_size) as u32]).collect();
    let cfg = scalinglab_model::SampleConfig::default();
    let _ = net.generate(&prompts, 2, &cfg, &device); // warm up
    let time = |f: &dyn Fn() -> Vec<Vec<u32>>| {
        let start = Instant::now();
        let out = f();
        let n = out.iter().map(|s| s.len() - 1).sum::<usize>();
        n as f64 / start.elapsed().as_secs_f64()
    };
    let cached = time(&|| net.generate(&prompts, length, &cfg, &device));
    let naive = time(&|| net.generate_uncached(&prompts, length, &cfg, &device));
    Ok(SamplingBench {
        device: selected.description,
        d_model: model.d_model,
        cached_tokens_per_s: cached,
        naive_tokens_per_s: naive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_print_back() {
        let s: BenchShape = "6x384@256b16".parse().unwrap();
        assert_eq!(s, BenchShape { layers: 6, width: 384, context: 256, batch: 16 });
        assert_eq!(s.to_string(), "6x384@256b16");
        for bad in ["2x128@50", "2x@50b4", "x128@50b4", "2x128@0b4", "2y128@50b4"] {
            let e = bad.parse::<BenchShape>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        let m = s.model(1024, 64);
        assert_eq!((m.n_heads, m.n_layers, m.context, m.vocab_size), (6, 6, 256, 1024));
    }
}

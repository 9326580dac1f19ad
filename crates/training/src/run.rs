//! One training run: a fresh model trained for one epoch over a token budget, then evaluated;
//! checkpointed as it goes, so that a killed run resumes where it stopped and finishes with
//! the losses it would have had without the interruption.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;
use scalinglab_data::TokenCorpus;
use scalinglab_model::{Gpt, ModelConfig, ParamRole, read_safetensors, write_safetensors};
use serde::{Deserialize, Serialize};

use crate::optim::AdamW;
use crate::schedule::LrSchedule;
use crate::{TrainConfig, TrainingError};

/// One point of a run's training curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveRow {
    /// Optimiser steps taken.
    pub step: u64,
    /// Training tokens seen where the curve's loss was measured: at `step` when `eval_loss`
    /// is there, else at the middle of the training loss's averaging window.
    pub tokens_seen: u64,
    /// Mean training loss over the window of steps ending at `step`, nats/token.
    pub train_loss: f64,
    /// Held-out loss at `step`, when evaluated there.
    pub eval_loss: Option<f64>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// Optimisation steps taken.
    pub steps: u64,
    /// Mean training loss over the last 10% of steps (at least one), nats/token.
    pub train_loss: f64,
    /// Loss on the held-out sequences at the end, nats/token (NaN if the run diverged).
    pub eval_loss: f64,
    /// Held-out loss of the token at each position `n = 1..=context` given the `n` tokens
    /// before it (empty if the run diverged).
    pub eval_loss_by_position: Vec<f64>,
    /// The loss at the first step (≈ ln V at initialisation).
    pub initial_loss: f64,
    /// Whether the run was stopped because its loss diverged.
    pub diverged: bool,
    /// Why and at which step it was stopped, when it diverged.
    pub divergence: Option<String>,
    /// The training curve (see [`TrainConfig::curve_points`]).
    pub curve: Vec<CurveRow>,
    /// The step the run resumed from, when it continued a checkpoint.
    pub resumed_from: Option<u64>,
    /// Wall-clock seconds, evaluation included (summed over interruptions).
    pub wall_seconds: f64,
    /// Seconds spent writing checkpoints.
    pub checkpoint_seconds: f64,
}

/// A language model the training loop can train: any burn module that scores next tokens.
///
/// [`Gpt`] implements it; so can a user's own module, which [`train_model`] then trains with
/// the same optimiser, schedule, divergence checks, checkpoints and evaluation as a sweep run
/// (see `examples/custom_model.rs`).
pub trait LanguageModel: Module + Clone {
    /// Cross-entropy (nats) of each target token given its prefix.
    ///
    /// # Shapes
    /// `inputs`, `targets`: `[batch, seq]` → `[batch, seq]`.
    fn loss_per_token(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<2>;

    /// Per parameter: the learning-rate multiplier and whether weight decay applies. The
    /// default treats every parameter alike (multiplier 1) and decays matrices only (rank ≥ 2),
    /// as nanoGPT does.
    fn optimizer_rules(&self) -> std::collections::HashMap<ParamId, (f64, bool)> {
        default_rules(self)
    }
}

/// Multiplier 1 for every parameter, weight decay on matrices (rank ≥ 2) only.
pub(crate) fn default_rules<M: Module>(
    model: &M,
) -> std::collections::HashMap<ParamId, (f64, bool)> {
    struct Rules(std::collections::HashMap<ParamId, (f64, bool)>);
    impl ModuleVisitor for Rules {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.insert(param.id, (1.0, D >= 2));
        }
    }
    let mut r = Rules(std::collections::HashMap::new());
    model.visit(&mut r);
    r.0
}

impl LanguageModel for Gpt {
    fn loss_per_token(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<2> {
        Gpt::loss_per_token(self, inputs, targets)
    }

    /// muP's per-role multipliers ([`Gpt::lr_multiplier`]); decay on matrices only.
    fn optimizer_rules(&self) -> std::collections::HashMap<ParamId, (f64, bool)> {
        self.param_roles()
            .into_iter()
            .map(|(id, role)| (id, (self.lr_multiplier(role), role != ParamRole::Vector)))
            .collect()
    }
}

/// burn seeds a backend's random generator globally, and draws parameters lazily, at their
/// first use: runs trained side by side would draw from one stream in an order the scheduler
/// picks. Seeding and drawing every parameter happen under this lock, so that a run's initial
/// weights depend on its seed alone.
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Draws every parameter now (they are lazy otherwise).
pub(crate) struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// A freshly initialised model whose weights depend only on `seed` (and the backend), also when
/// other runs initialise models on other threads at the same time.
pub fn init_seeded(model_cfg: &ModelConfig, device: &Device, seed: u64) -> Gpt {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    let model = model_cfg.init(device);
    model.visit(&mut Materialize);
    model
}

/// `values` (row-major) as a `[batch, seq]` tensor of token ids.
pub(crate) fn int_batch(
    values: Vec<i64>,
    batch: usize,
    seq: usize,
    device: &Device,
) -> Tensor<2, Int> {
    Tensor::<1, Int>::from_data(TensorData::new(values, [batch * seq]), device)
        .reshape([batch, seq])
}

/// Mean loss of `model` on every sequence of `corpus`, in batches, without gradients; and the
/// mean loss at each position (`[n - 1]` is the loss of a token given `n` tokens of context).
pub fn evaluate<M: LanguageModel>(
    model: &M,
    corpus: &TokenCorpus,
    batch_size: usize,
    device: &Device,
) -> (f64, Vec<f64>) {
    let model = model.valid();
    let seq = corpus.seq_len;
    let mut by_position: Option<Tensor<1>> = None;
    let mut count = 0usize;
    let indices: Vec<usize> = (0..corpus.num_sequences()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let (x, y) = corpus.batch(chunk);
        let x = int_batch(x, chunk.len(), seq, device);
        let y = int_batch(y, chunk.len(), seq, device);
        let sums = model.loss_per_token(x, y).sum_dim(0).reshape([seq]); // [seq]
        by_position = Some(match by_position {
            Some(t) => t + sums,
            None => sums,
        });
        count += chunk.len();
    }
    let Some(sums) = by_position else { return (f64::NAN, Vec::new()) };
    let per: Vec<f64> = sums
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .unwrap_or_default()
        .into_iter()
        .map(|s| s / count as f64)
        .collect();
    let mean = per.iter().sum::<f64>() / per.len().max(1) as f64;
    (mean, per)
}

/// Where a run keeps its checkpoint, and how often.
#[derive(Clone, Debug, Default)]
pub struct Checkpointing {
    /// The run's directory; the checkpoint is `dir/checkpoint/`. `None`: no checkpoints.
    pub dir: Option<PathBuf>,
    /// Stop (as if killed) after this many steps of this call; for tests of resumption.
    pub stop_after: Option<u64>,
}

/// Progress saved in `checkpoint/state.json`. Floats that feed later results are stored as
/// their bit patterns: a decimal round trip through JSON may be off by one unit in the last
/// place, and a resumed run must end bit for bit where an uninterrupted one does.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    step: u64,
    tokens: u64,
    #[serde(with = "bits_vec")]
    losses: Vec<f64>,
    #[serde(with = "bits_curve")]
    curve: Vec<CurveRow>,
    #[serde(with = "bits_opt")]
    ema: Option<f64>,
    #[serde(with = "bits_one")]
    best_ema: f64,
    wall_seconds: f64,
    checkpoint_seconds: f64,
    /// The run this checkpoint belongs to (its model's description), to refuse another run's.
    model: String,
    seed: u64,
    batches: usize,
}

pub(crate) const CHECKPOINT: &str = "checkpoint";

mod bits_one {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(f64::from_bits(u64::deserialize(d)?))
    }
}

mod bits_opt {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(f64::to_bits).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(f64::from_bits))
    }
}

mod bits_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<u64>::deserialize(d)?.into_iter().map(f64::from_bits).collect())
    }
}

mod bits_curve {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::CurveRow;
    type Row = (u64, u64, u64, Option<u64>);
    pub fn serialize<S: Serializer>(v: &[CurveRow], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|c| (c.step, c.tokens_seen, c.train_loss.to_bits(), c.eval_loss.map(f64::to_bits)))
            .collect::<Vec<Row>>()
            .serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CurveRow>, D::Error> {
        Ok(Vec::<Row>::deserialize(d)?
            .into_iter()
            .map(|(step, tokens_seen, t, e)| CurveRow {
                step,
                tokens_seen,
                train_loss: f64::from_bits(t),
                eval_loss: e.map(f64::from_bits),
            })
            .collect())
    }
}

fn ckpt_err(path: &Path, reason: impl std::fmt::Display) -> TrainingError {
    TrainingError::Checkpoint { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Writes a checkpoint into `dir/checkpoint.tmp`, then swaps it in for `dir/checkpoint`, so a
/// kill at any moment leaves one complete checkpoint (the new or the old).
fn save_checkpoint<M: LanguageModel>(
    dir: &Path,
    model: &M,
    optim: &AdamW,
    state: &State,
) -> Result<(), TrainingError> {
    let tmp = dir.join("checkpoint.tmp");
    let old = dir.join("checkpoint.old");
    let fin = dir.join(CHECKPOINT);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| TrainingError::Write { path: p, source: e }
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let mut named = Vec::new();
    model.visit(&mut Collect(&mut named));
    write_safetensors(&tmp.join("model.safetensors"), &named, &BTreeMap::new())
        .map_err(|e| ckpt_err(&tmp, e))?;
    let (tensors, meta) = optim.to_tensors();
    write_safetensors(&tmp.join("optim.safetensors"), &tensors, &meta)
        .map_err(|e| ckpt_err(&tmp, e))?;
    let json = serde_json::to_string(state).expect("state serialises");
    let state_path = tmp.join("state.json");
    std::fs::write(&state_path, json).map_err(io(&state_path))?;
    if fin.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        std::fs::rename(&fin, &old).map_err(io(&fin))?;
    }
    std::fs::rename(&tmp, &fin).map_err(io(&tmp))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// Parameters by id (the checkpoint's names are parameter ids, so loading restores the ids
/// the optimiser state is keyed by).
struct Collect<'a>(&'a mut Vec<scalinglab_model::NamedTensor>);

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let shape = t.shape().to_vec();
        let values = t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
        self.0.push(scalinglab_model::NamedTensor {
            name: param.id.val().to_string(),
            shape,
            values,
        });
    }
}

/// Replaces every parameter by the checkpoint's value, visiting in the same order as
/// [`Collect`] and taking the checkpoint's parameter id.
struct Restore {
    tensors: std::vec::IntoIter<scalinglab_model::NamedTensor>,
    error: Option<String>,
}

impl burn::module::ModuleMapper for Restore {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(t) = self.tensors.next() else {
            self.error.get_or_insert_with(|| "fewer tensors than the model has".into());
            return param;
        };
        let (_, tensor, mapper) = param.consume();
        if tensor.shape().to_vec() != t.shape {
            self.error.get_or_insert_with(|| {
                format!("tensor {} has shape {:?}, the model {:?}", t.name, t.shape, tensor.shape())
            });
            return Param::from_mapped_value(ParamId::new(), tensor, mapper);
        }
        let Ok(id) = t.name.parse::<u64>() else {
            self.error
                .get_or_insert_with(|| format!("tensor name {} is not a parameter id", t.name));
            return Param::from_mapped_value(ParamId::new(), tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let mut value =
            Tensor::<D>::from_data(TensorData::new(t.values, t.shape), &tensor.device());
        if require_grad {
            value = value.require_grad();
        }
        Param::from_mapped_value(ParamId::from(id), value, mapper)
    }
}

use burn::module::ParamId;

/// Loads `dir/checkpoint` into a freshly built model and optimiser.
fn load_checkpoint<M: LanguageModel>(
    dir: &Path,
    model: M,
    train_cfg: &TrainConfig,
    fingerprint: &str,
    device: &Device,
) -> Result<(M, AdamW, State), TrainingError> {
    let ck = dir.join(CHECKPOINT);
    let state_path = ck.join("state.json");
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| TrainingError::Read { path: state_path.clone(), source: e })?;
    let state: State = serde_json::from_str(&text).map_err(|e| ckpt_err(&state_path, e))?;
    if state.model != fingerprint || state.seed != train_cfg.seed {
        return Err(ckpt_err(&ck, "it belongs to a run with another model or seed"));
    }
    let model_path = ck.join("model.safetensors");
    let (tensors, _) = read_safetensors(&model_path).map_err(|e| ckpt_err(&model_path, e))?;
    let mut restore = Restore { tensors: tensors.into_iter(), error: None };
    let model = model.map(&mut restore);
    if let Some(e) = restore
        .error
        .or_else(|| restore.tensors.next().map(|t| format!("unexpected extra tensor {}", t.name)))
    {
        return Err(ckpt_err(&model_path, e));
    }
    let optim_path = ck.join("optim.safetensors");
    let (tensors, meta) = read_safetensors(&optim_path).map_err(|e| ckpt_err(&optim_path, e))?;
    let mut optim = AdamW::new(train_cfg, &model);
    optim.load_tensors(tensors, &meta, device, &optim_path)?;
    Ok((model, optim, state))
}

/// Removes a run's checkpoint (after its result is safely recorded).
pub fn remove_checkpoint(dir: &Path) {
    for name in [CHECKPOINT, "checkpoint.tmp", "checkpoint.old"] {
        let p = dir.join(name);
        if p.exists() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Steps at which the training curve is recorded: `points` log-spaced steps in `1..=total`.
pub(crate) fn curve_steps(total: u64, points: usize) -> Vec<u64> {
    if total == 0 || points == 0 {
        return Vec::new();
    }
    let mut steps: Vec<u64> = (0..points)
        .map(|i| {
            let f = if points == 1 { 1.0 } else { i as f64 / (points - 1) as f64 };
            ((total as f64).powf(f).round() as u64).clamp(1, total)
        })
        .collect();
    steps.dedup();
    steps
}

/// Trains a fresh `model_cfg` for [`TrainConfig::epochs`] passes over `train` (every sequence
/// once a pass, shuffled afresh each pass), then evaluates it on `eval`. `on_step(tokens_done, loss)` is called after every step.
///
/// With `ckpt.dir` set, a checkpoint is written every [`TrainConfig::checkpoint_every`] steps
/// and an existing one is resumed: the resumed run takes the same batches in the same order
/// from the same weights and optimiser state, so it ends with the losses of an uninterrupted
/// run (exactly, on a CPU backend, with dropout off).
///
/// `device` is a plain device; training runs on `device.clone().autodiff()`.
///
/// # Errors
/// If a checkpoint cannot be written, or an existing one cannot be read or belongs to another
/// run.
pub fn train_run(
    model_cfg: &ModelConfig,
    train_cfg: &TrainConfig,
    train: &TokenCorpus,
    eval: &TokenCorpus,
    device: &Device,
    ckpt: &Checkpointing,
    on_step: impl FnMut(u64, f64),
) -> Result<(Gpt, RunOutcome), TrainingError> {
    let ad_device = device.clone().autodiff();
    let fresh = init_seeded(model_cfg, &ad_device, train_cfg.seed);
    let fingerprint = serde_json::to_string(model_cfg).expect("a model config serialises");
    train_model(
        fresh,
        &fingerprint,
        model_cfg.vocab_size,
        train_cfg,
        train,
        eval,
        device,
        ckpt,
        on_step,
    )
}

/// [`train_run`] for any [`LanguageModel`]: trains `fresh` (built on `device.autodiff()`) for
/// one epoch over `train` with the training configuration's optimiser, schedule, divergence
/// checks and checkpoints, and evaluates it on `eval`. `fingerprint` describes the model (a
/// checkpoint of another fingerprint is refused); `vocab_size` sets the divergence bound
/// `divergence_factor × ln V`.
///
/// # Errors
/// As [`train_run`].
#[allow(clippy::too_many_arguments)]
pub fn train_model<M: LanguageModel>(
    fresh: M,
    fingerprint: &str,
    vocab_size: usize,
    train_cfg: &TrainConfig,
    train: &TokenCorpus,
    eval: &TokenCorpus,
    device: &Device,
    ckpt: &Checkpointing,
    mut on_step: impl FnMut(u64, f64),
) -> Result<(M, RunOutcome), TrainingError> {
    let start = Instant::now();
    let ad_device = device.clone().autodiff();
    let seq = train.seq_len;
    // Every sequence once per epoch, in a fresh order each pass (the first pass's order is
    // the one-epoch run's); a batch never straddles two passes.
    let order = sequence_order(train_cfg, train.num_sequences());
    let batches = batches_of(&order, train.num_sequences(), train_cfg.batch_size);
    let curve_eval = curve_eval_set(train_cfg, eval);
    let schedule = schedule_of(train_cfg, batches.len());
    let resume = ckpt.dir.as_ref().filter(|d| d.join(CHECKPOINT).join("state.json").exists());
    let (mut model, mut optim, mut state) = match resume {
        Some(dir) => {
            let (m, o, s) = load_checkpoint(dir, fresh, train_cfg, fingerprint, device)?;
            if s.batches != batches.len() {
                return Err(ckpt_err(dir, "it was written for another number of batches"));
            }
            // A step past the schedule (or losses that disagree with it) would skip training
            // and record the run as finished with a D it never saw.
            if s.step > batches.len() as u64 || s.losses.len() as u64 != s.step {
                return Err(ckpt_err(
                    &dir.join(CHECKPOINT).join("state.json"),
                    format!(
                        "its saved step {} is not a step of the run's schedule of {} steps \
                         ({} losses recorded); delete {} to train the run from the start",
                        s.step,
                        batches.len(),
                        s.losses.len(),
                        dir.join(CHECKPOINT).display()
                    ),
                ));
            }
            (m, o, s)
        }
        None => {
            let optim = AdamW::new(train_cfg, &fresh);
            let state = State {
                step: 0,
                tokens: 0,
                losses: Vec::with_capacity(batches.len()),
                curve: Vec::new(),
                ema: None,
                best_ema: f64::INFINITY,
                wall_seconds: 0.0,
                checkpoint_seconds: 0.0,
                model: fingerprint.to_string(),
                seed: train_cfg.seed,
                batches: batches.len(),
            };
            (fresh, optim, state)
        }
    };
    let resumed_from = resume.map(|_| state.step);
    let where_ = ckpt.dir.as_ref().map_or_else(String::new, |d| d.display().to_string());
    match resumed_from {
        Some(step) => tracing::info!(run = %where_, step, "resuming from a checkpoint"),
        None => tracing::debug!(run = %where_, steps = batches.len(), "starting a run"),
    }
    let wall_before = state.wall_seconds;
    let limit = train_cfg.divergence_factor * (vocab_size as f64).ln();
    let curve_at = curve_steps(batches.len() as u64, train_cfg.curve_points);
    let mut divergence = None;
    let mut steps_this_call = 0u64;

    while (state.step as usize) < batches.len() {
        let step = state.step;
        let idx = batches[step as usize];
        let (x, y) = train.batch(idx);
        let x = int_batch(x, idx.len(), seq, &ad_device);
        let y = int_batch(y, idx.len(), seq, &ad_device);
        let loss = model.loss_per_token(x, y).mean();
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        state.losses.push(loss_value);
        if state.step % 100 == 0 {
            tracing::trace!(step = state.step, loss = loss_value, "training");
        }
        if let Some(why) = diverged(
            loss_value,
            step,
            limit,
            schedule.warmup,
            train_cfg,
            &mut state.ema,
            &mut state.best_ema,
        ) {
            divergence = Some(why);
            break;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (m, _) = optim.step(schedule.lr_at(step), model, grads);
        model = m;
        state.tokens += (idx.len() * seq) as u64;
        state.step += 1;
        on_step(state.tokens, loss_value);

        if let Some(set) = curve_point(state.step, &curve_at, train_cfg, eval, curve_eval.as_ref())
        {
            let eval_loss = set.map(|c| evaluate(&model, c, 64, device).0);
            state.curve.push(curve_row(&state.losses, &batches, seq, state.tokens, eval_loss));
        }
        steps_this_call += 1;
        let done = state.step as usize == batches.len();
        if let Some(dir) = &ckpt.dir
            && train_cfg.checkpoint_every > 0
            && state.step % train_cfg.checkpoint_every == 0
            && !done
        {
            let t = Instant::now();
            state.wall_seconds = wall_before + start.elapsed().as_secs_f64();
            save_checkpoint(dir, &model, &optim, &state)?;
            state.checkpoint_seconds += t.elapsed().as_secs_f64();
            tracing::debug!(
                dir = %dir.display(),
                step = state.step,
                seconds = t.elapsed().as_secs_f64(),
                "checkpoint written"
            );
        }
        if let Some(dir) = &ckpt.dir
            && !done
            && crate::stop::stop_requested()
        {
            state.wall_seconds = wall_before + start.elapsed().as_secs_f64();
            save_checkpoint(dir, &model, &optim, &state)?;
            tracing::info!(dir = %dir.display(), step = state.step, "SIGTERM: checkpoint written");
            return Err(TrainingError::Terminated { step: state.step, dir: dir.clone() });
        }
        if ckpt.stop_after == Some(steps_this_call) && !done {
            return Err(TrainingError::Interrupted { step: state.step });
        }
    }

    if let Some(why) = &divergence {
        tracing::warn!(run = %where_, reason = %why, "run diverged");
    }
    let mut outcome = outcome_of(&model, state.losses, batches.len(), divergence, eval, device);
    outcome.curve = state.curve;
    outcome.resumed_from = resumed_from;
    outcome.wall_seconds = wall_before + start.elapsed().as_secs_f64();
    outcome.checkpoint_seconds = state.checkpoint_seconds;
    Ok((model, outcome))
}

/// Every sequence index once per epoch, in a fresh order each pass (the first pass's order is
/// the one-epoch run's), from the run's seed.
pub(crate) fn sequence_order(train_cfg: &TrainConfig, n: usize) -> Vec<usize> {
    let epochs = train_cfg.epochs.max(1) as usize;
    let mut order: Vec<usize> = Vec::with_capacity(n.saturating_mul(epochs));
    for e in 0..epochs as u64 {
        let mut pass: Vec<usize> = (0..n).collect();
        let seed = train_cfg.seed ^ 0x5ca1_ab1e ^ e.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        pass.shuffle(&mut ChaCha12Rng::seed_from_u64(seed));
        order.extend(pass);
    }
    order
}

/// The batches of `order`: a batch never straddles two passes of `n` sequences.
pub(crate) fn batches_of(order: &[usize], n: usize, batch_size: usize) -> Vec<&[usize]> {
    order.chunks(n.max(1)).flat_map(|pass| pass.chunks(batch_size)).collect()
}

/// The held-out sequences evaluated at each point of the curve.
pub(crate) fn curve_eval_set(train_cfg: &TrainConfig, eval: &TokenCorpus) -> Option<TokenCorpus> {
    (train_cfg.curve_eval_sequences > 0)
        .then(|| eval.take(train_cfg.curve_eval_sequences.min(eval.num_sequences())))
}

/// The learning-rate schedule of a run of `steps` steps.
pub(crate) fn schedule_of(train_cfg: &TrainConfig, steps: usize) -> LrSchedule {
    LrSchedule::new(train_cfg.lr, steps as u64, train_cfg.warmup_frac, train_cfg.min_lr_ratio)
        .with_kind(train_cfg.schedule)
}

/// The divergence checks after a step's loss: not finite, above `limit`, or (after warmup) a
/// spike past `spike_factor ×` the best running average. Updates the running average.
pub(crate) fn diverged(
    loss: f64,
    step: u64,
    limit: f64,
    warmup: u64,
    train_cfg: &TrainConfig,
    ema: &mut Option<f64>,
    best_ema: &mut f64,
) -> Option<String> {
    if !loss.is_finite() {
        return Some(format!("non-finite loss at step {step}"));
    }
    if loss > limit {
        return Some(format!(
            "loss {loss:.3} at step {step} exceeds {:.1} × ln V = {limit:.3}",
            train_cfg.divergence_factor
        ));
    }
    let e = ema.map_or(loss, |e| 0.9 * e + 0.1 * loss);
    *ema = Some(e);
    if step >= warmup {
        if train_cfg.spike_factor > 0.0 && loss > train_cfg.spike_factor * *best_ema {
            return Some(format!(
                "loss {loss:.3} at step {step} spiked past {} × its best running average {:.3}",
                train_cfg.spike_factor, *best_ema
            ));
        }
        *best_ema = best_ema.min(e);
    }
    None
}

/// Whether step `step` (just taken) is a point of the curve and, if so, which held-out set
/// it evaluates: the whole set every `eval_every` steps, the curve's set (if any) otherwise.
pub(crate) fn curve_point<'a>(
    step: u64,
    curve_at: &[u64],
    train_cfg: &TrainConfig,
    eval: &'a TokenCorpus,
    curve_eval: Option<&'a TokenCorpus>,
) -> Option<Option<&'a TokenCorpus>> {
    let every = train_cfg.eval_every > 0 && step % train_cfg.eval_every == 0;
    if every {
        Some(Some(eval))
    } else if curve_at.binary_search(&step).is_ok() {
        Some(curve_eval)
    } else {
        None
    }
}

/// A point of the curve after `losses.len()` steps: the training loss averaged over a window
/// of the last steps, and the held-out loss when one was measured.
pub(crate) fn curve_row(
    losses: &[f64],
    batches: &[&[usize]],
    seq: usize,
    tokens: u64,
    eval_loss: Option<f64>,
) -> CurveRow {
    let s = losses.len();
    let window = (s / 8).clamp(1, 16);
    let w = &losses[s - window..s];
    let mid = s - window + (window - 1) / 2; // 0-based middle step of the window
    let tokens_mid: u64 = batches[..=mid].iter().map(|b| (b.len() * seq) as u64).sum::<u64>();
    CurveRow {
        step: s as u64,
        // Where the curve's loss was measured: the step's end for a held-out loss, the
        // window's middle for the training loss.
        tokens_seen: if eval_loss.is_some() { tokens } else { tokens_mid },
        train_loss: w.iter().sum::<f64>() / window as f64,
        eval_loss,
    }
}

/// The outcome of a finished (or diverged) run from its step losses: training loss over the
/// last tenth of the schedule, the held-out evaluation unless it diverged. Curve, resume and
/// timing fields are left for the caller.
pub(crate) fn outcome_of<M: LanguageModel>(
    model: &M,
    losses: Vec<f64>,
    scheduled: usize,
    divergence: Option<String>,
    eval: &TokenCorpus,
    device: &Device,
) -> RunOutcome {
    let tail = (scheduled / 10).max(1);
    let last = &losses[losses.len().saturating_sub(tail)..];
    let train_loss = last.iter().sum::<f64>() / last.len().max(1) as f64;
    let (eval_loss, by_position) = if divergence.is_some() {
        (f64::NAN, Vec::new())
    } else {
        evaluate(model, eval, 64, device)
    };
    RunOutcome {
        steps: losses.len() as u64,
        train_loss,
        eval_loss,
        eval_loss_by_position: by_position,
        initial_loss: losses.first().copied().unwrap_or(f64::NAN),
        diverged: divergence.is_some(),
        divergence,
        curve: Vec::new(),
        resumed_from: None,
        wall_seconds: 0.0,
        checkpoint_seconds: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_steps_are_log_spaced_and_end_at_the_last_step() {
        assert_eq!(curve_steps(1000, 4), vec![1, 10, 100, 1000]);
        assert_eq!(curve_steps(3, 24), vec![1, 2, 3]);
        assert!(curve_steps(0, 5).is_empty());
    }
}

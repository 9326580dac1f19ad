//! Several runs of one model shape trained as one stacked model (issue 19, lever 1).
//!
//! The cells of a learning-rate grid, or the seeds of one cell, share every shape: same
//! width, same data budget, same schedule length. [`train_stacked`] trains K of them as one
//! [`StackedGpt`]: one forward and backward pass and one optimiser step per step for all K,
//! with K-times larger matrix products instead of K times the dispatches. Each replica keeps
//! what makes it its own run:
//!
//! - its initial weights (from its own seed, exactly as [`crate::train_run`] draws them);
//! - its batches (the order its seed gives; replicas of one seed read the same batches);
//! - its learning rate and schedule, and its own global-norm clipping
//!   ([`AdamW::step_replicas`]);
//! - its divergence checks: a replica that diverges is frozen (rate 0, its gradient ignored)
//!   and recorded as diverged at that step; the others go on;
//! - its curve and its held-out evaluation, on the replica taken out of the stack.
//!
//! Replica `k` takes the same steps as `train_run` with `train_cfgs[k]` would, up to the
//! rounding of matrix products blocked differently (`tests/stacked.rs` bounds the gap over a
//! few hundred steps). A group is not checkpointed: interrupted, it is retrained from its
//! start.

use std::time::Instant;

use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::prelude::*;
use scalinglab_data::TokenCorpus;
use scalinglab_model::{Gpt, ModelConfig, ParamRole, StackedGpt};

use crate::optim::AdamW;
use crate::run::{
    RunOutcome, batches_of, curve_eval_set, curve_point, curve_row, curve_steps, diverged,
    evaluate, init_seeded, outcome_of, schedule_of, sequence_order,
};
use crate::{TrainConfig, TrainingError};

/// Whether `a` and `b` may train in one stack: equal in everything but the learning rate and
/// the seed (the batch size, schedule, epochs, clipping, decay and evaluation must agree).
pub fn stackable(a: &TrainConfig, b: &TrainConfig) -> bool {
    let strip = |c: &TrainConfig| {
        serde_json::to_string(&TrainConfig { lr: 0.0, seed: 0, ..c.clone() }).unwrap_or_default()
    };
    strip(a) == strip(b)
}

/// Trains `model_cfg` once per entry of `train_cfgs` (which differ only in `lr` and `seed`,
/// see [`stackable`]), all K as one stacked model, for the schedule each describes over
/// `train`; evaluates each on `eval`. Returns each replica's model and outcome, in order;
/// each outcome's `wall_seconds` is its share (1/K) of the group's time. `on_step` gets the
/// tokens trained so far, summed over the replicas, and the mean loss of those still
/// training.
///
/// # Errors
/// If `train_cfgs` is empty or its entries differ in more than the rate and seed, the model
/// cannot be stacked (LLaMA blocks, grouped-query attention, dropout), or a stop was
/// requested (SIGTERM), which interrupts the group without a checkpoint.
pub fn train_stacked(
    model_cfg: &ModelConfig,
    train_cfgs: &[TrainConfig],
    train: &TokenCorpus,
    eval: &TokenCorpus,
    device: &Device,
    mut on_step: impl FnMut(u64, f64),
) -> Result<Vec<(Gpt, RunOutcome)>, TrainingError> {
    let start = Instant::now();
    let invalid = |value: String, reason: &str| TrainingError::Invalid {
        field: "replicas".into(),
        value,
        reason: reason.into(),
    };
    let first = train_cfgs.first().ok_or_else(|| invalid("0".into(), "no runs to stack"))?;
    if let Some(i) = train_cfgs.iter().position(|c| !stackable(first, c)) {
        return Err(invalid(
            format!("{} runs", train_cfgs.len()),
            &format!("run {i} differs from run 0 in more than its learning rate and seed"),
        ));
    }
    let k = train_cfgs.len();
    let ad_device = device.clone().autodiff();
    let templates: Vec<Gpt> =
        train_cfgs.iter().map(|c| init_seeded(model_cfg, &ad_device, c.seed)).collect();
    let mut model = StackedGpt::stack(&templates).map_err(|e| invalid(format!("{k} runs"), &e))?;
    let mut optim = AdamW::for_stack(first, &model);

    let (n, seq) = (train.num_sequences(), train.seq_len);
    let orders: Vec<Vec<usize>> = train_cfgs.iter().map(|c| sequence_order(c, n)).collect();
    let batches: Vec<Vec<&[usize]>> =
        orders.iter().map(|o| batches_of(o, n, first.batch_size)).collect();
    let steps = batches[0].len();
    let schedules: Vec<_> = train_cfgs.iter().map(|c| schedule_of(c, steps)).collect();
    let curve_eval = curve_eval_set(first, eval);
    let curve_at = curve_steps(steps as u64, first.curve_points);
    let limit = first.divergence_factor * (model_cfg.vocab_size as f64).ln();

    let mut losses: Vec<Vec<f64>> = vec![Vec::with_capacity(steps); k];
    let mut ema = vec![None; k];
    let mut best_ema = vec![f64::INFINITY; k];
    let mut divergence: Vec<Option<String>> = vec![None; k];
    let mut curves = vec![Vec::new(); k];
    let mut tokens = 0u64;
    for step in 0..steps {
        if crate::stop::stop_requested() {
            return Err(TrainingError::Interrupted { step: step as u64 });
        }
        let rows = batches[0][step].len();
        let (mut xs, mut ys) = (Vec::with_capacity(k * rows * seq), Vec::new());
        for b in &batches {
            let (x, y) = train.batch(b[step]);
            xs.extend(x);
            ys.extend(y);
        }
        let ints = |v: Vec<i64>| {
            Tensor::<1, Int>::from_data(TensorData::new(v, [k * rows * seq]), &ad_device)
                .reshape([k, rows, seq])
        };
        let per = model.loss_per_token(ints(xs), ints(ys)).reshape([k, rows * seq]).mean_dim(1);
        let values: Vec<f64> =
            per.clone().into_data().convert::<f64>().try_to_vec::<f64>().unwrap_or_default();
        for r in 0..k {
            if divergence[r].is_some() {
                continue;
            }
            losses[r].push(values[r]);
            let warmup = schedules[r].warmup;
            let cfg = &train_cfgs[r];
            if let Some(why) =
                diverged(values[r], step as u64, limit, warmup, cfg, &mut ema[r], &mut best_ema[r])
            {
                tracing::warn!(replica = r, reason = %why, "run diverged");
                divergence[r] = Some(why);
            }
        }
        let live: Vec<usize> = (0..k).filter(|&r| divergence[r].is_none()).collect();
        if live.is_empty() {
            break;
        }
        let grads = GradientsParams::from_grads(per.sum().backward(), &model);
        let lrs: Vec<f64> = (0..k)
            .map(|r| if divergence[r].is_none() { schedules[r].lr_at(step as u64) } else { 0.0 })
            .collect();
        model = optim.step_replicas(&lrs, model, grads).0;
        tokens += (rows * seq) as u64;
        let mean = live.iter().map(|&r| values[r]).sum::<f64>() / live.len() as f64;
        on_step(tokens * live.len() as u64, mean);
        let done = (step + 1) as u64;
        if let Some(set) = curve_point(done, &curve_at, first, eval, curve_eval.as_ref()) {
            for &r in &live {
                let eval_loss =
                    set.map(|c| evaluate(&model.replica(r, &templates[r]), c, 64, device).0);
                curves[r].push(curve_row(&losses[r], &batches[r], seq, tokens, eval_loss));
            }
        }
    }
    let share = start.elapsed().as_secs_f64() / k as f64;
    let mut out = Vec::with_capacity(k);
    for (r, (template, (l, (why, curve)))) in
        templates.iter().zip(losses.into_iter().zip(divergence.into_iter().zip(curves))).enumerate()
    {
        let replica = model.replica(r, template);
        let mut outcome = outcome_of(&replica, l, steps, why, eval, device);
        outcome.curve = curve;
        outcome.wall_seconds = share;
        out.push((replica, outcome));
    }
    Ok(out)
}

impl AdamW {
    /// An optimiser for a stacked model: each stacked parameter takes its role's learning-rate
    /// multiplier (muP) and weight decay on matrices only, as the same parameter of a [`Gpt`].
    pub fn for_stack(train: &TrainConfig, model: &StackedGpt) -> Self {
        let rules: std::collections::HashMap<ParamId, (f64, bool)> = model
            .param_roles()
            .into_iter()
            .map(|(id, role)| (id, (model.lr_multiplier(role), role != ParamRole::Vector)))
            .collect();
        Self::with_rules(train, rules)
    }
}

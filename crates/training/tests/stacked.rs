//! Runs trained as one stack (`train_stacked`) against the same runs trained alone
//! (`train_run`): same initial weights, same batches, same schedule, so each replica must
//! follow its own run step for step, to the rounding of differently blocked matrix products.
//! Also: a diverging replica is frozen and the others go on unchanged; what cannot share a
//! stack is refused.

use burn::prelude::*;
use scalinglab_data::{TokenCorpus, WalkConfig};
use scalinglab_model::ModelConfig;
use scalinglab_training::{
    Checkpointing, DeviceChoice, RunOutcome, TrainConfig, select_device, train_run, train_stacked,
};

fn model() -> ModelConfig {
    ModelConfig {
        vocab_size: 0,
        context: 8,
        d_model: 32,
        n_layers: 2,
        n_heads: 4,
        ..Default::default()
    }
}

fn data() -> (TokenCorpus, TokenCorpus, usize) {
    let chain = WalkConfig::default().build().unwrap();
    let v = chain.num_states();
    (TokenCorpus::from_walks(&chain, 8, 3_200, 1), TokenCorpus::from_walks(&chain, 8, 64, 2), v)
}

fn alone(
    cfg: &ModelConfig,
    tc: &TrainConfig,
    data: &(TokenCorpus, TokenCorpus, usize),
    device: &Device,
) -> RunOutcome {
    train_run(cfg, tc, &data.0, &data.1, device, &Checkpointing::default(), |_, _| {}).unwrap().1
}

/// The largest gap between two runs' per-step curves and final losses.
fn gap(a: &RunOutcome, b: &RunOutcome) -> f64 {
    assert_eq!(a.steps, b.steps);
    assert_eq!(a.curve.len(), b.curve.len());
    let mut g = (a.eval_loss - b.eval_loss).abs().max((a.train_loss - b.train_loss).abs());
    for (x, y) in a.curve.iter().zip(&b.curve) {
        assert_eq!((x.step, x.tokens_seen), (y.step, y.tokens_seen));
        g = g.max((x.train_loss - y.train_loss).abs());
        g = g.max((x.eval_loss.unwrap() - y.eval_loss.unwrap()).abs());
    }
    g
}

fn stacked_matches_alone(device: &Device) {
    let data = data();
    let cfg = ModelConfig { vocab_size: data.2, ..model() };
    let base = TrainConfig {
        batch_size: 16,
        lr: 1e-2,
        curve_points: 8,
        curve_eval_sequences: 32,
        ..Default::default()
    };
    // Two rates of one seed (same batches) and a second seed (its own weights and batches).
    let runs = [
        base.clone(),
        TrainConfig { lr: 3e-3, ..base.clone() },
        TrainConfig { seed: 7, ..base.clone() },
    ];
    let stacked = train_stacked(&cfg, &runs, &data.0, &data.1, device, |_, _| {}).unwrap();
    assert_eq!(stacked.len(), 3);
    let mut gaps = Vec::new();
    for (tc, (_, s)) in runs.iter().zip(&stacked) {
        let a = alone(&cfg, tc, &data, device);
        assert_eq!(a.steps, 200);
        assert!(!s.diverged);
        gaps.push(gap(&a, s));
    }
    eprintln!("stacked vs alone, largest loss gap per run over 200 steps: {gaps:?}");
    assert!(gaps.iter().all(|&g| g < 2e-3), "{gaps:?}");
    // The runs differ from each other by far more than that (the comparison can fail).
    assert!(gap(&stacked[0].1, &stacked[1].1) > 0.02);
    assert!(gap(&stacked[0].1, &stacked[2].1) > 0.02);
}

#[test]
fn each_replica_follows_its_run_alone_on_flex() {
    stacked_matches_alone(&Device::flex());
}

#[test]
fn each_replica_follows_its_run_alone_on_ndarray() {
    match select_device(DeviceChoice::Ndarray) {
        Ok(d) => stacked_matches_alone(&d.device),
        Err(e) => eprintln!("skipped: {e}"),
    }
}

/// A replica at a rate that blows up is stopped at its divergence step and recorded as
/// diverged; its partner trains on exactly as it would alone.
#[test]
fn a_diverging_replica_is_frozen_and_the_others_go_on() {
    let data = data();
    let device = Device::flex();
    let cfg = ModelConfig { vocab_size: data.2, ..model() };
    let base = TrainConfig {
        batch_size: 16,
        lr: 1e-2,
        curve_points: 8,
        curve_eval_sequences: 32,
        ..Default::default()
    };
    let wild = TrainConfig { lr: 30.0, ..base.clone() };
    let out =
        train_stacked(&cfg, &[wild.clone(), base.clone()], &data.0, &data.1, &device, |_, _| {})
            .unwrap();
    let solo_wild = alone(&cfg, &wild, &data, &device);
    assert!(solo_wild.diverged, "the wild rate must diverge alone too");
    assert!(out[0].1.diverged && out[0].1.eval_loss.is_nan());
    assert_eq!(
        out[0].1.steps, solo_wild.steps,
        "{:?} vs {:?}",
        out[0].1.divergence, solo_wild.divergence
    );
    let g = gap(&alone(&cfg, &base, &data, &device), &out[1].1);
    assert!(g < 2e-3, "the surviving replica moved by {g}");
}

#[test]
fn runs_that_differ_beyond_rate_and_seed_are_refused() {
    let data = data();
    let cfg = ModelConfig { vocab_size: data.2, ..model() };
    let a = TrainConfig { batch_size: 16, ..Default::default() };
    let b = TrainConfig { batch_size: 32, ..a.clone() };
    let err =
        train_stacked(&cfg, &[a, b], &data.0, &data.1, &Device::flex(), |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("differs from run 0"), "{err}");
    let err = train_stacked(&cfg, &[], &data.0, &data.1, &Device::flex(), |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("no runs"), "{err}");
}

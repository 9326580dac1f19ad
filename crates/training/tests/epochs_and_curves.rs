//! Repeated data (`train.epochs`) and the held-out training curve (`curve_eval_sequences`):
//! what each changes in a run, and what it must leave alone.

use burn::prelude::*;
use scalinglab_data::{TokenCorpus, WalkConfig};
use scalinglab_model::ModelConfig;
use scalinglab_training::{Checkpointing, RunOutcome, TrainConfig, train_run};

fn run(tc: &TrainConfig, train: &TokenCorpus, eval: &TokenCorpus, vocab: usize) -> RunOutcome {
    let cfg = ModelConfig {
        vocab_size: vocab,
        context: 8,
        d_model: 16,
        n_layers: 1,
        n_heads: 2,
        ..Default::default()
    };
    train_run(&cfg, tc, train, eval, &Device::flex(), &Checkpointing::default(), |_, _| {})
        .unwrap()
        .1
}

fn data() -> (TokenCorpus, TokenCorpus, usize) {
    let chain = WalkConfig::default().build().unwrap();
    let v = chain.num_states();
    (TokenCorpus::from_walks(&chain, 8, 160, 1), TokenCorpus::from_walks(&chain, 8, 32, 2), v)
}

/// Evaluating the held-out set along the curve leaves training untouched (the same final
/// losses to the bit), and with the whole held-out set its last point is the final eval loss.
#[test]
fn the_held_out_curve_is_on_by_default_and_changes_nothing_else() {
    let (train, eval, v) = data();
    let base = TrainConfig { batch_size: 16, lr: 1e-2, curve_points: 6, ..Default::default() };
    assert_eq!(base.curve_eval_sequences, 64, "on by default");
    let off = run(&TrainConfig { curve_eval_sequences: 0, ..base.clone() }, &train, &eval, v);
    let on = run(&TrainConfig { curve_eval_sequences: 32, ..base.clone() }, &train, &eval, v);
    assert_eq!(on.eval_loss.to_bits(), off.eval_loss.to_bits());
    assert_eq!(on.train_loss.to_bits(), off.train_loss.to_bits());
    assert!(off.curve.iter().all(|c| c.eval_loss.is_none()));
    assert!(on.curve.iter().all(|c| c.eval_loss.is_some_and(f64::is_finite)));
    let last = on.curve.last().unwrap();
    assert_eq!(last.step, on.steps);
    assert_eq!(last.eval_loss.unwrap().to_bits(), on.eval_loss.to_bits());
    // A held-out point sits at its step's end: 16 sequences of 8 targets per step.
    for c in &on.curve {
        assert_eq!(c.tokens_seen, c.step * 16 * 8, "step {}", c.step);
    }
}

/// Three epochs take three times the steps over the same unique sequences; the first step is
/// the one-epoch run's (the first pass keeps its order), and repeating the data lowers the
/// training loss further than one pass does.
#[test]
fn epochs_repeat_the_unique_data_in_fresh_orders() {
    let (train, eval, v) = data();
    let base = TrainConfig { batch_size: 16, lr: 1e-2, curve_points: 40, ..Default::default() };
    let one = run(&base, &train, &eval, v);
    let three = run(&TrainConfig { epochs: 3, ..base.clone() }, &train, &eval, v);
    assert_eq!((one.steps, three.steps), (10, 30));
    let first = |o: &RunOutcome| o.curve.iter().find(|c| c.step == 1).unwrap().train_loss;
    assert_eq!(first(&one).to_bits(), first(&three).to_bits());
    assert!(three.train_loss < one.train_loss, "{} vs {}", three.train_loss, one.train_loss);
    // A batch never straddles two passes: 150 sequences at 16 a batch are 10 batches a pass
    // (19 if the passes ran together).
    let two = run(&TrainConfig { epochs: 2, ..base }, &train.take(150), &eval, v);
    assert_eq!(two.steps, 20);
}

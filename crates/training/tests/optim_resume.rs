//! The optimiser against burn's own AdamW, and a run killed and resumed from its checkpoint
//! against the same run uninterrupted.

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use scalinglab_data::{TokenCorpus, WalkConfig};
use scalinglab_model::{Arch, ModelConfig, Parameterization};
use scalinglab_training::{
    AdamW, Checkpointing, TrainConfig, TrainingError, init_seeded, train_run,
};

fn tiny_model(arch: Arch, p: Parameterization) -> ModelConfig {
    ModelConfig {
        arch,
        vocab_size: 32,
        context: 8,
        d_model: 16,
        n_layers: 1,
        n_heads: 2,
        parameterization: p,
        base_width: 8,
        ..Default::default()
    }
}

fn flat(model: &scalinglab_model::Gpt) -> Vec<f32> {
    use burn::module::{ModuleVisitor, Param};
    struct All(Vec<f32>);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.extend(p.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
        }
    }
    let mut a = All(Vec::new());
    model.visit(&mut a);
    a.0
}

/// With weight decay and clipping off, and SP (every multiplier 1), three steps of our AdamW
/// equal three steps of burn's independent implementation.
#[test]
fn adamw_matches_burns_adamw_without_decay_or_clipping() {
    let device = Device::flex().autodiff();
    let cfg = tiny_model(Arch::Gpt2, Parameterization::Sp);
    let tc = TrainConfig { weight_decay: 0.0, grad_clip: 0.0, eps: 1e-8, ..Default::default() };
    let x = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 5, 6, 7, 8]], &device);
    let y = Tensor::<2, Int>::from_ints([[2, 3, 4, 5, 6, 7, 8, 9]], &device);
    let mut ours = init_seeded(&cfg, &device, 1);
    let mut theirs = ours.clone();
    let mut opt = AdamW::new(&tc, &ours);
    let mut burn_opt = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.95)
        .with_epsilon(1e-8)
        .with_weight_decay(0.0)
        .init();
    for lr in [1e-2, 5e-3, 2e-3] {
        let g = GradientsParams::from_grads(ours.loss(x.clone(), y.clone()).backward(), &ours);
        ours = opt.step(lr, ours, g).0;
        let g = GradientsParams::from_grads(theirs.loss(x.clone(), y.clone()).backward(), &theirs);
        theirs = burn_opt.step(lr, theirs, g);
    }
    let (a, b) = (flat(&ours), flat(&theirs));
    let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    // Updates are about lr = 1e-2 per step; the two differ only by f32 rounding order.
    assert!(worst < 1e-5, "largest parameter difference {worst}");
    // And they did move.
    let start = flat(&init_seeded(&cfg, &device, 1));
    assert!(a.iter().zip(&start).any(|(p, q)| (p - q).abs() > 1e-3));
}

/// The norm used for clipping is the global one: the square root of the sum of every squared
/// gradient entry over all parameters, summed here by hand.
#[test]
fn global_gradient_norm_is_the_norm_over_all_parameters() {
    let device = Device::flex().autodiff();
    let cfg = tiny_model(Arch::Llama, Parameterization::Mup);
    let tc = TrainConfig { grad_clip: 1e-3, ..Default::default() };
    let model = init_seeded(&cfg, &device, 2);
    let x = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 5, 6, 7, 8]], &device);
    let y = Tensor::<2, Int>::from_ints([[2, 3, 4, 5, 6, 7, 8, 9]], &device);
    let grads = GradientsParams::from_grads(model.loss(x, y).backward(), &model);
    let mut by_hand = 0.0f64;
    for (id, role) in model.param_roles() {
        let g = if role == scalinglab_model::ParamRole::Vector {
            grads.get::<1>(id).unwrap().into_data()
        } else {
            grads.get::<2>(id).unwrap().into_data()
        };
        by_hand +=
            g.convert::<f64>().try_to_vec::<f64>().unwrap().iter().map(|v| v * v).sum::<f64>();
    }
    let mut opt = AdamW::new(&tc, &model);
    let (_, norm) = opt.step(1e-3, model, grads);
    assert!((norm - by_hand.sqrt()).abs() < 1e-4 * by_hand.sqrt(), "{norm} vs {}", by_hand.sqrt());
}

fn data() -> (TokenCorpus, TokenCorpus, usize) {
    let chain = WalkConfig::default().build().unwrap();
    let v = chain.num_states();
    (TokenCorpus::from_walks(&chain, 8, 320, 1), TokenCorpus::from_walks(&chain, 8, 32, 2), v)
}

/// A run stopped after 7 and again after 6 more steps (checkpoints every 3 steps, so the last
/// steps before each stop are lost and redone) ends exactly as the run that never stopped.
#[test]
fn a_resumed_run_ends_exactly_as_an_uninterrupted_one() {
    let device = Device::flex();
    let (train, eval, vocab) = data();
    for (arch, p) in [(Arch::Gpt2, Parameterization::Sp), (Arch::Llama, Parameterization::Mup)] {
        let cfg = ModelConfig { vocab_size: vocab, ..tiny_model(arch, p) };
        let tc = TrainConfig {
            batch_size: 16,
            lr: 1e-2,
            checkpoint_every: 3,
            curve_points: 8,
            eval_every: 5,
            ..Default::default()
        };
        let (_, whole) =
            train_run(&cfg, &tc, &train, &eval, &device, &Checkpointing::default(), |_, _| {})
                .unwrap();
        assert_eq!(whole.steps, 20);
        let dir =
            std::env::temp_dir().join(format!("scalinglab-resume-{arch}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut ck = Checkpointing { dir: Some(dir.clone()), stop_after: Some(7) };
        match train_run(&cfg, &tc, &train, &eval, &device, &ck, |_, _| {}) {
            Err(TrainingError::Interrupted { step: 7 }) => {}
            r => panic!("expected an interruption at step 7, got {:?}", r.map(|r| r.1)),
        }
        ck.stop_after = Some(6); // resumes at step 6, stops at 12
        assert!(matches!(
            train_run(&cfg, &tc, &train, &eval, &device, &ck, |_, _| {}),
            Err(TrainingError::Interrupted { step: 12 })
        ));
        ck.stop_after = None;
        let (_, resumed) = train_run(&cfg, &tc, &train, &eval, &device, &ck, |_, _| {}).unwrap();
        assert_eq!(resumed.resumed_from, Some(12));
        assert_eq!(resumed.steps, whole.steps);
        assert_eq!(resumed.eval_loss.to_bits(), whole.eval_loss.to_bits(), "{arch}");
        assert_eq!(resumed.train_loss.to_bits(), whole.train_loss.to_bits());
        assert_eq!(resumed.curve, whole.curve);
        assert_eq!(resumed.eval_loss_by_position, whole.eval_loss_by_position);
        assert_eq!(whole.eval_loss_by_position.len(), 8);
        // The per-position losses average to the eval loss.
        let mean = whole.eval_loss_by_position.iter().sum::<f64>() / 8.0;
        assert!((mean - whole.eval_loss).abs() < 1e-9);
        // Another model cannot resume this checkpoint.
        let other = ModelConfig { d_model: 24, n_heads: 3, ..cfg.clone() };
        ck.stop_after = Some(1);
        let _ = train_run(
            &other,
            &tc,
            &train,
            &eval,
            &device,
            &Checkpointing { dir: Some(dir.join("o")), stop_after: Some(4) },
            |_, _| {},
        );
        scalinglab_training::remove_checkpoint(&dir);
        std::fs::rename(dir.join("o").join("checkpoint"), dir.join("checkpoint")).unwrap();
        let e = train_run(&cfg, &tc, &train, &eval, &device, &ck, |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("another model"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A checkpoint whose saved step lies past its schedule (a damaged or hand-edited
/// `state.json`) is refused naming the checkpoint and the step, instead of skipping training
/// and recording the run as finished with a D it never trained on.
#[test]
fn a_checkpoint_past_its_schedule_is_refused_naming_it_and_the_step() {
    let device = Device::flex();
    let (train, eval, vocab) = data();
    let cfg = ModelConfig { vocab_size: vocab, ..tiny_model(Arch::Gpt2, Parameterization::Sp) };
    let tc = TrainConfig { batch_size: 16, lr: 1e-2, checkpoint_every: 2, ..Default::default() };
    let dir = std::env::temp_dir().join(format!("scalinglab-ckpt-step-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ck = Checkpointing { dir: Some(dir.clone()), stop_after: Some(4) };
    assert!(matches!(
        train_run(&cfg, &tc, &train, &eval, &device, &ck, |_, _| {}),
        Err(TrainingError::Interrupted { step: 4 })
    ));
    let state = dir.join("checkpoint").join("state.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(json["step"], 4);
    json["step"] = serde_json::json!(1_000_000u64);
    std::fs::write(&state, json.to_string()).unwrap();
    let ck = Checkpointing { dir: Some(dir.clone()), stop_after: None };
    let e = train_run(&cfg, &tc, &train, &eval, &device, &ck, |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("state.json") && e.contains("1000000") && e.contains("20 steps"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_absurd_learning_rate_is_reported_as_divergence() {
    let device = Device::flex();
    let (train, eval, vocab) = data();
    let cfg = ModelConfig { vocab_size: vocab, ..tiny_model(Arch::Gpt2, Parameterization::Sp) };
    let tc = TrainConfig { lr: 1e4, grad_clip: 0.0, warmup_frac: 0.0, ..Default::default() };
    let (_, out) =
        train_run(&cfg, &tc, &train, &eval, &device, &Checkpointing::default(), |_, _| {}).unwrap();
    assert!(out.diverged && out.eval_loss.is_nan());
    let why = out.divergence.unwrap();
    assert!(why.contains("step"), "{why}");
    assert!(out.steps < 20);
}

/// muP's coordinate check: after a few Adam steps at one learning rate, the logits and the
/// last block's output grow with width under SP and stay flat under muP.
#[test]
fn coordinate_check_is_flat_under_mup_and_grows_under_sp() {
    use scalinglab_training::{CoordCheckConfig, coord_check};
    for arch in [Arch::Gpt2, Arch::Llama] {
        let cfg = CoordCheckConfig { arch, widths: vec![32, 64, 128], ..Default::default() };
        let (rows, slopes) = coord_check(&cfg, &Device::flex()).unwrap();
        assert_eq!(rows.len(), 2 * 3 * 2 * (cfg.n_layers + 2));
        let slope = |p: Parameterization, layer: &str| {
            slopes.iter().find(|s| s.parameterization == p && s.layer == layer).unwrap().slope
        };
        let report = format!("{arch}: {slopes:?}");
        assert!(slope(Parameterization::Sp, "logits") > 0.4, "{report}");
        assert!(slope(Parameterization::Mup, "logits").abs() < 0.25, "{report}");
        assert!(slope(Parameterization::Mup, "block 1").abs() < 0.25, "{report}");
        assert!(
            slope(Parameterization::Sp, "block 1") > slope(Parameterization::Mup, "block 1") + 0.2,
            "{report}"
        );
    }
}

/// `hidden_state_points` returns, for each drawn window, the final-layer state of its last
/// position: the same numbers as the model's own `hidden_states` on that window.
#[test]
fn hidden_state_points_are_the_models_last_position_states() {
    use scalinglab_training::hidden_state_points;
    let device = Device::flex();
    let cfg = ModelConfig { vocab_size: 32, ..tiny_model(Arch::Llama, Parameterization::Sp) };
    let model = init_seeded(&cfg, &device, 3);
    let tokens: Vec<u32> = (0..40).map(|i| (i * 7 % 32) as u32).collect();
    let (points, dim) = hidden_state_points(&model, &cfg, &tokens, 5, 1, &device).unwrap();
    assert_eq!((points.len(), dim), (5 * 16, 16));
    // Each point must equal the state at the end of some window of the stream.
    let windows: Vec<Vec<f32>> = (0..=tokens.len() - 8)
        .map(|s| {
            let x = Tensor::<1, Int>::from_data(
                TensorData::new(
                    tokens[s..s + 8].iter().map(|&t| t as i64).collect::<Vec<_>>(),
                    [8],
                ),
                &device,
            )
            .reshape([1, 8]);
            model
                .hidden_states(x)
                .slice([0..1, 7..8])
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap()
        })
        .collect();
    for p in points.chunks(16) {
        let best = windows
            .iter()
            .map(|w| w.iter().zip(p).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max))
            .fold(f32::INFINITY, f32::min);
        assert!(best < 1e-5, "a point matches no window's last state ({best})");
    }
    let e =
        hidden_state_points(&model, &cfg, &[40, 1, 2, 3, 4, 5, 6, 7], 1, 0, &device).unwrap_err();
    assert!(e.to_string().contains("vocabulary"), "{e}");
}

/// A model that is not ours (embedding → logits, a pure bigram table) swept by
/// `sweep_models`: every cell is trained, recorded and fitted; a second call trains nothing.
#[test]
fn sweep_models_trains_and_fits_a_user_defined_module() {
    use burn::module::Initializer;
    use burn::nn::{Embedding, Linear};
    use scalinglab_training::{LanguageModel, ModelSweep, sweep_models};

    #[derive(burn::module::Module, Debug)]
    struct Bigram {
        embed: Embedding,
        out: Linear,
    }
    impl LanguageModel for Bigram {
        fn loss_per_token(&self, x: Tensor<2, Int>, y: Tensor<2, Int>) -> Tensor<2> {
            let logp =
                burn::tensor::activation::log_softmax(self.out.forward(self.embed.forward(x)), 2);
            logp.gather(2, y.unsqueeze_dim::<3>(2)).squeeze_dim::<2>(2).neg()
        }
    }
    let (train, eval, vocab) = data();
    let dir = std::env::temp_dir().join(format!("scalinglab-custom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sweep = ModelSweep {
        out_dir: dir.clone(),
        name: "bigram".into(),
        sizes: vec![2, 4, 8, 16],
        tokens: vec![640, 1280, 2560],
        train: TrainConfig { lr: 3e-2, batch_size: 8, ..Default::default() },
        vocab_size: vocab,
        reference_loss: None,
        bootstrap: 0,
    };
    let build = |k: usize, dev: &Device| Bigram {
        embed: Embedding {
            weight: Initializer::Normal { mean: 0.0, std: 0.1 }.init([vocab, k], dev),
        },
        out: Linear {
            weight: Initializer::Normal { mean: 0.0, std: 0.1 }.init([k, vocab], dev),
            bias: None,
        },
    };
    let params = |k: usize| (2 * vocab * k) as u64;
    let fits = sweep_models(&sweep, build, params, &train, &eval, &Device::flex()).unwrap();
    assert!(fits.loss_vs_n_no_offset.is_some(), "{:?}", fits.warnings);
    let rows = scalinglab_analysis::read_results(&dir.join("results.csv")).unwrap();
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| r.eval_loss.is_finite() && r.arch == "bigram"));
    // Wider tables fit better at the largest D.
    let at = |k: usize| rows.iter().find(|r| r.d_model == k && r.tokens == 2560).unwrap().eval_loss;
    assert!(at(16) < at(2), "{} vs {}", at(16), at(2));
    // Resumed: nothing left to train, the same rows.
    sweep_models(&sweep, build, params, &train, &eval, &Device::flex()).unwrap();
    assert_eq!(scalinglab_analysis::read_results(&dir.join("results.csv")).unwrap(), rows);
    let _ = std::fs::remove_dir_all(&dir);
}

//! The model against independent truths: burn's own parameter count, hand-computed counts and
//! FLOPs, causality, and the loss of an untrained model.

use burn::prelude::*;
use scalinglab_model::{FlopCounting, ModelConfig};

fn small(tie: bool, bias: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: 50,
        context: 10,
        d_model: 24,
        n_layers: 3,
        n_heads: 4,
        tie_embeddings: tie,
        bias,
        ..Default::default()
    }
}

#[test]
fn closed_form_counts_match_the_built_module() {
    let device = Device::flex();
    for tie in [false, true] {
        for bias in [false, true] {
            let cfg = small(tie, bias);
            let model = cfg.init(&device);
            assert_eq!(
                model.num_params() as u64,
                cfg.param_counts().total,
                "tie={tie} bias={bias}"
            );
        }
    }
}

#[test]
fn counts_by_hand() {
    // d = 24, f = 96, L = 3, V = 50, T = 10, biases on, untied.
    // per block: LN 2·(24+24) = 96; attn 3·576 + 72 + 576 + 24 = 2400; MLP 2304 + 96 + 2304 + 24 = 4728
    // blocks 3·(96 + 2400 + 4728) = 21672; final LN 48 → non-embedding 21720
    // embedding: 50·24 + 10·24 + 50·24 = 2640
    let c = small(false, true).param_counts();
    assert_eq!(c.non_embedding, 21_720);
    assert_eq!(c.embedding, 2_640);
    assert_eq!(c.total, 24_360);
    // Kaplan: 6·21720 + 6·3·10·24 = 130320 + 4320; unembedding adds 6·24·50 = 7200.
    let cfg = small(false, true);
    assert_eq!(cfg.flops_per_token(FlopCounting::Kaplan), 134_640.0);
    assert_eq!(cfg.flops_per_token(FlopCounting::WithUnembedding), 141_840.0);
    // Kaplan's approximation N ≈ 12 L d² holds for bias-free blocks up to the LayerNorm gains.
    let big =
        ModelConfig { d_model: 512, n_layers: 4, n_heads: 8, bias: false, ..Default::default() };
    let n = big.param_counts().non_embedding as f64;
    assert!((n / (12.0 * 4.0 * 512.0 * 512.0) - 1.0).abs() < 1e-3);
}

#[test]
fn causal_future_tokens_do_not_change_past_logits() {
    let device = Device::flex();
    device.seed(1);
    let cfg = small(false, true);
    let model = cfg.init(&device);
    let a = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 5, 6, 7, 8]], &device);
    let b = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 9, 9, 9, 9]], &device);
    let la = model.forward(a).slice([0..1, 0..4]).into_data().try_to_vec::<f32>().unwrap();
    let lb = model.forward(b).slice([0..1, 0..4]).into_data().try_to_vec::<f32>().unwrap();
    let worst = la.iter().zip(&lb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "position < 4 saw the future: {worst}");
    // ...while a change at position 4 does change position 4.
    let a = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 5]], &device);
    let b = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 9]], &device);
    let d = (model.forward(a).slice([0..1, 4..5]) - model.forward(b).slice([0..1, 4..5]))
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(d > 1e-4);
}

#[test]
fn untrained_loss_is_near_ln_vocab() {
    // GPT-2 init (std 0.02) gives near-uniform predictions: loss ≈ ln V.
    let device = Device::flex();
    device.seed(3);
    let cfg = small(false, true);
    let model = cfg.init(&device);
    let x = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], &device);
    let y = Tensor::<2, Int>::from_ints([[2, 3, 4, 5, 6, 7, 8, 9, 10, 11]], &device);
    let loss = model.loss(x.clone(), y.clone()).into_scalar::<f32>() as f64;
    assert!((loss - 50f64.ln()).abs() < 0.05, "loss {loss}");
    let per = model.loss_per_token(x, y);
    assert_eq!(per.dims(), [1, 10]);
}

#[test]
fn invalid_configs_are_errors_naming_the_field() {
    let bad = ModelConfig { n_heads: 5, ..small(false, true) };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("n_heads") && e.contains('5') && e.contains("24"), "{e}");
    let bad = ModelConfig { dropout: 1.5, ..small(false, true) };
    assert!(bad.validate().unwrap_err().to_string().contains("dropout"));
}

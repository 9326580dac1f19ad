//! The manifold regressor learns: a Hölder target on a circle in R^8 is fitted far below its
//! variance (1), and more training points give a lower test error.

use burn::prelude::Device;
use scalinglab_data::{HolderTarget, Manifold, ManifoldConfig, ManifoldData};
use scalinglab_model::ModelConfig;
use scalinglab_training::{RegressionTrain, train_regressor};

/// A Lipschitz ridge target on a circle in R^8, the data of both tests.
fn circle_in_r8() -> ManifoldData {
    ManifoldConfig {
        manifold: Manifold::Sphere { dim: 1 },
        ambient_dim: 8,
        noise_std: 0.0,
        target: HolderTarget::Ridge { smoothness: 1.0, terms: 8 },
        seed: 3,
    }
    .build()
    .unwrap()
}

#[test]
fn regressor_fits_a_circle_target_and_improves_with_data() {
    let data = circle_in_r8();
    let model = ModelConfig {
        vocab_size: 64,
        context: 8,
        d_model: 32,
        n_layers: 2,
        n_heads: 2,
        ..ModelConfig::default()
    };
    let train = RegressionTrain {
        bins: 64,
        steps: 300,
        validation: 256,
        test: 512,
        eval_every: 25,
        ..RegressionTrain::default()
    };
    let device = Device::flex();
    let big = train_regressor(&data, &model, 2048, &train, 0, &device).unwrap();
    let small = train_regressor(&data, &model, 16, &train, 0, &device).unwrap();
    eprintln!("n=2048: {big:?}\nn=16: {small:?}");
    assert!(
        big.test_mse < 0.2,
        "test MSE {} should be far below the target variance 1",
        big.test_mse
    );
    assert!(
        small.test_mse > 1.5 * big.test_mse,
        "16 points: {} vs 2048: {}",
        small.test_mse,
        big.test_mse
    );
    assert_eq!(big.params, model.regressor_params());
    // A context shorter than the point is refused, naming the field.
    let short = ModelConfig { context: 4, ..model };
    let e = train_regressor(&data, &short, 64, &train, 0, &device).unwrap_err().to_string();
    assert!(e.contains("model.context"), "{e}");
}

/// Patches of real coordinates through a linear embedding learn the same target; label noise
/// reaches the training and validation labels but not the test error, which is against the
/// clean target: with the model frozen at its start (it predicts 0, the targets' mean), the
/// validation error is Var f + σ² and the test error Var f ≈ 1.
#[test]
fn patch_regressor_learns_and_label_noise_spares_the_test_error() {
    let data = circle_in_r8();
    // Patches of 2 coordinates: 4 positions; the token table is unused.
    let model = ModelConfig {
        vocab_size: 2,
        context: 4,
        d_model: 32,
        n_layers: 2,
        n_heads: 2,
        ..ModelConfig::default()
    };
    let train = RegressionTrain {
        patch: 2,
        steps: 300,
        validation: 256,
        test: 512,
        eval_every: 25,
        ..RegressionTrain::default()
    };
    let device = Device::flex();
    let r = train_regressor(&data, &model, 2048, &train, 0, &device).unwrap();
    eprintln!("patches, n=2048: {r:?}");
    assert!(r.test_mse < 0.2, "test MSE {} should be far below the target variance 1", r.test_mse);
    assert_eq!(r.steps, 300);

    let sigma = 2.0;
    let frozen = RegressionTrain {
        label_noise: sigma,
        lr: 0.0,
        steps: 1,
        validation: 4096,
        test: 4096,
        ..train.clone()
    };
    let f = train_regressor(&data, &model, 64, &frozen, 0, &device).unwrap();
    eprintln!("frozen, σ = {sigma}: {f:?}");
    assert_eq!(f.best_step, 0, "a model at learning rate 0 never beats its start");
    assert!((0.8..1.2).contains(&f.test_mse), "test MSE {} should be Var f ≈ 1", f.test_mse);
    // The noise term σ² ε̄² over 4,096 labels: 4 ± 0.09 (one s.d.); Var f cancels.
    let gap = f.val_mse - f.test_mse;
    assert!((gap - sigma * sigma).abs() < 0.45, "validation − test = {gap}, expected σ² = 4");

    // Bad settings are refused by name.
    for sigma in [f64::NAN, -1.0, 1e300] {
        let bad = RegressionTrain { label_noise: sigma, ..train.clone() };
        let e = train_regressor(&data, &model, 64, &bad, 0, &device).unwrap_err().to_string();
        assert!(e.contains("label_noise"), "{e}");
    }
    // A patch wider than the point is refused before its patches are allocated.
    let huge = RegressionTrain { patch: usize::MAX / 2, ..train.clone() };
    let e = train_regressor(&data, &model, 64, &huge, 0, &device).unwrap_err().to_string();
    assert!(e.contains("patch") && e.contains("ambient dimension 8"), "{e}");
    let wide = RegressionTrain { patch: 1, ..train };
    let e = train_regressor(&data, &model, 64, &wide, 0, &device).unwrap_err().to_string();
    assert!(e.contains("model.context") && e.contains("8 positions"), "{e}");
}

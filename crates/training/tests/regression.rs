//! The manifold regressor learns: a Hölder target on a circle in R^8 is fitted far below its
//! variance (1), and more training points give a lower test error.

use burn::prelude::Device;
use scalinglab_data::{HolderTarget, Manifold, ManifoldConfig};
use scalinglab_model::ModelConfig;
use scalinglab_training::{RegressionTrain, train_regressor};

#[test]
fn regressor_fits_a_circle_target_and_improves_with_data() {
    let data = ManifoldConfig {
        manifold: Manifold::Sphere { dim: 1 },
        ambient_dim: 8,
        noise_std: 0.0,
        target: HolderTarget::Ridge { smoothness: 1.0, terms: 8 },
        seed: 3,
    }
    .build()
    .unwrap();
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

//! The same weights give the same logits on every compiled backend. Weights travel through a
//! burnpack file (each backend draws its own random stream, so re-seeding is not enough).

use burn::prelude::*;
use scalinglab_model::ModelConfig;
use scalinglab_training::{DeviceChoice, select_device};

fn config() -> ModelConfig {
    ModelConfig {
        vocab_size: 40,
        context: 12,
        d_model: 32,
        n_layers: 2,
        n_heads: 4,
        ..Default::default()
    }
}

fn tokens(device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let x: Vec<i64> = (0..24).map(|i| (i * 7 + 3) % 40).collect();
    let y: Vec<i64> = (0..24).map(|i| (i * 5 + 1) % 40).collect();
    (
        Tensor::<1, Int>::from_data(TensorData::new(x, [24]), device).reshape([2, 12]),
        Tensor::<1, Int>::from_data(TensorData::new(y, [24]), device).reshape([2, 12]),
    )
}

/// Logits and loss on flex, and the path of the saved weights.
fn reference(name: &str) -> (TensorData, f32, std::path::PathBuf) {
    let device = Device::flex();
    device.seed(7);
    let model = config().init(&device);
    let (x, y) = tokens(&device);
    let logits = model.forward(x.clone()).into_data();
    let loss = model.loss(x, y).into_scalar::<f32>();
    let path = std::env::temp_dir().join(format!("scalinglab-{name}-{}.bpk", std::process::id()));
    model.save_file(&path).unwrap();
    (logits, loss, path)
}

fn compare_on(choice: DeviceChoice, name: &str) -> Result<(), String> {
    let selected = select_device(choice).map_err(|e| e.to_string())?;
    let (expected, expected_loss, path) = reference(name);
    let device = selected.device;
    let model = config().init(&device).load_file(&path);
    let (x, y) = tokens(&device);
    let logits = model.forward(x.clone()).into_data();
    let loss = model.loss(x, y).into_scalar::<f32>();
    let _ = std::fs::remove_file(&path);
    let (a, b) = (expected.try_to_vec::<f32>().unwrap(), logits.try_to_vec::<f32>().unwrap());
    let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "{}: logits differ from flex by up to {worst}", selected.description);
    assert!(
        (loss - expected_loss).abs() < 1e-4,
        "{}: loss {loss} vs {expected_loss}",
        selected.description
    );
    eprintln!("{}: max |Δlogit| = {worst:.2e}", selected.description);
    Ok(())
}

#[test]
fn ndarray_matches_flex() {
    compare_on(DeviceChoice::Ndarray, "ndarray").unwrap();
}

#[test]
fn wgpu_matches_flex_when_an_adapter_exists() {
    match compare_on(DeviceChoice::Wgpu, "wgpu") {
        Ok(()) => {}
        // No Vulkan/Metal/DX12 driver at all (CI installs Mesa's lavapipe, so it runs there).
        Err(e) => eprintln!("SKIPPED wgpu parity: {e}"),
    }
}

//! Times the fused LayerNorm, GELU and cross-entropy against burn's composed operations, forward and
//! backward, on Flex with autodiff: `cargo run --example fused_bench -p scalinglab-model`.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor};
use scalinglab_model::fused::{cross_entropy, gelu, layer_norm, without_fusion};

fn time(label: &str, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!("{label:<40} {ms:8.3} ms");
    ms
}

fn main() {
    if std::env::args().any(|a| a == "--kernels") {
        kernels_alone();
        return;
    }
    let device = Device::flex().autodiff();
    device.seed(0);
    for (rows, d) in [(3200, 64), (3200, 128), (3200, 512)] {
        let x = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
        let g = Tensor::<1>::random([d], Distribution::Normal(1.0, 0.1), &device);
        let b = Tensor::<1>::random([d], Distribution::Normal(0.0, 0.1), &device);
        let mut run = || {
            let (x, g, b) =
                (x.clone().require_grad(), g.clone().require_grad(), b.clone().require_grad());
            let y = layer_norm(x.clone(), g.clone(), Some(b.clone()), 1e-5);
            let grads = (y * 0.5).sum().backward();
            let _ = x.grad(&grads).unwrap().slice([0..1, 0..1]).into_scalar::<f32>();
        };
        let f = time(&format!("layer_norm [{rows}, {d}] fused"), 20, &mut run);
        let p =
            time(&format!("layer_norm [{rows}, {d}] composed"), 20, || without_fusion(&mut run));
        println!("  speed-up {:.2}x", p / f);
    }
    for (rows, d) in [(3200, 256), (3200, 2048)] {
        let x = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
        let mut run = || {
            let x = x.clone().require_grad();
            let grads = (gelu(x.clone()) * 0.5).sum().backward();
            let _ = x.grad(&grads).unwrap().slice([0..1, 0..1]).into_scalar::<f32>();
        };
        let f = time(&format!("gelu [{rows}, {d}] fused"), 20, &mut run);
        let p = time(&format!("gelu [{rows}, {d}] composed"), 20, || without_fusion(&mut run));
        println!("  speed-up {:.2}x", p / f);
    }
    for (rows, v) in [(3200, 128), (3200, 1024)] {
        let z = Tensor::<2>::random([rows, v], Distribution::Normal(0.0, 1.0), &device);
        let t = Tensor::<1, Int>::random([rows], Distribution::Uniform(0.0, v as f64), &device);
        let mut run = || {
            let z = z.clone().require_grad();
            let l = cross_entropy(z.clone(), t.clone()).mean();
            let grads = l.backward();
            let _ = z.grad(&grads).unwrap().slice([0..1, 0..1]).into_scalar::<f32>();
        };
        let f = time(&format!("cross_entropy [{rows}, {v}] fused"), 20, &mut run);
        let p =
            time(&format!("cross_entropy [{rows}, {v}] composed"), 20, || without_fusion(&mut run));
        println!("  speed-up {:.2}x", p / f);
    }
}

/// The slice kernels alone, no tensors.
#[allow(dead_code)]
pub fn kernels_alone() {
    use scalinglab_model::fused::kernels;
    let n = 3200 * 2048;
    let x: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32 - 500.0) / 100.0).collect();
    let dy = vec![0.5f32; n];
    time("kernels::gelu 6.5M", 10, || {
        std::hint::black_box(kernels::gelu(&x));
    });
    time("kernels::gelu_backward 6.5M", 10, || {
        std::hint::black_box(kernels::gelu_backward(&x, &dy));
    });
    time("tanh-form GELU via libm tanhf 6.5M", 10, || {
        let y: Vec<f32> = x.iter().map(|&v| 0.5 * v * (1.0 + libm_tanh_form(v))).collect();
        std::hint::black_box(y);
    });
    time("vec alloc+fill 6.5M", 10, || {
        std::hint::black_box(vec![1.0f32; n]);
    });
}

/// The tanh approximation of `erf(x/√2)` through libm's `tanhf`: a scalar libm call per
/// element, as burn's GELU pays with `erff` (std has no `erf` to time directly).
fn libm_tanh_form(x: f32) -> f32 {
    (x * 0.7978846 * (1.0 + 0.044715 * x * x)).tanh()
}

//! The fused LayerNorm, GELU, causal softmax and cross-entropy (`scalinglab_model::fused`) against burn's composed
//! operations (outputs and gradients, on Flex with and without autodiff), against central
//! finite differences of the fused forward, and a whole GPT-2's loss and gradients with and
//! without fusion.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use scalinglab_model::fused::{
    self, causal_softmax, cross_entropy, gelu, layer_norm, without_fusion,
};
use scalinglab_model::{Arch, ModelConfig};

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn fused_ops_run_on_flex_only() {
    assert!(fused::available(&Device::flex()));
    assert!(fused::available(&Device::flex().autodiff()));
    assert!(!without_fusion(|| fused::available(&Device::flex())));
}

/// Inputs with a large common offset per row (the case where a one-pass variance loses
/// precision) and a non-contiguous view.
fn ln_inputs(device: &Device) -> (Tensor<3>, Tensor<1>, Tensor<1>) {
    device.seed(3);
    let x = Tensor::<3>::random([3, 5, 37], Distribution::Normal(0.0, 1.0), device)
        .add_scalar(20.0)
        .swap_dims(0, 1); // [5, 3, 37], not contiguous
    let gamma = Tensor::<1>::random([37], Distribution::Normal(1.0, 0.3), device);
    let beta = Tensor::<1>::random([37], Distribution::Normal(0.0, 0.3), device);
    (x, gamma, beta)
}

#[test]
fn layer_norm_matches_the_composed_ops_forward_and_backward() {
    for device in [Device::flex(), Device::flex().autodiff()] {
        let (x, g, b) = ln_inputs(&device);
        for beta in [Some(b.clone()), None] {
            let fused_y = vec(layer_norm(x.clone(), g.clone(), beta.clone(), 1e-5));
            let plain_y =
                vec(without_fusion(|| layer_norm(x.clone(), g.clone(), beta.clone(), 1e-5)));
            assert!(max_diff(&fused_y, &plain_y) < 2e-5, "{}", max_diff(&fused_y, &plain_y));
        }
    }
    // Gradients of a weighted sum, so that every output carries its own dy.
    let device = Device::flex().autodiff();
    let (x, g, b) = ln_inputs(&device);
    let w = Tensor::<3>::random([5, 3, 37], Distribution::Normal(0.0, 1.0), &device);
    let grads_of = |fuse: bool| {
        let (x, g, b) =
            (x.clone().require_grad(), g.clone().require_grad(), b.clone().require_grad());
        let run = || (layer_norm(x.clone(), g.clone(), Some(b.clone()), 1e-5) * w.clone()).sum();
        let loss = if fuse { run() } else { without_fusion(run) };
        let grads = loss.backward();
        [vec(x.grad(&grads).unwrap()), vec(g.grad(&grads).unwrap()), vec(b.grad(&grads).unwrap())]
    };
    let (f, p) = (grads_of(true), grads_of(false));
    for (name, (a, b)) in ["dx", "dgamma", "dbeta"].iter().zip(f.iter().zip(&p)) {
        let scale = b.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(
            max_diff(a, b) <= 1e-4 * scale.max(1.0),
            "{name}: {} (scale {scale})",
            max_diff(a, b)
        );
    }
}

/// Central differences of `f` (a scalar function of a flat f64 input computed in f32) at a few
/// coordinates, against `grad`.
fn check_fd(name: &str, x0: &[f32], grad: &[f32], f: impl Fn(&[f32]) -> f64) {
    let h = 1e-2f32;
    for i in [0, x0.len() / 3, x0.len() / 2, x0.len() - 1] {
        let (mut up, mut down) = (x0.to_vec(), x0.to_vec());
        up[i] += h;
        down[i] -= h;
        let fd = (f(&up) - f(&down)) / (2.0 * f64::from(h));
        let ad = f64::from(grad[i]);
        assert!(
            (fd - ad).abs() <= 2e-3 + 1e-2 * ad.abs(),
            "{name}[{i}]: fused {ad:.6} vs finite difference {fd:.6}"
        );
    }
}

#[test]
fn fused_gradients_match_finite_differences() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let shape = [6, 11];
    let x = Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let g = Tensor::<1>::random([11], Distribution::Normal(1.0, 0.3), &device);
    let w = Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let targets = Tensor::<1, Int>::from_ints([0, 3, 10, 7, 7, 1], &device);
    // LayerNorm: d/dx of Σ w · LN(x).
    let xr = x.clone().require_grad();
    let grads = (layer_norm(xr.clone(), g.clone(), None, 1e-5) * w.clone()).sum().backward();
    let dx = vec(xr.grad(&grads).unwrap());
    let plain = Device::flex();
    let at = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), shape), &plain);
    let (gp, wp) = (g.clone().inner(), w.clone().inner());
    let x0 = vec(x.clone());
    check_fd("layer_norm dx", &x0, &dx, |v| {
        f64::from(
            (layer_norm(at(v), gp.clone(), None, 1e-5) * wp.clone()).sum().into_scalar::<f32>(),
        )
    });
    // GELU: d/dx of Σ w · GELU(x), and its values against burn's (libm erf).
    let xr = x.clone().require_grad();
    let grads = (gelu(xr.clone()) * w.clone()).sum().backward();
    let dg = vec(xr.grad(&grads).unwrap());
    check_fd("gelu dx", &x0, &dg, |v| {
        f64::from((gelu(at(v)) * wp.clone()).sum().into_scalar::<f32>())
    });
    let wide = x.clone().mul_scalar(4.0);
    let (a, b) = (vec(gelu(wide.clone())), vec(without_fusion(|| gelu(wide.clone()))));
    assert!(max_diff(&a, &b) < 4e-6, "gelu: {}", max_diff(&a, &b));
    let xr = wide.clone().require_grad();
    let grads = (gelu(xr.clone()) * w.clone()).sum().backward();
    let fused_dx = vec(xr.grad(&grads).unwrap());
    let xr = wide.require_grad();
    let grads = without_fusion(|| (gelu(xr.clone()) * w.clone()).sum().backward());
    let plain_dx = vec(xr.grad(&grads).unwrap());
    assert!(max_diff(&fused_dx, &plain_dx) < 4e-6, "gelu dx: {}", max_diff(&fused_dx, &plain_dx));
    // Cross-entropy: d/dz of Σ w_row · ℓ_row.
    let wr = Tensor::<1>::from_floats([0.5, -1.0, 2.0, 1.0, 0.3, 1.5], &device);
    let zr = x.clone().require_grad();
    let grads = (cross_entropy(zr.clone(), targets.clone()) * wr.clone()).sum().backward();
    let dz = vec(zr.grad(&grads).unwrap());
    let (tp, wrp) = (targets.clone().inner(), wr.clone().inner());
    check_fd("cross_entropy dz", &x0, &dz, |v| {
        f64::from((cross_entropy(at(v), tp.clone()) * wrp.clone()).sum().into_scalar::<f32>())
    });
    // And the values against the composed ops (which include log-softmax's max shift).
    let big = x.clone().mul_scalar(30.0); // logits up to ~±90: exp would overflow unshifted
    let a = vec(cross_entropy(big.clone(), targets.clone()));
    let b = vec(without_fusion(|| cross_entropy(big.clone(), targets.clone())));
    assert!(a.iter().all(|v| v.is_finite()) && max_diff(&a, &b) < 1e-4, "{a:?} vs {b:?}");
}

#[test]
fn causal_softmax_matches_the_composed_ops_and_finite_differences() {
    let device = Device::flex().autodiff();
    device.seed(8);
    let scores = Tensor::<4>::random([2, 3, 7, 7], Distribution::Normal(0.0, 3.0), &device);
    let w = Tensor::<4>::random([2, 3, 7, 7], Distribution::Normal(0.0, 1.0), &device);
    let scale = 0.35;
    let a = vec(causal_softmax(scores.clone(), scale));
    let b = vec(without_fusion(|| causal_softmax(scores.clone(), scale)));
    assert!(max_diff(&a, &b) < 1e-6, "{}", max_diff(&a, &b));
    // Row i of each block: weights on keys 0..=i summing to 1, zeros after.
    for (r, row) in a.chunks(7).enumerate() {
        let i = r % 7;
        assert!((row[..=i].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row[i + 1..].iter().all(|&v| v == 0.0), "row {r}: {row:?}");
    }
    let grad = |fuse: bool| {
        let s = scores.clone().require_grad();
        let run = || (causal_softmax(s.clone(), scale) * w.clone()).sum().backward();
        let grads = if fuse { run() } else { without_fusion(run) };
        vec(s.grad(&grads).unwrap())
    };
    let (gf, gp) = (grad(true), grad(false));
    assert!(max_diff(&gf, &gp) < 1e-6, "{}", max_diff(&gf, &gp));
    let plain = Device::flex();
    let wp = w.clone().inner();
    let at = |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [2, 3, 7, 7]), &plain);
    check_fd("causal_softmax ds", &vec(scores.clone()), &gf, |v| {
        f64::from((causal_softmax(at(v), scale) * wp.clone()).sum().into_scalar::<f32>())
    });
}

/// Collects every parameter's gradient as a flat vector.
struct Grads<'a>(&'a GradientsParams, Vec<(ParamId, Vec<f32>)>);

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = self.0.get::<D>(param.id).expect("every parameter has a gradient");
        self.1.push((param.id, vec(g)));
    }
}

#[test]
fn a_gpt2_trains_the_same_with_and_without_fusion() {
    let device = Device::flex().autodiff();
    device.seed(21);
    let cfg = ModelConfig {
        vocab_size: 11,
        context: 9,
        d_model: 16,
        n_layers: 2,
        n_heads: 2,
        arch: Arch::Gpt2,
        init_std: 0.2,
        ..Default::default()
    };
    let model = cfg.init(&device);
    let x = Tensor::<2, Int>::random([3, 9], Distribution::Uniform(0.0, 11.0), &device);
    let y = Tensor::<2, Int>::random([3, 9], Distribution::Uniform(0.0, 11.0), &device);
    let run = || {
        let loss = model.loss(x.clone(), y.clone());
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let mut g = Grads(&grads, Vec::new());
        model.visit(&mut g);
        (value, g.1)
    };
    let (lf, gf) = run();
    let (lp, gp) = without_fusion(run);
    assert!((lf - lp).abs() < 1e-5, "loss {lf} vs {lp}");
    assert_eq!(gf.len(), gp.len());
    for ((id, a), (_, b)) in gf.iter().zip(&gp) {
        let scale = b.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(
            max_diff(a, b) <= 1e-4 * scale.max(1e-3),
            "{id:?}: {} (scale {scale})",
            max_diff(a, b)
        );
    }
    // Evaluation (no autodiff) agrees too.
    let valid = model.valid();
    let (xv, yv) = (x.inner(), y.inner());
    let a = valid.loss(xv.clone(), yv.clone()).into_scalar::<f32>();
    let b = without_fusion(|| valid.loss(xv, yv).into_scalar::<f32>());
    assert!((a - b).abs() < 1e-5 && (a - lf).abs() < 1e-5);
}

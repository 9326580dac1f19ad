//! `StackedGpt` against the models it stacks: each replica's per-token loss equals its own
//! model's, and one gradient step of the summed loss moves each replica's parameters exactly
//! as a step of its own model alone (so the gradients match, parameter by parameter). On flex
//! with the fused kernels and without them (the composed operations every other backend
//! runs); SP and muP, tied and untied. `crates/training/tests/stacked.rs` trains stacks on
//! flex and ndarray.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use scalinglab_model::fused::without_fusion;
use scalinglab_model::{Gpt, ModelConfig, Parameterization, StackedGpt};

fn config(tied: bool, mup: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: 23,
        context: 9,
        d_model: 16,
        n_layers: 2,
        n_heads: 2,
        tie_embeddings: tied,
        parameterization: if mup { Parameterization::Mup } else { Parameterization::Sp },
        ..Default::default()
    }
}

fn build(cfg: &ModelConfig, seed: u64, device: &Device) -> Gpt {
    device.seed(seed);
    let m = cfg.init(device);
    m.visit(&mut Values(Vec::new())); // draw the lazy parameters now, under this seed
    m
}

/// Every float parameter's values, in visit order.
struct Values(Vec<f32>);
impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        self.0.extend(p.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
    }
}

fn values<M: Module>(m: &M) -> Vec<f32> {
    let mut v = Values(Vec::new());
    m.visit(&mut v);
    v.0
}

/// Plain gradient descent, `w − 0.5 g`, on every parameter with a gradient.
struct Sgd(GradientsParams);
impl ModuleMapper for Sgd {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, t, mapper) = p.consume();
        let t = match self.0.remove::<D>(id) {
            Some(g) => {
                Tensor::from_inner(t.inner() - Tensor::from_inner(g).inner().mul_scalar(0.5))
                    .require_grad()
            }
            None => t,
        };
        Param::from_mapped_value(id, t, mapper)
    }
}

fn tokens(k: usize, b: usize, t: usize, v: usize, salt: u64, device: &Device) -> Tensor<3, Int> {
    let data: Vec<i64> = (0..k * b * t)
        .map(|i| ((i as u64 * 2_654_435_761 + salt * 97) % 1_000_003 % v as u64) as i64)
        .collect();
    Tensor::from_data(TensorData::new(data, [k, b, t]), device)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check(device: &Device, tied: bool, mup: bool) {
    let cfg = config(tied, mup);
    let (k, b, t) = (3, 4, 9);
    let models: Vec<Gpt> = (0..k).map(|i| build(&cfg, 100 + i as u64, device)).collect();
    let stack = StackedGpt::stack(&models).unwrap();
    assert_eq!(stack.replicas(), k);
    // Before training, each replica is its model, value for value.
    for (i, m) in models.iter().enumerate() {
        assert_eq!(values(&stack.replica(i, m)), values(m));
    }
    let x = tokens(k, b, t, cfg.vocab_size, 1, device);
    let y = tokens(k, b, t, cfg.vocab_size, 2, device);
    let stacked_loss = stack.loss_per_token(x.clone(), y.clone());
    let per: Vec<f32> = stacked_loss.clone().into_data().try_to_vec::<f32>().unwrap();
    let grads = GradientsParams::from_grads(stacked_loss.sum().backward(), &stack);
    let stack = stack.map(&mut Sgd(grads));
    for (i, m) in models.iter().enumerate() {
        let xi = x.clone().narrow(0, i, 1).reshape([b, t]);
        let yi = y.clone().narrow(0, i, 1).reshape([b, t]);
        let loss = m.loss_per_token(xi, yi);
        let alone: Vec<f32> = loss.clone().into_data().try_to_vec::<f32>().unwrap();
        let d = max_diff(&per[i * b * t..(i + 1) * b * t], &alone);
        assert!(d < 2e-5, "replica {i}: loss differs by {d} (tied {tied}, muP {mup})");
        let grads = GradientsParams::from_grads(loss.sum().backward(), m);
        let stepped = m.clone().map(&mut Sgd(grads));
        let d = max_diff(&values(&stack.replica(i, &stepped)), &values(&stepped));
        assert!(
            d < 2e-5,
            "replica {i}: parameters after a step differ by {d} (tied {tied}, muP {mup})"
        );
        // The step moved them (a check that the comparison can fail).
        assert!(max_diff(&values(&stepped), &values(m)) > 1e-3);
    }
}

#[test]
fn each_replica_computes_its_own_model_fused_and_composed() {
    let device = Device::flex().autodiff();
    for (tied, mup) in [(false, false), (true, false), (false, true)] {
        check(&device, tied, mup);
        without_fusion(|| check(&device, tied, mup));
    }
}

#[test]
fn what_cannot_be_stacked_is_refused_by_name() {
    let device = Device::flex();
    assert!(StackedGpt::stack(&[]).unwrap_err().contains("no models"));
    let llama = ModelConfig { arch: scalinglab_model::Arch::Llama, ..config(false, false) };
    let err = StackedGpt::stack(&[llama.init(&device)]).unwrap_err();
    assert!(err.contains("GPT-2"), "{err}");
    let a = config(false, false).init(&device);
    let wide = ModelConfig { d_model: 32, ..config(false, false) }.init(&device);
    assert!(StackedGpt::stack(&[a, wide]).unwrap_err().contains("differ"));
    let dropout = ModelConfig { dropout: 0.1, ..config(false, false) }.init(&device);
    assert!(StackedGpt::stack(&[dropout]).unwrap_err().contains("dropout"));
}

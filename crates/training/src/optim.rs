//! AdamW as nanoGPT and the scaling-law papers run it, with muP's per-layer learning rates.
//!
//! burn's `AdamW` clips each tensor's gradient on its own, decays every parameter and takes one
//! learning rate for the whole module. A scaling study needs PyTorch's semantics instead:
//!
//! - gradient clipping by the **global** norm over all parameters (`clip_grad_norm_`);
//! - decoupled weight decay on matrices only (embeddings, hidden and output matrices), not on
//!   biases and norm gains (nanoGPT's `configure_optimizers`);
//! - a learning-rate multiplier per parameter role ([`ModelConfig::lr_multiplier`]: `1/m` for
//!   hidden matrices under muP);
//! - state that can be saved and restored exactly, so a resumed run continues bit for bit.
//!
//! The update of parameter `w` with gradient `g` (after clipping), step `t ≥ 1`, learning rate
//! `η` times the role's multiplier `μ`:
//!
//! ```text
//! m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
//! w ← w − η μ λ w [matrices only] − η μ (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use scalinglab_model::NamedTensor;

use crate::run::LanguageModel;

use crate::{TrainConfig, TrainingError};

/// Per-parameter Adam moments, flattened.
#[derive(Clone, Debug)]
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
}

/// AdamW with global-norm clipping, matrix-only weight decay and per-role learning rates.
#[derive(Clone, Debug)]
pub struct AdamW {
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    grad_clip: f64,
    /// Steps taken.
    step: u64,
    /// Learning-rate multiplier and whether weight decay applies, per parameter.
    rules: HashMap<ParamId, (f64, bool)>,
    state: HashMap<ParamId, Moments>,
}

impl AdamW {
    /// An optimiser for `model` with the hyper-parameters of `train`; each parameter's
    /// learning-rate multiplier and weight decay come from [`LanguageModel::optimizer_rules`].
    pub fn new<M: LanguageModel>(train: &TrainConfig, model: &M) -> Self {
        Self::with_rules(train, model.optimizer_rules())
    }

    /// An optimiser for any module: every parameter at the base learning rate, weight decay
    /// on matrices only (the default of [`LanguageModel::optimizer_rules`]).
    pub fn for_module<M: Module>(train: &TrainConfig, model: &M) -> Self {
        Self::with_rules(train, crate::run::default_rules(model))
    }

    pub(crate) fn with_rules(train: &TrainConfig, rules: HashMap<ParamId, (f64, bool)>) -> Self {
        Self {
            beta1: train.beta1,
            beta2: train.beta2,
            eps: train.eps,
            weight_decay: train.weight_decay,
            grad_clip: train.grad_clip,
            step: 0,
            rules,
            state: HashMap::new(),
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One update of every parameter that has a gradient, at learning rate `lr`. Returns the
    /// updated model and the gradient's global norm before clipping.
    pub fn step<M: Module>(&mut self, lr: f64, model: M, grads: GradientsParams) -> (M, f64) {
        let (model, norms) = self.step_replicas(&[lr], model, grads);
        (model, norms[0])
    }

    /// One update of a stack of K replicas ([`scalinglab_model::StackedGpt`]: every parameter
    /// has a leading axis of K), replica `k` at learning rate `lrs[k]`, each clipped by its
    /// own global gradient norm: replica `k` moves exactly as its model would under
    /// [`step`](Self::step) alone. A replica at rate 0 with a zero gradient scale stays where
    /// it is; a frozen (diverged) replica is given both. Returns the updated model and each
    /// replica's gradient norm before clipping. With one replica this is [`step`](Self::step).
    pub fn step_replicas<M: Module>(
        &mut self,
        lrs: &[f64],
        model: M,
        mut grads: GradientsParams,
    ) -> (M, Vec<f64>) {
        let k = lrs.len().max(1);
        let mut norm = SquaredNorm { grads: &grads, replicas: k, total: None };
        model.visit(&mut norm);
        let norms: Vec<f64> = match norm.total {
            Some(t) => t
                .into_data()
                .convert::<f64>()
                .try_to_vec::<f64>()
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.max(0.0).sqrt())
                .collect(),
            None => vec![0.0; k],
        };
        let scales: Vec<f64> = norms
            .iter()
            .zip(lrs)
            .map(|(&n, &lr)| {
                if lr == 0.0 && k > 1 {
                    0.0
                } else if self.grad_clip > 0.0 && n > self.grad_clip {
                    self.grad_clip / (n + 1e-6)
                } else {
                    1.0
                }
            })
            .collect();
        self.step += 1;
        let t = self.step as i32;
        let (bias1, bias2) = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        let mut update =
            Update { opt: self, grads: &mut grads, lrs, scales: &scales, bias1, bias2 };
        let model = model.map(&mut update);
        (model, norms)
    }

    /// The optimiser state as named tensors (`<param id>.m`, `<param id>.v`) and the step count
    /// as metadata: what a checkpoint stores.
    pub fn to_tensors(&self) -> (Vec<NamedTensor>, BTreeMap<String, String>) {
        let mut ids: Vec<&ParamId> = self.state.keys().collect();
        ids.sort_by_key(|id| id.val());
        let mut tensors = Vec::with_capacity(2 * ids.len());
        for id in ids {
            let s = &self.state[id];
            for (field, t) in [("m", &s.m), ("v", &s.v)] {
                let values =
                    t.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
                tensors.push(NamedTensor {
                    name: format!("{}.{field}", id.val()),
                    shape: vec![values.len()],
                    values,
                });
            }
        }
        let meta = [("step".to_string(), self.step.to_string())].into_iter().collect();
        (tensors, meta)
    }

    /// Restores the state written by [`to_tensors`](Self::to_tensors) (parameter ids are those
    /// of the model the checkpoint saved, which loading its record restores).
    ///
    /// # Errors
    /// If a name or the step count cannot be parsed, or an entry belongs to no parameter.
    pub fn load_tensors(
        &mut self,
        tensors: Vec<NamedTensor>,
        meta: &BTreeMap<String, String>,
        device: &Device,
        source: &Path,
    ) -> Result<(), TrainingError> {
        let bad =
            |what: String| TrainingError::Checkpoint { path: source.to_path_buf(), reason: what };
        self.step = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no step count in the optimiser state".into()))?;
        let mut partial: HashMap<u64, (Option<Tensor<1>>, Option<Tensor<1>>)> = HashMap::new();
        for t in tensors {
            let (id, field) = t
                .name
                .split_once('.')
                .and_then(|(id, f)| Some((id.parse::<u64>().ok()?, f.to_string())))
                .ok_or_else(|| bad(format!("unexpected optimiser entry {}", t.name)))?;
            if !self.rules.contains_key(&ParamId::from(id)) {
                return Err(bad(format!(
                    "optimiser entry {} matches no parameter of the model",
                    t.name
                )));
            }
            let n = t.values.len();
            let tensor = Tensor::<1>::from_data(TensorData::new(t.values, [n]), device);
            let e = partial.entry(id).or_default();
            match field.as_str() {
                "m" => e.0 = Some(tensor),
                "v" => e.1 = Some(tensor),
                _ => return Err(bad(format!("unexpected optimiser entry {}", t.name))),
            }
        }
        self.state.clear();
        for (id, (m, v)) in partial {
            match (m, v) {
                (Some(m), Some(v)) => {
                    self.state.insert(ParamId::from(id), Moments { m, v });
                }
                _ => return Err(bad(format!("parameter {id} lacks one of its moments"))),
            }
        }
        Ok(())
    }
}

/// Sum of squared gradient entries over every parameter (one scalar tensor, read once).
/// (Per replica, `[K]`, when the parameters are stacked.)
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    replicas: usize,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let sq = if self.replicas == 1 {
                g.square().sum()
            } else {
                let n = g.shape().num_elements();
                g.reshape([self.replicas, n / self.replicas])
                    .square()
                    .sum_dim(1)
                    .reshape([self.replicas])
            };
            self.total = Some(match self.total.take() {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
}

struct Update<'a> {
    opt: &'a mut AdamW,
    grads: &'a mut GradientsParams,
    /// Per replica (one entry for a plain model).
    lrs: &'a [f64],
    scales: &'a [f64],
    bias1: f64,
    bias2: f64,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let o = &mut *self.opt;
        let (mult, decay) = o.rules.get(&id).copied().unwrap_or((1.0, true));
        if self.lrs.len() > 1 {
            let (lrs, scales) = (self.lrs, self.scales);
            let (b1, b2) = (self.bias1, self.bias2);
            let w = update_replicas(o, id, tensor, grad, (lrs, scales, b1, b2), mult, decay);
            return Param::from_mapped_value(id, w, mapper);
        }
        let (lr, scale) = (self.lrs[0] * mult, self.scales[0]);
        let require_grad = tensor.is_require_grad();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let w = tensor.inner().reshape([n]);
        let mut g = grad.reshape([n]);
        if scale != 1.0 {
            g = g.mul_scalar(scale);
        }
        let (m, v) = match o.state.remove(&id) {
            Some(s) => (
                s.m.mul_scalar(o.beta1) + g.clone().mul_scalar(1.0 - o.beta1),
                s.v.mul_scalar(o.beta2) + g.square().mul_scalar(1.0 - o.beta2),
            ),
            None => (g.clone().mul_scalar(1.0 - o.beta1), g.square().mul_scalar(1.0 - o.beta2)),
        };
        let denom = v.clone().div_scalar(self.bias2).sqrt().add_scalar(o.eps);
        let step = m.clone().div_scalar(self.bias1).div(denom).mul_scalar(lr);
        let w = if decay && o.weight_decay > 0.0 {
            w.mul_scalar(1.0 - lr * o.weight_decay) - step
        } else {
            w - step
        };
        o.state.insert(id, Moments { m, v });
        let mut w = Tensor::from_inner(w.reshape(shape));
        if require_grad {
            w = w.require_grad();
        }
        Param::from_mapped_value(id, w, mapper)
    }
}

/// [`Update`] of one stacked parameter `[K, ..]`: the same arithmetic as the single-model
/// path, with the learning rate, decay factor and clipping scale as `[K, 1]` columns.
fn update_replicas<const D: usize>(
    o: &mut AdamW,
    id: ParamId,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    (lrs, scales, bias1, bias2): (&[f64], &[f64], f64, f64),
    mult: f64,
    decay: bool,
) -> Tensor<D> {
    let k = lrs.len();
    let require_grad = tensor.is_require_grad();
    let shape = tensor.shape();
    let n = shape.num_elements() / k;
    let w = tensor.inner().reshape([k, n]);
    let device = w.device();
    let column = |v: Vec<f64>| {
        let v: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
        Tensor::<1>::from_data(TensorData::new(v, [k]), &device).reshape([k, 1])
    };
    let mut g = grad.reshape([k, n]);
    if scales.iter().any(|&s| s != 1.0) {
        g = g * column(scales.to_vec());
    }
    let (m, v) = match o.state.remove(&id) {
        Some(s) => (
            s.m.reshape([k, n]).mul_scalar(o.beta1) + g.clone().mul_scalar(1.0 - o.beta1),
            s.v.reshape([k, n]).mul_scalar(o.beta2) + g.square().mul_scalar(1.0 - o.beta2),
        ),
        None => (g.clone().mul_scalar(1.0 - o.beta1), g.square().mul_scalar(1.0 - o.beta2)),
    };
    let lr: Vec<f64> = lrs.iter().map(|l| l * mult).collect();
    let denom = v.clone().div_scalar(bias2).sqrt().add_scalar(o.eps);
    let step = m.clone().div_scalar(bias1).div(denom) * column(lr.clone());
    let w = if decay && o.weight_decay > 0.0 {
        w * column(lr.iter().map(|l| 1.0 - l * o.weight_decay).collect()) - step
    } else {
        w - step
    };
    o.state.insert(id, Moments { m: m.reshape([k * n]), v: v.reshape([k * n]) });
    let w = Tensor::from_inner(w.reshape(shape));
    if require_grad { w.require_grad() } else { w }
}

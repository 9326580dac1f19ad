//! Decoder-only transformers for scaling-law studies, on burn 0.22.
//!
//! The crate has one job: given a [`ModelConfig`], build a decoder that runs on any burn
//! [`Device`](burn::prelude::Device) (flex, ndarray, wgpu, cuda; with or without autodiff) and
//! say exactly how large it is and how much it costs to train:
//!
//! - [`ModelConfig`]: the serde config (width, depth, heads, context, vocabulary), validated.
//! - [`Gpt`]: a GPT-2 style decoder (pre-LayerNorm blocks, learned absolute positions,
//!   GELU MLP, optional weight tying and biases), initialised as GPT-2 is.
//! - [`StackedGpt`]: K GPT-2 models of one shape as one module, every parameter with a leading
//!   replica axis, so that the cells of a learning-rate or seed grid share each training step
//!   (see [`stacked`]).
//! - [`ParamCounts`] and [`ModelConfig::flops_per_token`]: exact parameter counts
//!   (total, embedding, non-embedding) and training FLOPs per token, with and without the
//!   unembedding, in closed form and checked against burn's own count of the built module.
//! - [`read_safetensors`] / [`write_safetensors`]: safetensors files through the `safetensors`
//!   crate (memory-mapped and validated; F32, BF16 and F16), and [`export_hf_gpt2`]: a GPT-2
//!   written under Hugging Face's `GPT2LMHeadModel` names and layout with its `config.json`
//!   (see [`hf_export`]).
//!
//! ```no_run
//! use burn::prelude::*;
//! use scalinglab_model::ModelConfig;
//!
//! let cfg = ModelConfig { vocab_size: 128, context: 50, d_model: 64, n_layers: 2, n_heads: 4, ..Default::default() };
//! cfg.validate().unwrap();
//! let device = Device::flex().autodiff();
//! let model = cfg.init(&device);
//! let tokens = Tensor::<2, Int>::zeros([8, 50], &device);
//! let logits = model.forward(tokens); // [8, 50, 128]
//! println!("{} parameters, {} without embeddings", cfg.param_counts().total, cfg.param_counts().non_embedding);
//! ```

mod config;
mod counts;
pub mod fused;
pub mod gpt;
pub mod hf_export;
mod regressor;
mod safetensors;
mod sample;
pub mod stacked;

pub use config::{Arch, ModelConfig, ModelError, ParamRole, Parameterization};
pub use counts::{FlopCounting, ParamCounts};
pub use gpt::{Block, CausalSelfAttention, Gpt, KvCache, Mlp, Norm, Rope};
pub use hf_export::{
    HfExportError, check_hf_gpt2, export_hf_gpt2, hf_gpt2_config, hf_gpt2_tensors,
};
pub use regressor::Regressor;
pub use safetensors::{
    FloatDtype, NamedTensor, SafetensorsError, read_safetensors, write_safetensors,
    write_safetensors_as,
};
pub use sample::SampleConfig;
pub use stacked::StackedGpt;

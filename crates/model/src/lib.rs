//! Decoder-only transformers for scaling-law studies, on burn 0.22.
//!
//! The crate has one job: given a [`ModelConfig`], build a decoder that runs on any burn
//! [`Device`](burn::prelude::Device) (flex, ndarray, wgpu, cuda; with or without autodiff) and
//! say exactly how large it is and how much it costs to train:
//!
//! - [`ModelConfig`]: the serde config (width, depth, heads, context, vocabulary), validated.
//! - [`Gpt`]: a GPT-2 style decoder (pre-LayerNorm blocks, learned absolute positions,
//!   GELU MLP, optional weight tying and biases), initialised as GPT-2 is.
//! - [`ParamCounts`] and [`ModelConfig::flops_per_token`]: exact parameter counts
//!   (total, embedding, non-embedding) and training FLOPs per token, with and without the
//!   unembedding, in closed form and checked against burn's own count of the built module.
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
mod regressor;
mod safetensors;
mod sample;

pub use config::{Arch, ModelConfig, ModelError, ParamRole, Parameterization};
pub use counts::{FlopCounting, ParamCounts};
pub use gpt::{Block, CausalSelfAttention, Gpt, KvCache, Mlp, Norm, Rope};
pub use regressor::Regressor;
pub use safetensors::{NamedTensor, SafetensorsError, read_safetensors, write_safetensors};
pub use sample::SampleConfig;

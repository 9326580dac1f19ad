//! Sweep and fit a model that is not ours: a user's own burn module, trained by scalinglab's
//! training loop and fitted by its analysis, without the CLI.
//!
//! The model here is a "bigram MLP": each token's embedding goes through a two-layer MLP of
//! width `k` to next-token logits (no attention, no positions). It implements
//! [`LanguageModel`], which is all the training loop needs; `sweep_models` trains it over a
//! grid of widths and data sizes (resumable, checkpointed) and writes the fits and report. The data are random walks on an
//! Erdős–Rényi graph, so the best possible loss (the walk's entropy rate) is known exactly.
//!
//! Run it with `cargo run --example custom_model` (about a minute on 2 cores).

use burn::module::Initializer;
use burn::nn::{Embedding, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, log_softmax};
use scalinglab_data::{TokenCorpus, WalkConfig};
use scalinglab_training::{LanguageModel, ModelSweep, TrainConfig, sweep_models};

/// The user's model: embedding → Linear(d, k) → GELU → Linear(k, V).
#[derive(Module, Debug)]
struct BigramMlp {
    embed: Embedding,
    hidden: Linear,
    out: Linear,
}

impl BigramMlp {
    fn new(vocab: usize, d: usize, k: usize, device: &Device) -> Self {
        let normal = |std: f64, shape: [usize; 2]| {
            Initializer::Normal { mean: 0.0, std }.init(shape, device)
        };
        BigramMlp {
            embed: Embedding { weight: normal(0.02, [vocab, d]) },
            hidden: Linear {
                weight: normal(1.0 / (d as f64).sqrt(), [d, k]),
                bias: Some(Initializer::Zeros.init([k], device)),
            },
            out: Linear { weight: normal(0.02, [k, vocab]), bias: None },
        }
    }

    /// Parameters that scale with the width `k` (the "N" of this family).
    fn scaling_params(vocab: usize, d: usize, k: usize) -> u64 {
        (d * k + k + k * vocab) as u64
    }
}

impl LanguageModel for BigramMlp {
    fn loss_per_token(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<2> {
        let h = gelu(self.hidden.forward(self.embed.forward(inputs)));
        let logp = log_softmax(self.out.forward(h), 2);
        logp.gather(2, targets.unsqueeze_dim::<3>(2)).squeeze_dim::<2>(2).neg()
    }
}

fn main() -> anyhow::Result<()> {
    let device = Device::flex();
    let chain = WalkConfig::default().build()?; // Erdős–Rényi, 128 nodes
    let vocab = chain.num_states();
    let context = 16;
    let pool = TokenCorpus::from_walks(&chain, context, 4096, 1);
    let eval = TokenCorpus::from_walks(&chain, context, 256, 2);
    let d = 32;
    let sweep = ModelSweep {
        out_dir: "runs/custom_model".into(),
        name: "bigram-mlp".into(),
        sizes: vec![4, 8, 16, 32, 64],
        tokens: vec![16_384, 32_768, 65_536],
        train: TrainConfig { lr: 1e-2, batch_size: 16, ..TrainConfig::default() },
        vocab_size: vocab,
        reference_loss: Some(chain.entropy_rate()),
        bootstrap: 200,
    };
    // Run it again and the finished runs are skipped; a killed run resumes from its checkpoint.
    let fits = sweep_models(
        &sweep,
        |k, dev| BigramMlp::new(vocab, d, k, dev),
        |k| BigramMlp::scaling_params(vocab, d, k),
        &pool,
        &eval,
        &device,
    )?;
    println!("exact entropy rate {:.4} nats/token", chain.entropy_rate());
    print!("{}", scalinglab_analysis::summary_text(&fits));
    println!("report: {}/report.md", sweep.out_dir.display());
    Ok(())
}

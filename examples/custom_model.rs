//! Sweep and fit a model that is not ours: a user's own burn module, trained by scalinglab's
//! training loop and fitted by its analysis, without the CLI.
//!
//! The model here is a "bigram MLP": each token's embedding goes through a two-layer MLP of
//! width `k` to next-token logits (no attention, no positions). It implements
//! [`LanguageModel`], which is all the training loop needs. The data are random walks on an
//! Erdős–Rényi graph, so the best possible loss (the walk's entropy rate) is known exactly.
//!
//! Run it with `cargo run --example custom_model` (about a minute on 2 cores).

use std::collections::HashSet;

use burn::module::Initializer;
use burn::nn::{Embedding, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, log_softmax};
use scalinglab_analysis::{AnalysisOptions, RunRecord, RunStatus, fit_sweep};
use scalinglab_data::{TokenCorpus, WalkConfig};
use scalinglab_training::{Checkpointing, LanguageModel, TrainConfig, train_model};

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
    let widths = [4, 8, 16, 32, 64];
    let budgets = [16_384u64, 65_536];
    let mut records = Vec::new();
    for &k in &widths {
        for &tokens in &budgets {
            let train = pool.take((tokens / context as u64) as usize);
            let cfg = TrainConfig { lr: 1e-2, batch_size: 16, ..TrainConfig::default() };
            device.seed(0);
            let fresh = BigramMlp::new(vocab, d, k, &device.clone().autodiff());
            let (_, out) = train_model(
                fresh,
                &format!("bigram-mlp d={d} k={k}"),
                vocab,
                &cfg,
                &train,
                &eval,
                &device,
                &Checkpointing::default(),
                |_, _| {},
            )?;
            let n = BigramMlp::scaling_params(vocab, d, k);
            println!("k = {k:>3}  N = {n:>6}  D = {tokens:>6}  eval loss {:.4}", out.eval_loss);
            records.push(RunRecord {
                run_id: format!("k{k}_D{tokens}"),
                arch: "bigram-mlp".into(),
                d_model: k,
                n_layers: 1,
                n_heads: 0,
                context,
                vocab_size: vocab,
                params: n + (vocab * d) as u64,
                params_non_embedding: n,
                tokens,
                steps: out.steps,
                batch_size: cfg.batch_size,
                lr: cfg.lr,
                flops_per_token: 6.0 * n as f64,
                flops: 6.0 * n as f64 * tokens as f64,
                train_loss: out.train_loss,
                eval_loss: out.eval_loss,
                wall_seconds: out.wall_seconds,
                device: "flex".into(),
                seed: 0,
                status: if out.diverged { RunStatus::Diverged } else { RunStatus::Ok },
            });
        }
    }
    let ids: HashSet<&str> = records.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids.len(), records.len());
    let opts = AnalysisOptions {
        reference_loss: Some(("entropy rate".into(), chain.entropy_rate())),
        bootstrap: 200,
        ..AnalysisOptions::default()
    };
    let fits = fit_sweep(&records, &opts)?;
    println!("\nexact entropy rate {:.4} nats/token", chain.entropy_rate());
    print!("{}", scalinglab_analysis::summary_text(&fits));
    Ok(())
}

//! The ladder of languages (Barkeshli et al.): the same data-size and model-size sweep on a
//! bigram model of a base corpus, on text sampled from 1-, 2- and 4-layer transformers trained
//! on it, and on the base corpus itself, to see how the exponents move as the data gain
//! structure.
//!
//! The base is the power-law copy stream (`configs/data/copy.toml`) unless a corpus is given:
//! it has long-range structure that a bigram model lacks and that deeper teachers capture
//! progressively.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use scalinglab_analysis::RunStatus;
use scalinglab_data::{
    CopyBuild, CopyConfig, DataBuildConfig, NgramBuild, ShardInfo, ShardWriter, Smoothing,
    WindowFloor, build_data,
};
use scalinglab_model::SampleConfig;

use crate::{ReproduceOptions, fmt_fit};
use scalinglab_training::{
    ExperimentConfig, ExperimentOutcome, RunOptions, ShardData, TeacherEntropy, TrainingError,
    load_saved_model, run_experiment, sample_corpus, select_device, teacher_entropy,
};

const CONTEXT: usize = 128;
const BASE_TOKENS: u64 = 1 << 21;
const RUNG_TOKENS: u64 = 1 << 20;
const VALIDATION_TOKENS: u64 = 1 << 16;

fn shards(dir: &Path) -> ShardData {
    ShardData { train: dir.join("train.bin"), validation: dir.join("validation.bin") }
}

fn built(dir: &Path) -> bool {
    dir.join("train.json").exists() && dir.join("validation.json").exists()
}

/// A sweep on one rung's shards.
fn sweep(
    name: &str,
    data: ShardData,
    widths: Vec<usize>,
    tokens: Vec<u64>,
    layers: usize,
    save_models: bool,
) -> ExperimentConfig {
    let mut c = crate::walk_base();
    c.name = format!("ladder_{name}");
    c.description = format!("The ladder of languages: {name}.");
    c.data.shards = Some(data);
    c.data.eval_sequences = 256;
    c.model.context = CONTEXT;
    c.model.n_layers = layers;
    c.sweep.widths = widths;
    c.sweep.tokens = tokens;
    c.train.save_models = save_models;
    c.analysis.bootstrap = 200;
    c
}

/// Writes `tokens` as a one-document shard whose header carries the teacher's entropy rate.
fn write_shard(
    path: &Path,
    vocab: usize,
    tokens: &[u32],
    source: &str,
    entropy: &TeacherEntropy,
    window: usize,
) -> Result<(), TrainingError> {
    // The teacher's samples are the learner's windows, so its mean conditional entropy over
    // them is the learner's floor.
    let info = ShardInfo {
        tokenizer: "teacher samples".into(),
        source: source.into(),
        end_of_text: None,
        entropy_rate: Some(entropy.mean),
        entropy_rate_se: None,
        window_floor: Some(WindowFloor {
            window: window as u64,
            loss: entropy.mean,
            se: entropy.std_error,
        }),
    };
    let mut w = ShardWriter::create(path, vocab, info)?;
    w.write_tokens(tokens)?;
    w.end_document();
    w.finish()?;
    Ok(())
}

/// Builds (or reuses) every rung and sweeps it; returns the report section.
pub(super) fn ladder_section(opts: &ReproduceOptions, out: &Path) -> Result<String, TrainingError> {
    let dir = out.join("ladder");
    let mut sizes: Vec<u64> = vec![1 << 16, 1 << 17, 1 << 18, 1 << 19];
    crate::graphs::grow(&mut sizes, opts.scale);
    let largest = *sizes.last().expect("sizes");
    // Each rung holds twice the largest budget; the base twice that, for the teachers.
    let rung_tokens = (2 * largest).max(RUNG_TOKENS);
    let base_tokens = (2 * rung_tokens).max(BASE_TOKENS);
    let run = |cfg: &ExperimentConfig, sub: &str| -> Result<ExperimentOutcome, TrainingError> {
        run_experiment(
            cfg,
            &RunOptions { progress: opts.progress, ..RunOptions::new(dir.join(sub), opts.device) },
        )
    };
    // The base corpus and its bigram model.
    let base = dir.join("data_base");
    if !built(&base) {
        let recipe = DataBuildConfig::Copy(CopyBuild {
            copy: CopyConfig { vocab: 8, copy_prob: 0.9, exponent: 0.5, max_lag: 1024 },
            tokens: base_tokens,
            validation_tokens: VALIDATION_TOKENS,
            seed: 0,
        });
        build_data(&recipe, &base, |_| {})?;
    }
    let bigram = dir.join("data_bigram");
    if !built(&bigram) {
        let recipe = DataBuildConfig::Ngram(NgramBuild {
            shard: base.join("train.bin"),
            order: 2,
            smoothing: Smoothing::default(),
            tokens: rung_tokens,
            validation_tokens: VALIDATION_TOKENS,
            // Documents are the learner's windows, so the bigram's rate is its floor.
            document_length: CONTEXT + 1,
            seed: 0,
        });
        build_data(&recipe, &bigram, |_| {})?;
    }
    // Teachers of 1, 2 and 4 layers trained on the base, and text sampled from each.
    let selected = select_device(opts.device)?;
    let mut rungs: Vec<(String, PathBuf)> = vec![("bigram of the base".into(), bigram)];
    for layers in [1usize, 2, 4] {
        let data = dir.join(format!("data_teacher_{layers}"));
        if !built(&data) {
            let cfg = sweep(
                &format!("teacher_{layers}_layers"),
                shards(&base),
                vec![64],
                vec![base_tokens / 2],
                layers,
                true,
            );
            let o = run(&cfg, &format!("teacher_{layers}"))?;
            let rec = o
                .records
                .iter()
                .find(|r| r.status == RunStatus::Ok)
                .ok_or_else(|| TrainingError::invalid("ladder teacher", layers, "diverged"))?;
            let path = dir.join(format!("teacher_{layers}")).join("runs").join(&rec.run_id);
            let (mcfg, model) =
                load_saved_model(&path.join("model.safetensors"), &selected.device)?;
            // Sequences of context + 1 tokens (a uniform first token, then the teacher's
            // draws, each conditioned on the whole sequence so far) are exactly the learner's
            // windows, so the teacher's mean conditional entropy is the learner's best loss.
            let length = CONTEXT + 1;
            let sample = |n: u64, seed: u64| -> Result<Vec<u32>, TrainingError> {
                let cfg = SampleConfig { seed, ..SampleConfig::default() };
                let seqs = (n as usize).div_ceil(length);
                Ok(sample_corpus(
                    &model,
                    mcfg.vocab_size,
                    seqs,
                    length,
                    64,
                    &cfg,
                    &selected.device,
                )?
                .tokens)
            };
            let train = sample(rung_tokens, 1)?;
            let h = teacher_entropy(&model, mcfg.vocab_size, &train, length, 64, &selected.device)?;
            std::fs::create_dir_all(&data)
                .map_err(|source| TrainingError::Write { path: data.clone(), source })?;
            let source = format!(
                "text sampled (temperature 1) from the {layers}-layer teacher {}, in sequences \
                 of {length} tokens; entropy rate {:.4} ± {:.4} nats/token, the teacher's mean \
                 conditional entropy over the {} training sequences",
                path.display(),
                h.mean,
                h.std_error,
                h.sequences
            );
            let vocab = mcfg.vocab_size;
            write_shard(&data.join("train.bin"), vocab, &train, &source, &h, length)?;
            let valid = sample(VALIDATION_TOKENS, 2)?;
            write_shard(&data.join("validation.bin"), vocab, &valid, &source, &h, length)?;
        }
        rungs.push((format!("text of a {layers}-layer teacher"), data));
    }
    rungs.push(("the base (copy stream)".into(), base));

    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n## The ladder of languages\n\n\
         The same sweep (2-layer GPT-2, context {CONTEXT}, widths 16, 32 and 64, D = {} … {} \
         tokens) on a bigram model of a base corpus, on text sampled (temperature 1) from 1-, \
         2- and 4-layer decoders (width 64) trained on it, and on the base itself: the \
         power-law copy stream of `configs/data/copy.toml`. The paper's claim: as the rungs \
         gain structure, the exponents move from the walk-like values of the bigram towards \
         those of the base.\n\n\
         **H is the learner's floor on its windows**, the reference the fits pin E to. The \
         bigram's text is written in documents of {CONTEXT} + 1 tokens, exactly the learner's \
         windows, each starting from the bigram's stationary distribution, so its floor is \
         the bigram's entropy rate exactly. A teacher's text is sampled the same way, so its \
         floor is the teacher's mean conditional entropy over its own samples (a Monte Carlo \
         mean over {} sequences; its standard error, in each shard's header, is below 0.001 \
         at the default size). The base's floor is not known: its process's entropy rate \
         counts copies from up to 1,024 tokens back, which a context of {CONTEXT} cannot see, \
         so a learner's floor lies above it by an unknown amount; its E is only fitted \
         (\"–\" below).\n\n\
         | rung | H | best loss | best − H | α_D (E free) | α_D (E = H) | α_N (E = H) |\n\
         |---|---|---|---|---|---|---|",
        sizes[0],
        largest,
        rung_tokens.div_ceil(CONTEXT as u64 + 1),
    );
    for (i, (name, data)) in rungs.iter().enumerate() {
        let cfg =
            sweep(&format!("rung_{i}"), shards(data), vec![16, 32, 64], sizes.clone(), 2, false);
        let o = run(&cfg, &format!("rung_{i}"))?;
        let best = crate::best_loss(&o);
        let h = o.entropy_rate;
        let _ = writeln!(
            md,
            "| {name} ([report](ladder/rung_{i}/report.md)) | {} | {best:.4} | {} | {} | {} | {} |",
            if h.is_finite() { format!("{h:.4}") } else { "–".into() },
            if h.is_finite() { format!("{:+.4}", best - h) } else { "–".into() },
            fmt_fit(o.fits.loss_vs_d.as_ref(), false),
            fmt_fit(o.fits.loss_vs_d_fixed_e.as_ref(), false),
            fmt_fit(o.fits.loss_vs_n_fixed_e.as_ref(), false),
        );
    }
    Ok(md)
}

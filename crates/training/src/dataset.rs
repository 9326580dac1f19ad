//! The data a sweep trains and evaluates on: random walks drawn from `data.walk` (the exact
//! entropy rate known), or token shards built by `scalinglab data` (a tokenised corpus, n-gram
//! or hierarchical-grammar text, walks), named in `[data.shards]`.
//!
//! Either way the training sets are nested: each data budget D takes the first D tokens of one
//! pool, cut into non-overlapping sequences of `context + 1` tokens.

use scalinglab_data::{MarkovChain, TokenCorpus, TokenShard};

use crate::floor::{LearnerFloor, aligned_walk_floor, shard_floor};
use crate::{ExperimentConfig, TrainingError};

/// A sweep's prepared data.
pub(crate) struct SweepData {
    /// The training pool: the first `max_sequences` sequences.
    pub train_pool: TokenCorpus,
    /// The held-out sequences.
    pub eval: TokenCorpus,
    /// The learner's floor in nats/token (the irreducible loss on these windows; see
    /// [`crate::floor`]), NaN when unknown.
    pub entropy_rate: f64,
    /// The floor, its uncertainty, the process's own rate and how the floor was obtained.
    pub floor: LearnerFloor,
    /// Entropy of the unigram distribution, NaN when unknown.
    pub unigram_entropy: f64,
    /// The true process's loss on exactly the held-out tokens (walks only), NaN otherwise.
    pub eval_oracle_loss: f64,
    /// One line for the console, e.g. `1024 nodes, entropy rate 2.3550 nats`.
    pub summary: String,
    /// The report's paragraph on the data.
    pub description: String,
}

/// Reads `max_sequences` training sequences and the held-out set of `cfg`'s data.
///
/// # Errors
/// An invalid walk, or a shard that cannot be opened or is too short, naming the file.
pub(crate) fn prepare(
    cfg: &ExperimentConfig,
    max_sequences: usize,
) -> Result<SweepData, TrainingError> {
    let context = cfg.model.context;
    match &cfg.data.shards {
        None => {
            let chain = cfg.data.walk.build()?;
            let train_pool = TokenCorpus::from_walks(&chain, context, max_sequences, cfg.data.seed);
            let eval = eval_walks(cfg, &chain);
            let oracle = crate::sweep::oracle_loss(&chain, &eval);
            let g = &cfg.data.walk.graph;
            let description = format!(
                "Stationary random walks on a graph ({g:?}, bias {:?}, graph seed {}): \
                 {} tokens in the vocabulary. Exact entropy rate H = Σ π_i H(P_i·) = **{:.4} \
                 nats/token** (the irreducible loss); the best context-free (unigram) loss is \
                 {:.4} nats; the true transition probabilities score {:.4} nats on the {} \
                 held-out sequences.",
                cfg.data.walk.bias,
                cfg.data.walk.seed,
                chain.num_states(),
                chain.entropy_rate(),
                chain.unigram_entropy(),
                oracle,
                cfg.data.eval_sequences,
            );
            Ok(SweepData {
                train_pool,
                eval,
                entropy_rate: chain.entropy_rate(),
                floor: aligned_walk_floor(&chain),
                unigram_entropy: chain.unigram_entropy(),
                eval_oracle_loss: oracle,
                summary: format!(
                    "{} nodes, entropy rate {:.4} nats",
                    chain.num_states(),
                    chain.entropy_rate()
                ),
                description,
            })
        }
        Some(s) => {
            let open = |path: &std::path::Path| {
                TokenShard::open(path).map_err(|e| {
                    crate::error::invalid("data.shards", path.display(), e.to_string())
                })
            };
            let train = open(&s.train)?;
            let valid = open(&s.validation)?;
            let vocab = train.vocab_size();
            if valid.vocab_size() != vocab {
                return Err(crate::error::invalid(
                    "data.shards.validation",
                    s.validation.display(),
                    format!(
                        "has vocabulary {} but the training shard has {vocab}",
                        valid.vocab_size()
                    ),
                ));
            }
            let take = |shard: &TokenShard, sequences: usize, field: &str| {
                // Checked: an absurd budget is refused as too long for the shard (and the
                // shard's length bounds the allocation below).
                let need = sequences.saturating_mul(context.saturating_add(1));
                if shard.len() < need {
                    return Err(crate::error::invalid(
                        field.to_string(),
                        shard.path().display(),
                        format!(
                            "holds {} tokens; the sweep needs {need} ({sequences} sequences of \
                             context + 1 = {})",
                            shard.len(),
                            context + 1
                        ),
                    ));
                }
                let mut tokens = Vec::with_capacity(need);
                shard.read_into(0, need, &mut tokens);
                TokenCorpus::new(vocab, context, tokens).map_err(TrainingError::from)
            };
            let train_pool = take(&train, max_sequences, "data.shards.train")?;
            let eval = take(&valid, cfg.data.eval_sequences, "data.shards.validation")?;
            let h = train.header();
            let floor = shard_floor(h, &eval);
            let entropy_rate = floor.loss();
            let rate = h.entropy_rate.map_or(String::new(), |r| {
                format!("The generating process's entropy rate is {r:.4} nats/token. ")
            });
            let description = format!(
                "Token shards: training `{}` ({} tokens, {} documents), held out `{}`; \
                 vocabulary {vocab}, tokenizer {}; source {}. {rate}{}",
                s.train.display(),
                train.len(),
                h.num_documents,
                s.validation.display(),
                h.tokenizer,
                h.source,
                match floor.value {
                    Some((v, se)) if se > 0.0 => format!(
                        "The learner's floor on its windows of {} tokens is **{v:.4} ± {se:.4} \
                         nats/token** (the irreducible loss; ± one standard error): {}.",
                        context + 1,
                        floor.basis
                    ),
                    Some((v, _)) => format!(
                        "The learner's floor on its windows of {} tokens is **{v:.4} \
                         nats/token** (the irreducible loss, exact): {}.",
                        context + 1,
                        floor.basis
                    ),
                    None => format!(
                        "The learner's floor is not known ({}), so the offset E is only fitted, \
                         never pinned.",
                        floor.basis
                    ),
                }
            );
            Ok(SweepData {
                train_pool,
                eval,
                entropy_rate,
                eval_oracle_loss: floor.eval_oracle,
                floor,
                unigram_entropy: f64::NAN,
                summary: if entropy_rate.is_finite() {
                    format!(
                        "shard of {} tokens, vocabulary {vocab}, learner's floor {entropy_rate:.4} nats",
                        train.len()
                    )
                } else {
                    format!("shard of {} tokens, vocabulary {vocab}", train.len())
                },
                description,
            })
        }
    }
}

/// The held-out walks: the same chain as the training walks, drawn from another seed.
pub(crate) fn eval_walks(cfg: &ExperimentConfig, chain: &MarkovChain) -> TokenCorpus {
    let seed = cfg.data.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    TokenCorpus::from_walks(chain, cfg.model.context, cfg.data.eval_sequences, seed)
}

/// The vocabulary of `cfg`'s data without reading any tokens: the graph's node count (read
/// from the file for an edge list), or the training shard's header.
pub(crate) fn vocab_size(cfg: &ExperimentConfig) -> Result<usize, TrainingError> {
    match &cfg.data.shards {
        None => cfg.data.walk.graph.resolved_num_nodes().map_err(|e| {
            crate::error::invalid("data.walk.graph", cfg.data.walk.graph.kind(), e.to_string())
        }),
        Some(s) => TokenShard::open(&s.train).map(|t| t.vocab_size()).map_err(|e| {
            crate::error::invalid("data.shards.train", s.train.display(), e.to_string())
        }),
    }
}

//! Data for neural scaling studies: random walks on graphs with exact entropy rates, n-gram
//! languages, manifold regression data, and real corpora with tokenizers, written to token
//! shards.
//!
//! The crate does not depend on burn: batches are plain row-major `i64` vectors, ready for a
//! `[batch, context]` integer tensor of any framework.
//!
//! A random walk on a graph is a stream of tokens (the nodes) in which the next token depends
//! only on the current one, so the best possible next-token loss is known exactly: it is the
//! walk's *entropy rate*
//!
//! ```text
//! H = Σ_i π_i H(P_i·) = −Σ_i π_i Σ_j P_ij ln P_ij      (nats per token),
//! ```
//!
//! where `P` is the transition matrix and `π` its stationary distribution (`π P = π`).
//! For an unbiased walk on a connected undirected graph `π_i = deg_i / 2|E|` and
//! `H = Σ_i π_i ln deg_i`.
//!
//! # Map of the crate
//!
//! * [`graph`]: undirected simple graphs ([`Graph`]), seeded generators ([`GraphSpec`]:
//!   Erdős–Rényi G(n, m) and G(n, p), Barabási–Albert, random regular, Watts–Strogatz) with a
//!   [`Connectivity`] policy, and edge-list files in and out.
//! * [`walk`]: Markov chains ([`MarkovChain`]) built from graphs with unbiased or power-law
//!   biased transition weights ([`WalkBias`]), with exact stationary distribution, entropy rate
//!   and fast sampling; [`WalkConfig`] is the serialisable recipe for one chain.
//! * [`corpus`]: fixed-length token sequences for next-token training ([`TokenCorpus`]).
//! * [`shard`]: token shards on disk ([`ShardWriter`], [`TokenShard`]: `u16`/`u32` tokens and a
//!   JSON header, [`ShardHeader`], read through a memory map).
//! * [`sampler`]: random-window training batches ([`RandomWindows`]) and sequential
//!   evaluation batches ([`SequentialWindows`]) from a shard, as [`Batch`]es.
//! * [`text`]: streaming readers of real corpora ([`DocumentSource`]: TinyStories text and
//!   JSON, WikiText, JSONL, folders, gzip of each) and a deterministic train/validation split
//!   by document ([`split_of`]).
//! * [`tokenizer`]: byte, character, whitespace-word and BPE tokenizers ([`Tokenize`],
//!   [`Tokenizer`], [`TokenizerSpec`]), saved and loaded as `tokenizer.json`.
//! * [`ngram`]: n-gram language models with add-k smoothing ([`NgramModel`], [`Smoothing`]),
//!   their exact entropy rates and seeded sampling.
//! * [`hierarchy`]: the Random Hierarchy Model, text from a random unambiguous hierarchical
//!   grammar ([`HierarchyConfig`], [`Hierarchy`]) with an exact entropy per token and
//!   correlations that decay with distance.
//! * [`multiscale`]: multiscale hidden topics, a stationary stream whose hidden states change
//!   on timescales `2, 4, …, 2^K` ([`MultiscaleConfig`], [`Multiscale`]), with an exact
//!   marginal and lag covariance `C(n)` whose norm decays as a chosen power `n^−β`.
//! * [`manifold`]: points on spheres and tori rotated into a high-dimensional space, with
//!   Hölder targets of a set smoothness ([`ManifoldConfig`]), and their encodings as token
//!   sequences or patches.
//! * [`build`]: [`build_data`], one entry point from a configuration ([`DataBuildConfig`]:
//!   walk, corpus + tokenizer, n-gram, manifold, hierarchy, multiscale) to shards on disk
//!   and a [`DataSummary`].
//! * [`DataError`]: the one error type of the crate; messages name the offending field or
//!   file and line.
//!
//! Every random choice uses [`rand_chacha::ChaCha12Rng`] seeded through
//! [`rand::SeedableRng::seed_from_u64`] with a seed mixed from the user's seed and a stream
//! per purpose (graph draws, bias weights, walks, splits, …), so the same seed gives the same
//! data and different purposes never share a stream.
//!
//! # Examples
//!
//! A random walk on a random graph, its exact entropy rate (the lowest achievable loss), and
//! a corpus of walks for training:
//!
//! ```
//! use scalinglab_data::{TokenCorpus, WalkConfig};
//!
//! let chain = WalkConfig::default().build()?; // G(n = 128, m = 512), unbiased walk
//! let best_loss = chain.entropy_rate(); // nats/token
//! // Below the loss of a model that ignores context, above 0 (the walk is random).
//! assert!(best_loss > 0.0 && best_loss < chain.unigram_entropy());
//! // Unbiased walk: H = Σ_i π_i ln deg_i.
//! let pi = chain.stationary();
//! let h: f64 = (0..chain.num_states()).map(|i| pi[i] * (chain.row(i).len() as f64).ln()).sum();
//! assert!((best_loss - h).abs() < 1e-12);
//!
//! let corpus = TokenCorpus::from_walks(&chain, 50, 100, 7); // 100 walks of 51 tokens
//! assert_eq!(corpus.num_target_tokens(), 5000);
//! let (inputs, targets) = corpus.batch(&[0, 1]); // [2, 50] each, row-major
//! assert_eq!(inputs[1..50], targets[..49]);
//! # Ok::<(), scalinglab_data::DataError>(())
//! ```
//!
//! Train a tiny byte-level BPE, tokenise a few documents into a token shard on disk, and read
//! it back as evaluation batches:
//!
//! ```
//! use scalinglab_data::{
//!     SequentialWindows, ShardInfo, ShardWriter, Tokenize, TokenShard, TokenizerSpec,
//! };
//!
//! let docs = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"];
//! let spec = TokenizerSpec::Bpe { vocab_size: 280, min_frequency: 2 };
//! let tokenizer = spec.build(docs.iter().map(|d| Ok(d.to_string())))?;
//! assert!(tokenizer.vocab_size() > 257); // 256 bytes + <|endoftext|> + merges
//! let ids = tokenizer.encode("the cat sat")?;
//! assert!(ids.len() < "the cat sat".len()); // merges shorten the text
//! assert_eq!(tokenizer.decode(&ids)?, "the cat sat"); // byte-level BPE is lossless
//!
//! let dir = std::env::temp_dir().join(format!("scalinglab-data-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let bin = dir.join("train.bin"); // the header goes to train.json
//! let info = ShardInfo { tokenizer: tokenizer.describe(), ..Default::default() };
//! let mut writer = ShardWriter::create(&bin, tokenizer.vocab_size(), info)?;
//! for doc in docs {
//!     writer.write_tokens(&tokenizer.encode(doc)?)?;
//!     writer.write_tokens(&[tokenizer.end_of_text().unwrap()])?;
//!     writer.end_document();
//! }
//! let header = writer.finish()?;
//!
//! let shard = TokenShard::open(&bin)?;
//! assert_eq!(shard.len() as u64, header.num_tokens);
//! assert_eq!(shard.header().num_documents, 3);
//! let batches: Vec<_> = SequentialWindows::new(&shard, 4, 2)?.collect();
//! let windows: usize = batches.iter().map(|b| b.batch_size).sum();
//! assert_eq!(windows, (shard.len() - 1) / 4); // every target token once
//! assert_eq!(batches[0].inputs.len(), batches[0].batch_size * 4); // [batch, context]
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), scalinglab_data::DataError>(())
//! ```

pub mod build;
pub mod copy;
pub mod corpus;
mod error;
pub mod graph;
pub mod hierarchy;
pub mod import;
mod io;
pub mod manifold;
pub mod memory;
pub mod multiscale;
pub mod ngram;
pub mod sampler;
mod sampling;
pub mod shard;
#[doc(hidden)]
pub mod tagged;
pub mod text;
pub mod tokenizer;
pub mod walk;

pub use build::{
    CopyBuild, CorpusBuild, DataBuildConfig, DataSummary, HierarchyBuild, ImportBuild,
    ManifoldBuild, MultiscaleBuild, NgramBuild, Progress, WalkBuild, build_data,
};
pub use copy::{CopyConfig, CopyProcess, CopyStream};
pub use corpus::TokenCorpus;
pub use error::DataError;
pub use graph::{Connectivity, Graph, GraphReport, GraphSpec};
pub use hierarchy::{Hierarchy, HierarchyConfig};
pub use manifold::{HolderTarget, Manifold, ManifoldConfig, ManifoldData, ManifoldSamples};
pub use multiscale::{Multiscale, MultiscaleConfig, MultiscaleStream};
pub use ngram::{NgramCounter, NgramModel, Smoothing};
pub use sampler::{Batch, RandomWindows, SequentialWindows};
pub use shard::{ShardHeader, ShardInfo, ShardWriter, TokenDtype, TokenShard, WindowFloor};
pub use text::{DocumentSource, Documents, Split, split_of};
pub use tokenizer::{Tokenize, Tokenizer, TokenizerSpec};
pub use walk::{MarkovChain, WalkBias, WalkConfig};

/// SplitMix64 finaliser: a bijective mixing of 64 bits (for seeded choices that must not
/// depend on a generator's state).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for one independent random stream, derived from a user seed, a stream name
/// (`domain`) and an index within that stream.
///
/// Mixing (rather than adding) keeps e.g. the second try of seed 0 different from the first
/// try of seed 1.
pub(crate) fn derive_seed(seed: u64, domain: u64, index: u64) -> u64 {
    splitmix64(splitmix64(seed ^ splitmix64(domain)) ^ index)
}

/// Stream of the Erdős–Rényi tries in [`derive_seed`].
const ERDOS_RENYI_STREAM: u64 = 1;
/// Stream of the Barabási–Albert generator in [`derive_seed`].
const BARABASI_ALBERT_STREAM: u64 = 2;
/// Stream of the biased-walk edge weights in [`derive_seed`].
const BIAS_STREAM: u64 = 3;
/// Stream of the Erdős–Rényi G(n, p) draws in [`derive_seed`].
const GNP_STREAM: u64 = 4;
/// Stream of the random-regular draws in [`derive_seed`].
const REGULAR_STREAM: u64 = 5;
/// Stream of the Watts–Strogatz draws in [`derive_seed`].
const WATTS_STROGATZ_STREAM: u64 = 6;
/// Stream of [`RandomWindows`] in [`derive_seed`].
const WINDOW_STREAM: u64 = 7;
/// Stream of the train/validation split hashes in [`derive_seed`].
const SPLIT_STREAM: u64 = 8;
/// Stream of n-gram sampling in [`derive_seed`].
const NGRAM_STREAM: u64 = 9;
/// Stream of a manifold data set's rotation and target in [`derive_seed`].
const MANIFOLD_STREAM: u64 = 10;
/// Stream of manifold samples in [`derive_seed`].
const MANIFOLD_SAMPLE_STREAM: u64 = 11;
/// Stream of [`build_data`]'s samples in [`derive_seed`].
const BUILD_STREAM: u64 = 12;
/// Stream of a hierarchy's grammar (one index per level) in [`derive_seed`].
const HIERARCHY_STREAM: u64 = 13;
/// Stream of [`Hierarchy::sample`] in [`derive_seed`].
const HIERARCHY_SAMPLE_STREAM: u64 = 14;
/// Stream of a multiscale process's state distributions (one index per level) in
/// [`derive_seed`].
const MULTISCALE_STREAM: u64 = 15;
/// Stream of [`Multiscale::sample`] in [`derive_seed`].
const MULTISCALE_SAMPLE_STREAM: u64 = 16;
/// Stream of [`CopyProcess::sample`] in [`derive_seed`].
const COPY_SAMPLE_STREAM: u64 = 17;

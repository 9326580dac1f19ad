//! Data for neural scaling studies: random walks on graphs with exact entropy rates, n-gram
//! languages, manifold regression data, and real corpora with tokenizers, written to token
//! shards.
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
//! The crate's parts:
//!
//! * [`graph`]: undirected simple graphs ([`Graph`]), seeded generators ([`GraphSpec`]:
//!   Erdős–Rényi G(n, m) and G(n, p), Barabási–Albert, random regular, Watts–Strogatz) with a
//!   [`Connectivity`] policy, and edge-list files in and out.
//! * [`walk`]: Markov chains ([`MarkovChain`]) built from graphs with unbiased or power-law
//!   biased transition weights ([`WalkBias`]), with exact stationary distribution, entropy rate
//!   and fast sampling; [`WalkConfig`] is the serialisable recipe for one chain.
//! * [`corpus`]: fixed-length token sequences for next-token training ([`TokenCorpus`]).
//! * [`shard`]: token shards on disk ([`ShardWriter`], [`TokenShard`]: `u16`/`u32` tokens and a
//!   JSON header, read through a memory map), and [`sampler`]: random-window training batches
//!   and sequential evaluation batches from them.
//! * [`text`]: streaming readers of real corpora ([`DocumentSource`]: TinyStories text and
//!   JSON, WikiText, JSONL, folders, gzip of each) and a deterministic train/validation split
//!   by document ([`split_of`]).
//! * [`tokenizer`]: byte, character, whitespace-word and BPE tokenizers ([`Tokenizer`],
//!   [`TokenizerSpec`]), saved and loaded as `tokenizer.json`.
//! * [`ngram`]: n-gram language models with add-k smoothing ([`NgramModel`]), their exact
//!   entropy rates and seeded sampling.
//! * [`manifold`]: points on spheres and tori rotated into a high-dimensional space, with
//!   Hölder targets of a set smoothness ([`ManifoldConfig`]), and their encodings as token
//!   sequences or patches.
//! * [`build`]: [`build_data`], one entry point from a configuration ([`DataBuildConfig`]:
//!   walk, corpus + tokenizer, n-gram, manifold) to shards on disk and a [`DataSummary`].
//!
//! Every random choice uses [`rand::rngs::StdRng`] seeded through
//! [`rand::SeedableRng::seed_from_u64`] with a seed mixed from the user's seed and a stream
//! per purpose (graph draws, bias weights, walks, splits, …), so the same seed gives the same
//! data and different purposes never share a stream.
//!
//! ```
//! use scalinglab_data::{TokenCorpus, WalkConfig};
//!
//! let chain = WalkConfig::default().build()?;
//! let best_loss = chain.entropy_rate(); // nats/token
//! let corpus = TokenCorpus::from_walks(&chain, 50, 100, 7);
//! assert_eq!(corpus.num_target_tokens(), 5000);
//! assert!(best_loss > 0.0 && best_loss < chain.unigram_entropy());
//! # Ok::<(), scalinglab_data::DataError>(())
//! ```

pub mod build;
pub mod corpus;
mod error;
pub mod graph;
mod io;
pub mod manifold;
pub mod ngram;
pub mod sampler;
mod sampling;
pub mod shard;
pub mod text;
pub mod tokenizer;
pub mod walk;

pub use build::{
    CorpusBuild, DataBuildConfig, DataSummary, ManifoldBuild, NgramBuild, Progress, WalkBuild,
    build_data,
};
pub use corpus::TokenCorpus;
pub use error::DataError;
pub use graph::{Connectivity, Graph, GraphReport, GraphSpec};
pub use manifold::{HolderTarget, Manifold, ManifoldConfig, ManifoldData, ManifoldSamples};
pub use ngram::{NgramCounter, NgramModel, Smoothing};
pub use sampler::{Batch, RandomWindows, SequentialWindows};
pub use shard::{ShardHeader, ShardInfo, ShardWriter, TokenDtype, TokenShard};
pub use text::{DocumentSource, Documents, Split, split_of};
pub use tokenizer::{Tokenize, Tokenizer, TokenizerSpec};
pub use walk::{MarkovChain, WalkBias, WalkConfig};

/// SplitMix64 finaliser: a bijective mixing of 64 bits.
fn splitmix64(mut z: u64) -> u64 {
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

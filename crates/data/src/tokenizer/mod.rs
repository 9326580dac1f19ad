//! Tokenizers: text to token ids and back, behind one trait ([`Tokenize`]) and one enum
//! ([`Tokenizer`]).
//!
//! | kind          | vocabulary                                              | round trip         |
//! |---------------|---------------------------------------------------------|--------------------|
//! | `byte`        | 256 bytes + `<|endoftext|>` = 257                       | exact              |
//! | `char`        | the corpus's characters (most frequent first) + `<unk>`, `<|endoftext|>` | exact if no `<unk>` |
//! | `word`        | the top-k whitespace-separated words + `<unk>`, `<|endoftext|>` | up to whitespace |
//! | `bpe`         | byte-level BPE trained here (`tokenizers` crate), 8192 by default | exact       |
//! | `pretrained`  | a user's `tokenizer.json`, e.g. GPT-2's                 | the tokenizer's    |
//!
//! Every tokenizer here has an end-of-text token, `<|endoftext|>`, that the shard builders
//! append after each document so a model sees document boundaries; a pretrained tokenizer has
//! one only if its vocabulary contains `<|endoftext|>`.
//!
//! [`Tokenizer::save`] writes one JSON file: Hugging Face's `tokenizer.json` format for BPE
//! and pretrained tokenizers, a small `{"scalinglab_tokenizer": "char", ...}` object for the
//! others. [`Tokenizer::load`] reads either.

mod hf;
mod simple;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use hf::HfTokenizer;
use simple::SavedTokenizer;
pub use simple::{ByteTokenizer, CharTokenizer, WordTokenizer};

use crate::DataError;

/// The end-of-text token's text.
pub const END_OF_TEXT: &str = "<|endoftext|>";
/// The unknown token's text (character and word tokenizers).
pub const UNKNOWN: &str = "<unk>";
/// The papers' BPE vocabulary size (Cagnetta et al. 2026), the default of
/// [`TokenizerSpec::Bpe`].
pub const DEFAULT_BPE_VOCAB: usize = 8192;

/// What every tokenizer does.
pub trait Tokenize {
    /// Number of token ids; every id is smaller.
    fn vocab_size(&self) -> usize;

    /// The id of `<|endoftext|>`, if the tokenizer has one.
    fn end_of_text(&self) -> Option<u32>;

    /// Append the ids of `text` to `out`.
    ///
    /// # Errors
    ///
    /// Never for the byte, character and word tokenizers (unknown characters and words
    /// become `<unk>`); [`DataError::Invalid`] when a Hugging Face tokenizer fails.
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), DataError>;

    /// The ids of `text`.
    ///
    /// # Errors
    ///
    /// As [`encode_into`](Self::encode_into).
    fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out)?;
        Ok(out)
    }

    /// The ids of each of `texts`. Sequential by default; the Hugging Face tokenizers encode
    /// the batch in parallel (on rayon's thread pool, unless `TOKENIZERS_PARALLELISM=false`).
    ///
    /// # Errors
    ///
    /// As [`encode_into`](Self::encode_into).
    fn encode_batch(&self, texts: &[String]) -> Result<Vec<Vec<u32>>, DataError> {
        texts.iter().map(|t| self.encode(t)).collect()
    }

    /// Text of `ids`.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the first id `>= vocab_size()`, or when a Hugging Face
    /// tokenizer fails to decode.
    fn decode(&self, ids: &[u32]) -> Result<String, DataError>;

    /// One line for headers and summaries, e.g. `byte-level BPE, 8192 tokens`.
    fn describe(&self) -> String;
}

/// Any of the tokenizers.
#[derive(Clone, Debug)]
pub enum Tokenizer {
    /// Bytes.
    Byte(ByteTokenizer),
    /// Characters.
    Char(CharTokenizer),
    /// Whitespace-separated words.
    Word(WordTokenizer),
    /// A Hugging Face tokenizer (trained BPE or a loaded `tokenizer.json`), boxed: it is
    /// large.
    Hf(Box<HfTokenizer>),
}

impl Tokenizer {
    fn as_dyn(&self) -> &dyn Tokenize {
        match self {
            Tokenizer::Byte(t) => t,
            Tokenizer::Char(t) => t,
            Tokenizer::Word(t) => t,
            Tokenizer::Hf(t) => t.as_ref(),
        }
    }

    /// Save to one JSON file (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        let saved = match self {
            Tokenizer::Hf(t) => return t.save(path),
            Tokenizer::Byte(_) => SavedTokenizer::Byte {},
            Tokenizer::Char(t) => SavedTokenizer::Char { chars: t.chars().to_vec() },
            Tokenizer::Word(t) => SavedTokenizer::Word { words: t.words().to_vec() },
        };
        let json = serde_json::to_string(&saved).expect("a tokenizer serialises");
        std::fs::write(path, json).map_err(|e| DataError::io(path, "write", e))
    }

    /// Load a file written by [`save`](Self::save), or any Hugging Face `tokenizer.json`.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] when the file cannot be read; [`DataError::Parse`] when it is not
    /// JSON, not a saved tokenizer, or not a `tokenizer.json`; [`DataError::Invalid`] for a
    /// saved vocabulary with a repeated (or, for words, empty or whitespace-containing)
    /// entry.
    pub fn load(path: &Path) -> Result<Tokenizer, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", e))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| DataError::parse(path, e.line() as u64, format!("invalid JSON: {e}")))?;
        if value.get("scalinglab_tokenizer").is_none() {
            return HfTokenizer::from_file(path).map(|t| Tokenizer::Hf(Box::new(t)));
        }
        let saved: SavedTokenizer = serde_json::from_value(value)
            .map_err(|e| DataError::parse(path, 1, format!("not a saved tokenizer: {e}")))?;
        Ok(match saved {
            SavedTokenizer::Byte {} => Tokenizer::Byte(ByteTokenizer),
            SavedTokenizer::Char { chars } => Tokenizer::Char(CharTokenizer::new(chars)?),
            SavedTokenizer::Word { words } => Tokenizer::Word(WordTokenizer::new(words)?),
        })
    }
}

impl Tokenize for Tokenizer {
    fn vocab_size(&self) -> usize {
        self.as_dyn().vocab_size()
    }

    fn end_of_text(&self) -> Option<u32> {
        self.as_dyn().end_of_text()
    }

    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), DataError> {
        self.as_dyn().encode_into(text, out)
    }

    fn encode_batch(&self, texts: &[String]) -> Result<Vec<Vec<u32>>, DataError> {
        self.as_dyn().encode_batch(texts)
    }

    fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        self.as_dyn().decode(ids)
    }

    fn describe(&self) -> String {
        self.as_dyn().describe()
    }
}

fn default_bpe_vocab() -> usize {
    DEFAULT_BPE_VOCAB
}
fn default_min_frequency() -> u64 {
    2
}

/// Which tokenizer to use, as configuration.
///
/// In TOML: `kind = "byte"`; `kind = "char"` (optional `max_vocab`); `kind = "word"` with
/// `vocab_size`; `kind = "bpe"` (optional `vocab_size`, default 8192, and `min_frequency`,
/// default 2); `kind = "pretrained"` with `path` to a `tokenizer.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenizerSpec {
    /// [`ByteTokenizer`].
    Byte {},
    /// [`CharTokenizer`] trained on the corpus.
    Char {
        /// Most tokens, `<unk>` and `<|endoftext|>` included. Default: every character seen.
        #[serde(default)]
        max_vocab: Option<usize>,
    },
    /// [`WordTokenizer`] trained on the corpus.
    Word {
        /// Tokens, `<unk>` and `<|endoftext|>` included (at least 3).
        vocab_size: usize,
    },
    /// Byte-level BPE trained on the corpus ([`HfTokenizer::train_bpe`]).
    Bpe {
        /// Target vocabulary size, `<|endoftext|>` included. Default: 8192.
        #[serde(default = "default_bpe_vocab")]
        vocab_size: usize,
        /// Fewest occurrences of a pair for it to be merged. Default: 2.
        #[serde(default = "default_min_frequency")]
        min_frequency: u64,
    },
    /// A `tokenizer.json` from a path (Hugging Face format, or one saved by
    /// [`Tokenizer::save`]).
    Pretrained {
        /// The file.
        path: PathBuf,
    },
}

crate::tagged::deserialize_tagged! {
    TokenizerSpec, tag = "kind", expecting = "a tokenizer table with kind = \"byte\", \
        \"char\", \"word\", \"bpe\" or \"pretrained\"",
    Byte {},
    Char { #[serde(default)] max_vocab: Option<usize> },
    Word { vocab_size: usize },
    Bpe {
        #[serde(default = "default_bpe_vocab")] vocab_size: usize,
        #[serde(default = "default_min_frequency")] min_frequency: u64,
    },
    Pretrained { path: PathBuf },
}

impl TokenizerSpec {
    /// Whether [`build`](Self::build) reads the corpus (char, word and BPE do).
    pub fn needs_corpus(&self) -> bool {
        matches!(
            self,
            TokenizerSpec::Char { .. } | TokenizerSpec::Word { .. } | TokenizerSpec::Bpe { .. }
        )
    }

    /// Build the tokenizer, training it on `docs` when it [needs a corpus](Self::needs_corpus)
    /// (`docs` is not read otherwise).
    ///
    /// # Errors
    ///
    /// The first error of `docs`; the training errors of [`CharTokenizer::train`],
    /// [`WordTokenizer::train`] and [`HfTokenizer::train_bpe`] (a vocabulary size that is too
    /// small); for [`TokenizerSpec::Pretrained`], those of [`Tokenizer::load`].
    pub fn build(
        &self,
        docs: impl Iterator<Item = Result<String, DataError>> + Send,
    ) -> Result<Tokenizer, DataError> {
        Ok(match self {
            TokenizerSpec::Byte {} => Tokenizer::Byte(ByteTokenizer),
            TokenizerSpec::Char { max_vocab } => {
                Tokenizer::Char(CharTokenizer::train(docs, *max_vocab)?)
            }
            TokenizerSpec::Word { vocab_size } => {
                Tokenizer::Word(WordTokenizer::train(docs, *vocab_size)?)
            }
            TokenizerSpec::Bpe { vocab_size, min_frequency } => {
                Tokenizer::Hf(Box::new(HfTokenizer::train_bpe(docs, *vocab_size, *min_frequency)?))
            }
            TokenizerSpec::Pretrained { path } => Tokenizer::load(path)?,
        })
    }
}

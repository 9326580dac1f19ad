//! Byte-level BPE trained with the Hugging Face `tokenizers` crate, and any `tokenizer.json`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer as HfInner};

use super::{END_OF_TEXT, Tokenize};
use crate::DataError;

/// A Hugging Face tokenizer: a BPE trained here, or a user's `tokenizer.json` (e.g. GPT-2's).
///
/// Its end-of-text token is `<|endoftext|>` if the vocabulary has it (GPT-2 and the BPEs
/// trained here do), otherwise none.
#[derive(Clone, Debug)]
pub struct HfTokenizer {
    inner: HfInner,
    end_of_text: Option<u32>,
    description: String,
}

fn hf_error(context: &str, e: tokenizers::Error) -> DataError {
    DataError::invalid("tokenizer", context, format!("failed: {e}"))
}

impl HfTokenizer {
    /// Wrap a Hugging Face tokenizer; `description` says where it came from.
    pub fn new(inner: HfInner, description: impl Into<String>) -> HfTokenizer {
        let end_of_text = inner.token_to_id(END_OF_TEXT);
        HfTokenizer { inner, end_of_text, description: description.into() }
    }

    /// Load a `tokenizer.json`.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] when the file cannot be read; [`DataError::Parse`] when it is not a
    /// `tokenizer.json` the `tokenizers` crate understands.
    pub fn from_file(path: &Path) -> Result<HfTokenizer, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", e))?;
        let inner: HfInner = text.parse().map_err(|e: tokenizers::Error| {
            DataError::parse(path, 1, format!("not a tokenizer.json: {e}"))
        })?;
        let size = inner.get_vocab_size(true);
        Ok(HfTokenizer::new(
            inner,
            format!("tokenizer.json from {} ({size} tokens)", path.display()),
        ))
    }

    /// Train a byte-level BPE (GPT-2 style: bytes mapped to printable characters, the GPT-2
    /// pre-tokenisation regex, no prefix space) with `<|endoftext|>` as id 0, merging pairs
    /// seen at least `min_frequency` times until the vocabulary has `vocab_size` tokens or no
    /// pair is left (then the vocabulary is smaller: check
    /// [`vocab_size`](Tokenize::vocab_size)).
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] for `vocab_size < 257` (256 bytes + `<|endoftext|>`) or when
    /// training fails; the first error of `docs` (training stops there).
    pub fn train_bpe(
        docs: impl Iterator<Item = Result<String, DataError>> + Send,
        vocab_size: usize,
        min_frequency: u64,
    ) -> Result<HfTokenizer, DataError> {
        let byte_level = ByteLevel::new(false, true, true);
        let alphabet = ByteLevel::alphabet();
        if vocab_size < alphabet.len() + 1 {
            return Err(DataError::invalid(
                "tokenizer.vocab_size",
                vocab_size,
                format!(
                    "must be at least {} for a byte-level BPE (256 bytes + <|endoftext|>)",
                    alphabet.len() + 1
                ),
            ));
        }
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(min_frequency)
            .show_progress(false)
            .special_tokens(vec![AddedToken::from(END_OF_TEXT, true)])
            .initial_alphabet(alphabet.into_iter().collect())
            .build()
            .into();
        let mut inner = HfInner::new(BPE::default());
        inner.with_pre_tokenizer(Some(byte_level));
        inner.with_decoder(Some(byte_level));
        // The trainer wants plain strings: stop at the first read error and report it after.
        let failure: Arc<Mutex<Option<DataError>>> = Arc::default();
        let slot = Arc::clone(&failure);
        let texts = docs.map_while(move |doc| match doc {
            Ok(text) => Some(text),
            Err(e) => {
                *slot.lock().expect("the error slot is never poisoned") = Some(e);
                None
            }
        });
        let trained = inner.train(&mut trainer, texts).map(|_| ());
        if let Some(e) = failure.lock().expect("the error slot is never poisoned").take() {
            return Err(e);
        }
        trained.map_err(|e| hf_error("BPE training", e))?;
        let size = inner.get_vocab_size(true);
        let description = if size < vocab_size {
            format!(
                "byte-level BPE, {size} tokens (asked for {vocab_size}: the corpus has no more \
                 pairs seen at least {min_frequency} times)"
            )
        } else {
            format!("byte-level BPE, {size} tokens")
        };
        Ok(HfTokenizer::new(inner, description))
    }

    /// Write `tokenizer.json` (Hugging Face format, readable by `tokenizers` in any language).
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        self.inner.save(path, true).map_err(|e| DataError::Io {
            path: path.to_path_buf(),
            action: "write the tokenizer".into(),
            message: e.to_string(),
        })
    }

    /// The wrapped Hugging Face tokenizer.
    pub fn inner(&self) -> &HfInner {
        &self.inner
    }
}

impl Tokenize for HfTokenizer {
    fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn end_of_text(&self) -> Option<u32> {
        self.end_of_text
    }

    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), DataError> {
        let encoding = self.inner.encode_fast(text, false).map_err(|e| hf_error("encode", e))?;
        out.extend_from_slice(encoding.get_ids());
        Ok(())
    }

    fn encode_batch(&self, texts: &[String]) -> Result<Vec<Vec<u32>>, DataError> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings =
            self.inner.encode_batch_fast(inputs, false).map_err(|e| hf_error("encode", e))?;
        Ok(encodings.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        let size = self.vocab_size();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= size) {
            return Err(DataError::invalid(
                "token id",
                id,
                format!("is out of range for vocab_size = {size}"),
            ));
        }
        self.inner.decode(ids, false).map_err(|e| hf_error("decode", e))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

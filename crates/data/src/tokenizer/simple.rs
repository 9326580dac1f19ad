//! The byte-level, character and whitespace-word tokenizers.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{END_OF_TEXT, Tokenize, UNKNOWN};
use crate::DataError;

/// An id that is not in a vocabulary of `vocab_size`.
fn out_of_range(id: u32, vocab_size: usize) -> DataError {
    DataError::invalid("token id", id, format!("is out of range for vocab_size = {vocab_size}"))
}

/// Bytes as tokens: ids `0..256` are the bytes of the UTF-8 text, id 256 is
/// `<|endoftext|>`; 257 tokens in all. Encoding never fails and never loses information.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteTokenizer;

impl ByteTokenizer {
    /// The end-of-text id, 256.
    pub const END_OF_TEXT_ID: u32 = 256;
}

impl Tokenize for ByteTokenizer {
    fn vocab_size(&self) -> usize {
        257
    }

    fn end_of_text(&self) -> Option<u32> {
        Some(Self::END_OF_TEXT_ID)
    }

    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), DataError> {
        out.extend(text.bytes().map(u32::from));
        Ok(())
    }

    /// Bytes back to text; byte sequences that are not UTF-8 (a window cut inside a
    /// character) become U+FFFD.
    fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        let mut text = String::new();
        let mut bytes = Vec::new();
        for &id in ids {
            match id {
                0..=255 => bytes.push(id as u8),
                Self::END_OF_TEXT_ID => {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                    bytes.clear();
                    text.push_str(END_OF_TEXT);
                }
                _ => return Err(out_of_range(id, self.vocab_size())),
            }
        }
        text.push_str(&String::from_utf8_lossy(&bytes));
        Ok(text)
    }

    fn describe(&self) -> String {
        "byte-level (256 bytes + <|endoftext|>)".to_string()
    }
}

/// Characters as tokens: id 0 is `<unk>` (any character outside the vocabulary), id 1 is
/// `<|endoftext|>`, ids 2.. are the characters of the training text, most frequent first
/// (ties in code-point order). Decoding writes U+FFFD for `<unk>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharTokenizer {
    chars: Vec<char>,
    index: HashMap<char, u32>,
}

impl CharTokenizer {
    /// A tokenizer over `chars` (ids 2, 3, … in this order).
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the first repeated character.
    pub fn new(chars: Vec<char>) -> Result<CharTokenizer, DataError> {
        let mut index = HashMap::with_capacity(chars.len());
        for (k, &c) in chars.iter().enumerate() {
            if index.insert(c, k as u32 + 2).is_some() {
                return Err(DataError::invalid(
                    "char vocabulary",
                    format!("{c:?}"),
                    "appears more than once",
                ));
            }
        }
        Ok(CharTokenizer { chars, index })
    }

    /// Count characters over `docs` and keep the most frequent, so that the vocabulary
    /// (with `<unk>` and `<|endoftext|>`) has at most `max_vocab` tokens (all characters if
    /// `None`).
    ///
    /// # Errors
    ///
    /// The first error of `docs`.
    pub fn train(
        docs: impl Iterator<Item = Result<String, DataError>>,
        max_vocab: Option<usize>,
    ) -> Result<CharTokenizer, DataError> {
        let mut counts: HashMap<char, u64> = HashMap::new();
        for doc in docs {
            for c in doc?.chars() {
                *counts.entry(c).or_default() += 1;
            }
        }
        let mut chars: Vec<(char, u64)> = counts.into_iter().collect();
        chars.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if let Some(max) = max_vocab {
            chars.truncate(max.saturating_sub(2));
        }
        CharTokenizer::new(chars.into_iter().map(|(c, _)| c).collect())
    }

    /// The characters, in id order from id 2.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }
}

impl Tokenize for CharTokenizer {
    fn vocab_size(&self) -> usize {
        self.chars.len() + 2
    }

    fn end_of_text(&self) -> Option<u32> {
        Some(1)
    }

    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), DataError> {
        out.extend(text.chars().map(|c| self.index.get(&c).copied().unwrap_or(0)));
        Ok(())
    }

    fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        let mut text = String::with_capacity(ids.len());
        for &id in ids {
            match id {
                0 => text.push('\u{FFFD}'),
                1 => text.push_str(END_OF_TEXT),
                _ => text.push(
                    *self
                        .chars
                        .get(id as usize - 2)
                        .ok_or_else(|| out_of_range(id, self.vocab_size()))?,
                ),
            }
        }
        Ok(text)
    }

    fn describe(&self) -> String {
        format!("character ({} characters + <unk>, <|endoftext|>)", self.chars.len())
    }
}

/// Whitespace-separated words as tokens: id 0 is `<unk>`, id 1 is `<|endoftext|>`, ids 2..
/// are the most frequent words of the training text (ties in lexicographic order).
///
/// Encoding splits on Unicode whitespace, so decoding (words joined by single spaces, `<unk>`
/// written as `<unk>`) restores the text only up to whitespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordTokenizer {
    words: Vec<String>,
    index: HashMap<String, u32>,
}

impl WordTokenizer {
    /// A tokenizer over `words` (ids 2, 3, … in this order).
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the first word that is empty, contains whitespace or
    /// repeats an earlier one.
    pub fn new(words: Vec<String>) -> Result<WordTokenizer, DataError> {
        let mut index = HashMap::with_capacity(words.len());
        for (k, w) in words.iter().enumerate() {
            if w.is_empty() || w.chars().any(char::is_whitespace) {
                return Err(DataError::invalid(
                    "word vocabulary",
                    format!("{w:?}"),
                    "is empty or contains whitespace",
                ));
            }
            if index.insert(w.clone(), k as u32 + 2).is_some() {
                return Err(DataError::invalid(
                    "word vocabulary",
                    format!("{w:?}"),
                    "appears more than once",
                ));
            }
        }
        Ok(WordTokenizer { words, index })
    }

    /// Count words over `docs` and keep the `vocab_size − 2` most frequent (the vocabulary has
    /// `vocab_size` tokens with `<unk>` and `<|endoftext|>`, fewer if the text has fewer
    /// distinct words).
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] for `vocab_size < 3`; the first error of `docs`.
    pub fn train(
        docs: impl Iterator<Item = Result<String, DataError>>,
        vocab_size: usize,
    ) -> Result<WordTokenizer, DataError> {
        if vocab_size < 3 {
            return Err(DataError::invalid(
                "tokenizer.vocab_size",
                vocab_size,
                "must be at least 3 (<unk>, <|endoftext|> and one word)",
            ));
        }
        let mut counts: HashMap<String, u64> = HashMap::new();
        for doc in docs {
            for w in doc?.split_whitespace() {
                match counts.get_mut(w) {
                    Some(c) => *c += 1,
                    None => {
                        counts.insert(w.to_string(), 1);
                    }
                }
            }
        }
        let mut words: Vec<(String, u64)> = counts.into_iter().collect();
        words.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        words.truncate(vocab_size - 2);
        WordTokenizer::new(words.into_iter().map(|(w, _)| w).collect())
    }

    /// The words, in id order from id 2.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

impl Tokenize for WordTokenizer {
    fn vocab_size(&self) -> usize {
        self.words.len() + 2
    }

    fn end_of_text(&self) -> Option<u32> {
        Some(1)
    }

    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), DataError> {
        out.extend(text.split_whitespace().map(|w| self.index.get(w).copied().unwrap_or(0)));
        Ok(())
    }

    fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        let mut parts = Vec::with_capacity(ids.len());
        for &id in ids {
            parts.push(match id {
                0 => UNKNOWN,
                1 => END_OF_TEXT,
                _ => self
                    .words
                    .get(id as usize - 2)
                    .ok_or_else(|| out_of_range(id, self.vocab_size()))?,
            });
        }
        Ok(parts.join(" "))
    }

    fn describe(&self) -> String {
        format!("whitespace-word ({} words + <unk>, <|endoftext|>)", self.words.len())
    }
}

/// The saved form of the byte, character and word tokenizers (BPE and pretrained ones are
/// saved as Hugging Face `tokenizer.json`).
#[derive(Serialize, Deserialize)]
#[serde(tag = "scalinglab_tokenizer", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum SavedTokenizer {
    Byte {},
    Char { chars: Vec<char> },
    Word { words: Vec<String> },
}

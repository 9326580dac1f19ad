//! Token files of other tools, read as token streams for [`crate::build_data`]'s
//! `kind = "import"`:
//!
//! * **nanoGPT** (`prepare.py`): `train.bin` / `val.bin`, the tokens back to back as
//!   little-endian `u16`, no header; the vocabulary size is not in the file and must be given.
//! * **llm.c** (`dev/data/data_common.py`): a header of 256 little-endian `i32` (magic
//!   `20240520`, version 1 for `u16` tokens or 2 for `u32`, then the token count), then the
//!   tokens.
//!
//! Every size is checked against the file before anything is read: an odd byte count, a
//! header whose count disagrees with the file, a wrong magic or version, and a token outside
//! the vocabulary are refused naming the file and, for a token, its index and value.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::DataError;

/// llm.c's header magic.
pub const LLMC_MAGIC: i32 = 20_240_520;
/// llm.c's header length in bytes (256 `i32`).
pub const LLMC_HEADER_BYTES: u64 = 1024;

/// The layout of an imported token file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// nanoGPT's headerless `u16` tokens.
    Nanogpt,
    /// llm.c's 1 KiB header, then `u16` (version 1) or `u32` (version 2) tokens.
    Llmc,
}

impl ImportFormat {
    /// The name used in configurations.
    pub fn name(self) -> &'static str {
        match self {
            ImportFormat::Nanogpt => "nanogpt",
            ImportFormat::Llmc => "llmc",
        }
    }
}

/// An open token file: where its tokens start, their width and count.
#[derive(Debug)]
pub struct ImportedTokens {
    path: PathBuf,
    reader: BufReader<File>,
    width: usize,
    len: u64,
    read: u64,
    vocab_size: usize,
    bytes: Vec<u8>,
}

impl ImportedTokens {
    /// Opens `path` in `format` and checks its header and size; tokens are checked against
    /// `vocab_size` as they are read.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] when the file cannot be read; [`DataError::Parse`] for a malformed
    /// header or size, naming the file.
    pub fn open(path: &Path, format: ImportFormat, vocab_size: usize) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| DataError::io(path, "open for reading", e))?;
        let size = file.metadata().map_err(|e| DataError::io(path, "read the size of", e))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let (width, len) = match format {
            ImportFormat::Nanogpt => {
                if size % 2 != 0 {
                    return Err(DataError::parse(
                        path,
                        1,
                        format!(
                            "{size} bytes is not a whole number of u16 tokens (nanoGPT .bin files \
                             hold little-endian u16, no header)"
                        ),
                    ));
                }
                (2, size / 2)
            }
            ImportFormat::Llmc => {
                if size < LLMC_HEADER_BYTES {
                    return Err(DataError::parse(
                        path,
                        1,
                        format!("{size} bytes is shorter than llm.c's 1024-byte header"),
                    ));
                }
                let mut header = [0u8; LLMC_HEADER_BYTES as usize];
                reader.read_exact(&mut header).map_err(|e| DataError::io(path, "read", e))?;
                let word = |i: usize| {
                    i32::from_le_bytes(header[4 * i..4 * i + 4].try_into().expect("4 bytes"))
                };
                if word(0) != LLMC_MAGIC {
                    return Err(DataError::parse(
                        path,
                        1,
                        format!(
                            "header magic {} is not llm.c's {LLMC_MAGIC} (is this a nanoGPT file? \
                             use format = \"nanogpt\")",
                            word(0)
                        ),
                    ));
                }
                let width = match word(1) {
                    1 => 2,
                    2 => 4,
                    v => {
                        return Err(DataError::parse(
                            path,
                            1,
                            format!(
                                "header version {v}: expected 1 (u16 tokens) or 2 (u32 tokens)"
                            ),
                        ));
                    }
                };
                let count = word(2);
                let body = size - LLMC_HEADER_BYTES;
                let expected = u64::try_from(count).ok().and_then(|c| c.checked_mul(width as u64));
                if expected != Some(body) {
                    return Err(DataError::parse(
                        path,
                        1,
                        format!(
                            "header says {count} tokens of {width} bytes, but {body} bytes follow \
                             the header"
                        ),
                    ));
                }
                (width, body / width as u64)
            }
        };
        Ok(ImportedTokens {
            path: path.to_path_buf(),
            reader,
            width,
            len,
            read: 0,
            vocab_size,
            bytes: Vec::new(),
        })
    }

    /// Tokens in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file holds no token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the next `n` tokens (at most those left) to `out`.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] on a read failure; [`DataError::Parse`] for a token at or above the
    /// vocabulary size, naming its index and value.
    pub fn read_into(&mut self, n: usize, out: &mut Vec<u32>) -> Result<(), DataError> {
        let n = n.min(usize::try_from(self.len - self.read).unwrap_or(usize::MAX));
        self.bytes.resize(n * self.width, 0);
        self.reader
            .read_exact(&mut self.bytes)
            .map_err(|e| DataError::io(&self.path, "read", e))?;
        for (k, chunk) in self.bytes.chunks_exact(self.width).enumerate() {
            let t = if self.width == 2 {
                u32::from(u16::from_le_bytes([chunk[0], chunk[1]]))
            } else {
                u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])
            };
            if t as usize >= self.vocab_size {
                return Err(DataError::parse(
                    &self.path,
                    self.read + k as u64 + 1,
                    format!(
                        "token {t} (the token at index {}) is outside the vocabulary: \
                         vocab_size = {}",
                        self.read + k as u64,
                        self.vocab_size
                    ),
                ));
            }
            out.push(t);
        }
        self.read += n as u64;
        Ok(())
    }
}

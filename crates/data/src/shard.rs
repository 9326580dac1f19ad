//! Token shards: tokenised data written once to disk and read back through a memory map.
//!
//! A shard is two files side by side, in the spirit of nanoGPT's `train.bin` and llm.c's
//! shard headers:
//!
//! * `NAME.bin`: the tokens back to back, little-endian, `u16` when the vocabulary has at most
//!   65 536 tokens and `u32` otherwise ([`TokenDtype::for_vocab`]); no header, so
//!   `numpy.memmap("NAME.bin", dtype="<u2")` reads it too.
//! * `NAME.json`: a [`ShardHeader`]: format and version, vocabulary size, dtype, token and
//!   document counts, a description of the tokenizer and of the source, and the entropy rate
//!   of the generating process when it is known.
//!
//! [`ShardWriter`] streams tokens to disk (it holds only a write buffer) into a temporary file
//! beside the shard (`NAME.bin.tmp-<pid>`) and moves it into place with its header only when
//! every token is written, so a shard that is being rewritten keeps its old contents until
//! then, and a shard whose header exists is complete. [`TokenShard::open`] checks the
//! header against the file size and every token against the vocabulary, then serves windows
//! from the memory map; [`crate::sampler`] draws training and evaluation batches from it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::io::{TempGuard, rename, temp_path};
use crate::{DataError, TokenCorpus};

/// The largest vocabulary a shard can hold: every token is a `u32`.
const MAX_VOCAB: usize = u32::MAX as usize + 1;

/// The `format` field of every shard header.
pub const SHARD_FORMAT: &str = "scalinglab-token-shard";
/// The header version this crate writes and reads.
pub const SHARD_VERSION: u32 = 1;

/// Width of the tokens in a shard's `.bin` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenDtype {
    /// Little-endian `u16`: vocabularies of at most 65 536 tokens.
    U16,
    /// Little-endian `u32`.
    U32,
}

impl TokenDtype {
    /// The narrowest dtype that holds every token of a vocabulary of `vocab_size`.
    pub fn for_vocab(vocab_size: usize) -> TokenDtype {
        if vocab_size <= 1 << 16 { TokenDtype::U16 } else { TokenDtype::U32 }
    }

    /// Bytes per token.
    pub fn bytes(self) -> usize {
        match self {
            TokenDtype::U16 => 2,
            TokenDtype::U32 => 4,
        }
    }
}

/// The JSON header next to a shard's tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardHeader {
    /// Always [`SHARD_FORMAT`].
    pub format: String,
    /// Always [`SHARD_VERSION`] for shards this crate writes.
    pub version: u32,
    /// Every token is `< vocab_size`.
    pub vocab_size: usize,
    /// Width of the tokens in the `.bin` file.
    pub dtype: TokenDtype,
    /// Number of tokens in the `.bin` file.
    pub num_tokens: u64,
    /// Number of documents (walks, stories, articles) the tokens came from.
    pub num_documents: u64,
    /// The token that ends each document, if the tokenizer has one.
    #[serde(default)]
    pub end_of_text: Option<u32>,
    /// The tokenizer, e.g. `byte-level (256 bytes + <|endoftext|>)`.
    pub tokenizer: String,
    /// Where the tokens came from, e.g. a corpus path or a walk configuration.
    pub source: String,
    /// Entropy rate of the generating process in nats per token, when known exactly (graph
    /// walks, n-gram models): the lowest achievable loss. (JSON keeps it to within a unit in
    /// the last place.)
    #[serde(default)]
    pub entropy_rate: Option<f64>,
    /// Standard error of [`entropy_rate`](Self::entropy_rate) when it is a Monte Carlo estimate
    /// (the copy process); absent when it is exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy_rate_se: Option<f64>,
    /// The loss floor of a learner whose windows are exactly this shard's documents, when the
    /// builder knows it: see [`WindowFloor`]. Absent in shards written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_floor: Option<WindowFloor>,
}

/// The lowest expected loss of a learner that is shown this shard cut into consecutive
/// windows of exactly `window` tokens (so each window is one document from its start) and
/// predicts tokens 2…`window` of each from their prefix: the mean over those positions of
/// H(X_i | X_1 … X_{i−1}).
///
/// This is the reference a fitted offset E is compared with. It differs from the process's
/// entropy rate wherever the first positions of a document are harder than the rest (an
/// n-gram's start history) or the windows cut across documents (then it is not this value at
/// all, and a learner with another context has no floor recorded here).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowFloor {
    /// Tokens per window (the learner's context + 1).
    pub window: u64,
    /// The floor in nats per predicted token.
    pub loss: f64,
    /// Its standard error (0 when computed exactly).
    pub se: f64,
}

/// What a [`ShardWriter`] records about the tokens besides the tokens.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardInfo {
    /// See [`ShardHeader::tokenizer`].
    pub tokenizer: String,
    /// See [`ShardHeader::source`].
    pub source: String,
    /// See [`ShardHeader::end_of_text`].
    pub end_of_text: Option<u32>,
    /// See [`ShardHeader::entropy_rate`].
    pub entropy_rate: Option<f64>,
    /// See [`ShardHeader::entropy_rate_se`].
    pub entropy_rate_se: Option<f64>,
    /// See [`ShardHeader::window_floor`].
    pub window_floor: Option<WindowFloor>,
}

/// Refuses a vocabulary size a shard cannot hold: 0, or more than 2^32 tokens.
///
/// # Errors
///
/// [`DataError::Invalid`] naming `vocab_size`.
pub fn check_vocab_size(vocab_size: usize) -> Result<(), DataError> {
    if vocab_size == 0 || vocab_size > MAX_VOCAB {
        return Err(DataError::invalid(
            "vocab_size",
            vocab_size,
            "must be between 1 and 2^32 for a token shard",
        ));
    }
    Ok(())
}

/// The header path of the shard whose tokens are at `bin_path`: the same name with the
/// extension `json` (`train.bin` → `train.json`).
pub fn header_path(bin_path: &Path) -> PathBuf {
    bin_path.with_extension("json")
}

/// Streams tokens into a new shard; [`finish`](Self::finish) writes the header.
///
/// Memory use is one write buffer, whatever the number of tokens.
pub struct ShardWriter {
    /// The final `.bin` path.
    path: PathBuf,
    /// The temporary file the tokens go to until [`finish`](Self::finish).
    temp: TempGuard,
    out: BufWriter<File>,
    vocab_size: usize,
    dtype: TokenDtype,
    num_tokens: u64,
    num_documents: u64,
    info: ShardInfo,
}

impl ShardWriter {
    /// Start the shard `bin_path` for tokens `< vocab_size`. The tokens go to a temporary
    /// file next to it (`NAME.bin.tmp-<pid>`, see the module docs); an existing shard of that
    /// name is untouched until [`finish`](Self::finish) renames the new one over it, and a
    /// writer dropped before `finish` removes its temporary file. Tokens are stored as
    /// [`TokenDtype::for_vocab`] says.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] unless `1 ≤ vocab_size ≤ 2^32`; [`DataError::Io`] when the
    /// temporary file cannot be created (the folder of `bin_path` must exist).
    pub fn create(
        bin_path: &Path,
        vocab_size: usize,
        info: ShardInfo,
    ) -> Result<ShardWriter, DataError> {
        check_vocab_size(vocab_size)?;
        let temp = TempGuard::new(temp_path(bin_path));
        let file =
            File::create(temp.path()).map_err(|e| DataError::io(temp.path(), "create", e))?;
        Ok(ShardWriter {
            path: bin_path.to_path_buf(),
            temp,
            out: BufWriter::with_capacity(1 << 20, file),
            vocab_size,
            dtype: TokenDtype::for_vocab(vocab_size),
            num_tokens: 0,
            num_documents: 0,
            info,
        })
    }

    /// Append tokens; each must be `< vocab_size`.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the first token `>= vocab_size` (none of `tokens` is
    /// written then); [`DataError::Io`] when writing fails.
    pub fn write_tokens(&mut self, tokens: &[u32]) -> Result<(), DataError> {
        if let Some((k, &t)) =
            tokens.iter().enumerate().find(|&(_, &t)| t as usize >= self.vocab_size)
        {
            return Err(DataError::invalid(
                format!("token {} of {}", self.num_tokens + k as u64, self.path.display()),
                t,
                format!("is out of range for vocab_size = {}", self.vocab_size),
            ));
        }
        let result = match self.dtype {
            TokenDtype::U16 => {
                tokens.iter().try_for_each(|&t| self.out.write_all(&(t as u16).to_le_bytes()))
            }
            TokenDtype::U32 => {
                tokens.iter().try_for_each(|&t| self.out.write_all(&t.to_le_bytes()))
            }
        };
        result.map_err(|e| DataError::io(&self.path, "write", e))?;
        self.num_tokens += tokens.len() as u64;
        Ok(())
    }

    /// Count one more document (call after writing its tokens, including any end-of-text).
    pub fn end_document(&mut self) {
        self.num_documents += 1;
    }

    /// Tokens written so far.
    pub fn num_tokens(&self) -> u64 {
        self.num_tokens
    }

    /// Documents ended so far.
    pub fn num_documents(&self) -> u64 {
        self.num_documents
    }

    /// Flush the tokens, write the header and move both into place; returns the header.
    ///
    /// The order makes every moment safe: the new header is written to a temporary file, the
    /// old header (if any) is removed, the tokens are renamed over `NAME.bin`, then the header
    /// over `NAME.json`. A crash in between leaves a shard without a header, which reads as
    /// incomplete, never one whose header describes other tokens.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] when the tokens cannot be flushed to disk or the header cannot be
    /// written (the shard at `bin_path` is then untouched) or moved into place.
    pub fn finish(self) -> Result<ShardHeader, DataError> {
        let ShardWriter { path, temp, out, vocab_size, dtype, num_tokens, num_documents, info } =
            self;
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_data())
            .map_err(|e| DataError::io(temp.path(), "flush", e))?;
        let header = ShardHeader {
            format: SHARD_FORMAT.to_string(),
            version: SHARD_VERSION,
            vocab_size,
            dtype,
            num_tokens,
            num_documents,
            end_of_text: info.end_of_text,
            tokenizer: info.tokenizer,
            source: info.source,
            entropy_rate: info.entropy_rate,
            entropy_rate_se: info.entropy_rate_se,
            window_floor: info.window_floor,
        };
        let json = serde_json::to_string_pretty(&header).expect("a header serialises");
        let hpath = header_path(&path);
        let htemp = TempGuard::new(temp_path(&hpath));
        std::fs::write(htemp.path(), json + "\n")
            .map_err(|e| DataError::io(htemp.path(), "write", e))?;
        if hpath.exists() {
            std::fs::remove_file(&hpath)
                .map_err(|e| DataError::io(&hpath, "remove the old header", e))?;
        }
        rename(temp.path(), &path)?;
        temp.keep();
        rename(htemp.path(), &hpath)?;
        htemp.keep();
        Ok(header)
    }
}

/// The 1-based line of a JSON header `text` on which `"key"` appears (1 when it does not).
fn header_line(text: &str, key: &str) -> u64 {
    let quoted = format!("\"{key}\"");
    text.lines().position(|l| l.contains(&quoted)).map_or(1, |k| k as u64 + 1)
}

/// A shard opened for reading: its header and a memory map of its tokens.
#[derive(Debug)]
pub struct TokenShard {
    path: PathBuf,
    header: ShardHeader,
    /// `None` for an empty shard (a zero-length file cannot be mapped).
    map: Option<Mmap>,
}

impl TokenShard {
    /// Open the shard `bin_path` (with its header at [`header_path`]).
    ///
    /// Checks the header's format, version and dtype, that the file holds exactly
    /// `num_tokens` tokens, and that every token is `< vocab_size` (one pass over the file,
    /// about a second per 10⁹ tokens).
    ///
    /// The tokens are memory-mapped, not read: the shard must not be truncated or rewritten
    /// by another process while it is open.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] when the header or the tokens cannot be read or mapped;
    /// [`DataError::Parse`] for a header that is not a [`ShardHeader`] of [`SHARD_FORMAT`]
    /// version [`SHARD_VERSION`] or whose `u16` dtype cannot hold its vocabulary;
    /// [`DataError::Invalid`] when the file size does not match the header (an incomplete or
    /// overwritten shard) or a token is `>= vocab_size` (naming its position).
    pub fn open(bin_path: &Path) -> Result<TokenShard, DataError> {
        let hpath = header_path(bin_path);
        let text = std::fs::read_to_string(&hpath)
            .map_err(|e| DataError::io(&hpath, "read the shard header", e))?;
        let header: ShardHeader = serde_json::from_str(&text).map_err(|e| {
            DataError::parse(&hpath, e.line() as u64, format!("not a shard header: {e}"))
        })?;
        if header.format != SHARD_FORMAT || header.version != SHARD_VERSION {
            return Err(DataError::parse(
                &hpath,
                1,
                format!(
                    "format \"{}\" version {} is not {SHARD_FORMAT} version {SHARD_VERSION}",
                    header.format, header.version
                ),
            ));
        }
        if header.vocab_size == 0 || header.vocab_size > MAX_VOCAB {
            return Err(DataError::parse(
                &hpath,
                header_line(&text, "vocab_size"),
                format!(
                    "vocab_size = {} is not a shard's vocabulary (every token is a u32: \
                     between 1 and 2^32)",
                    header.vocab_size
                ),
            ));
        }
        if header.dtype == TokenDtype::U16 && header.vocab_size > 1 << 16 {
            return Err(DataError::parse(
                &hpath,
                1,
                format!("dtype u16 cannot hold vocab_size = {}", header.vocab_size),
            ));
        }
        let file =
            File::open(bin_path).map_err(|e| DataError::io(bin_path, "open for reading", e))?;
        let len = file.metadata().map_err(|e| DataError::io(bin_path, "stat", e))?.len();
        let expected = header.num_tokens.checked_mul(header.dtype.bytes() as u64);
        if expected != Some(len) || usize::try_from(header.num_tokens).is_err() {
            return Err(DataError::invalid(
                format!("size of {}", bin_path.display()),
                len,
                format!(
                    "bytes does not match the header's {} tokens of {} bytes (incomplete or \
                     overwritten shard?)",
                    header.num_tokens,
                    header.dtype.bytes()
                ),
            ));
        }
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only and private to this value. Undefined behaviour could
            // only come from another process truncating or rewriting the file while it is
            // mapped; shards are written once and the docs of `open` forbid that.
            #[allow(unsafe_code)]
            let map = unsafe { Mmap::map(&file) }
                .map_err(|e| DataError::io(bin_path, "memory-map", e))?;
            Some(map)
        };
        let shard = TokenShard { path: bin_path.to_path_buf(), header, map };
        let vocab = shard.header.vocab_size;
        let mut position = 0u64;
        let mut buffer = Vec::with_capacity(1 << 16);
        while position < shard.len() as u64 {
            let n = (shard.len() as u64 - position).min(1 << 16) as usize;
            buffer.clear();
            shard.read_into(position as usize, n, &mut buffer);
            if let Some(k) = buffer.iter().position(|&t| t as usize >= vocab) {
                return Err(DataError::invalid(
                    format!("token {} of {}", position + k as u64, bin_path.display()),
                    buffer[k],
                    format!("is out of range for vocab_size = {vocab}"),
                ));
            }
            position += n as u64;
        }
        Ok(shard)
    }

    /// The header.
    pub fn header(&self) -> &ShardHeader {
        &self.header
    }

    /// The `.bin` path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Vocabulary size (every token is smaller).
    pub fn vocab_size(&self) -> usize {
        self.header.vocab_size
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.header.num_tokens as usize
    }

    /// Whether the shard has no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Token `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn get(&self, i: usize) -> u32 {
        assert!(i < self.len(), "token {i} of a shard of {} tokens", self.len());
        let b = self.bytes();
        match self.header.dtype {
            TokenDtype::U16 => u32::from(u16::from_le_bytes([b[2 * i], b[2 * i + 1]])),
            TokenDtype::U32 => {
                u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
            }
        }
    }

    /// Append tokens `start..start + len` to `out`.
    ///
    /// # Panics
    /// If `start + len > len()`.
    pub fn read_into(&self, start: usize, len: usize, out: &mut Vec<u32>) {
        assert!(
            start.checked_add(len).is_some_and(|end| end <= self.len()),
            "tokens {start}..{start}+{len} of a shard of {} tokens",
            self.len()
        );
        let w = self.header.dtype.bytes();
        let bytes = &self.bytes()[start * w..(start + len) * w];
        match self.header.dtype {
            TokenDtype::U16 => out
                .extend(bytes.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))),
            TokenDtype::U32 => out.extend(
                bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
        }
    }

    /// Tokens `start..start + len` as a vector.
    ///
    /// # Panics
    /// If `start + len > len()`.
    pub fn window(&self, start: usize, len: usize) -> Vec<u32> {
        // Checked before allocating, so that an absurd `len` panics here, not in the allocator.
        assert!(
            start.checked_add(len).is_some_and(|end| end <= self.len()),
            "tokens {start}..{start}+{len} of a shard of {} tokens",
            self.len()
        );
        let mut out = Vec::with_capacity(len);
        self.read_into(start, len, &mut out);
        out
    }

    /// The first `n_sequences` consecutive, non-overlapping windows of `seq_len + 1` tokens as an
    /// in-memory [`TokenCorpus`] (all whole windows if `n_sequences` is `None`).
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] if the shard holds fewer than `n_sequences` windows.
    pub fn to_corpus(
        &self,
        seq_len: usize,
        n_sequences: Option<usize>,
    ) -> Result<TokenCorpus, DataError> {
        let stride = seq_len.saturating_add(1);
        let available = self.len() / stride;
        let n = n_sequences.unwrap_or(available);
        if n > available {
            return Err(DataError::invalid(
                "n_sequences",
                n,
                format!(
                    "exceeds the {available} windows of seq_len + 1 = {stride} tokens in {}",
                    self.path.display()
                ),
            ));
        }
        TokenCorpus::new(self.vocab_size(), seq_len, self.window(0, n * stride))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("scalinglab-shard-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn info() -> ShardInfo {
        ShardInfo { tokenizer: "test".into(), source: "test".into(), ..ShardInfo::default() }
    }

    fn write(path: &Path, vocab: usize, tokens: &[u32]) {
        let mut w = ShardWriter::create(path, vocab, info()).unwrap();
        w.write_tokens(tokens).unwrap();
        w.end_document();
        w.finish().unwrap();
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_unfinished_writer_leaves_the_old_shard_and_no_temporary_file() {
        let dir = Scratch::new("unfinished");
        let bin = dir.path().join("train.bin");
        write(&bin, 10, &[1, 2, 3]);
        let (old_bin, old_header) =
            (std::fs::read(&bin).unwrap(), std::fs::read(header_path(&bin)).unwrap());
        {
            let mut w = ShardWriter::create(&bin, 10, info()).unwrap();
            w.write_tokens(&[4, 5, 6, 7]).unwrap();
            // A token out of range fails the build half way; the writer is dropped.
            assert!(w.write_tokens(&[99]).is_err());
        }
        assert_eq!(std::fs::read(&bin).unwrap(), old_bin);
        assert_eq!(std::fs::read(header_path(&bin)).unwrap(), old_header);
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
        assert_eq!(TokenShard::open(&bin).unwrap().window(0, 3), vec![1, 2, 3]);
        // A finished writer replaces both files.
        write(&bin, 10, &[4, 5, 6, 7]);
        assert_eq!(TokenShard::open(&bin).unwrap().window(0, 4), vec![4, 5, 6, 7]);
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    fn with_header(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> (Scratch, PathBuf) {
        let dir = Scratch::new(name);
        let bin = dir.path().join("train.bin");
        write(&bin, 10, &[1, 2, 3]);
        let hpath = header_path(&bin);
        let mut value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&hpath).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(&hpath, serde_json::to_string_pretty(&value).unwrap()).unwrap();
        (dir, bin)
    }

    #[test]
    fn an_absurd_vocabulary_is_refused_before_anything_is_allocated() {
        for vocab in [0u64, 1 << 40, 1_000_000_000_000, u64::MAX] {
            let (_dir, bin) = with_header(&format!("vocab-{vocab}"), |h| {
                h["vocab_size"] = vocab.into();
                h["dtype"] = "u32".into();
            });
            let err = TokenShard::open(&bin).unwrap_err().to_string();
            assert!(err.contains("train.json"), "{err}");
            assert!(err.contains(&format!("vocab_size = {vocab}")), "{err}");
        }
    }

    #[test]
    fn a_token_count_beyond_the_file_is_refused() {
        for n in [4u64, 1 << 40, u64::MAX / 2, u64::MAX] {
            let (_dir, bin) = with_header(&format!("count-{n}"), |h| h["num_tokens"] = n.into());
            let err = TokenShard::open(&bin).unwrap_err().to_string();
            assert!(err.contains("train.bin"), "{err}");
            assert!(err.contains(&format!("{n} tokens")), "{err}");
        }
    }
}

//! Streaming readers of real text corpora, and a deterministic train/validation split.
//!
//! Every reader is an iterator of documents ([`Documents`]) that holds one document (and a
//! read buffer) at a time, so corpora larger than memory stream through. A file whose name
//! ends in `.gz` is gunzipped on the fly. Documents are trimmed of surrounding whitespace,
//! and empty documents are skipped.
//!
//! | `format`     | layout                                                               |
//! |--------------|----------------------------------------------------------------------|
//! | `text`       | documents separated by a marker, `<|endoftext|>` by default (TinyStories `.txt`) |
//! | `json_array` | one JSON array of objects, the text in a field, `story` by default (TinyStories `.json`) |
//! | `jsonl`      | one JSON object per line, the text in a field, `text` by default     |
//! | `wikitext`   | WikiText raw files: an article starts at each ` = Title = ` line     |
//! | `folder`     | every file under a folder (recursively, sorted by path) is one document |
//!
//! Errors name the file and line (or, for a JSON array, the line where the element starts).
//!
//! # Split
//! [`split_of`] assigns document `i` to validation when `u_i < fraction`, where
//! `u_i ∈ [0, 1)` is a hash of `(seed, i)`: each document independently with probability
//! `fraction`, the same on every pass and machine, and without reading ahead.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::io::{open_read, without_gz};
use crate::{DataError, SPLIT_STREAM, derive_seed};

fn default_separator() -> String {
    "<|endoftext|>".to_string()
}
fn default_story() -> String {
    "story".to_string()
}
fn default_text() -> String {
    "text".to_string()
}

/// Where documents come from, and in what layout (see the [module docs](self)).
///
/// In TOML: `format = "text"` with `path` (and optionally `separator`), `format = "json_array"`
/// (alias `"tinystories_json"`) with `path` and optional `field`, `format = "jsonl"` with
/// `path` and optional `field`, `format = "wikitext"` with `path`, `format = "folder"` with
/// `path` and optional `extension`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "format", rename_all = "snake_case", deny_unknown_fields)]
pub enum DocumentSource {
    /// Plain text with documents separated by `separator` (anywhere in a line).
    Text {
        /// The file.
        path: PathBuf,
        /// The document separator. Default: `<|endoftext|>`.
        #[serde(default = "default_separator")]
        separator: String,
    },
    /// One JSON array of objects, the document in the string field `field` (TinyStories'
    /// `data*.json`), read element by element.
    #[serde(alias = "tinystories_json")]
    JsonArray {
        /// The file.
        path: PathBuf,
        /// The field holding the text. Default: `story`.
        #[serde(default = "default_story")]
        field: String,
    },
    /// JSON Lines: one object per line, the document in the string field `field`.
    Jsonl {
        /// The file.
        path: PathBuf,
        /// The field holding the text. Default: `text`.
        #[serde(default = "default_text")]
        field: String,
    },
    /// A WikiText raw file (`wiki.train.raw`): a document starts at each top-level heading
    /// line ` = Title = ` (not at ` = = Section = = `) and includes it.
    #[serde(rename = "wikitext")]
    WikiText {
        /// The file.
        path: PathBuf,
    },
    /// Every file under a folder, recursively, in sorted path order, one document per file;
    /// hidden files (names starting with `.`) are skipped.
    Folder {
        /// The folder.
        path: PathBuf,
        /// Only files with this extension (e.g. `txt`, also matching `name.txt.gz`).
        /// Default: every file.
        #[serde(default)]
        extension: Option<String>,
    },
}

crate::tagged::deserialize_tagged! {
    DocumentSource, tag = "format", expecting = "a source table with format = \"text\", \
        \"json_array\", \"jsonl\", \"wikitext\" or \"folder\"",
    Text { path: PathBuf, #[serde(default = "default_separator")] separator: String },
    #[serde(alias = "tinystories_json")]
    JsonArray { path: PathBuf, #[serde(default = "default_story")] field: String },
    Jsonl { path: PathBuf, #[serde(default = "default_text")] field: String },
    #[serde(rename = "wikitext")]
    WikiText { path: PathBuf },
    Folder { path: PathBuf, #[serde(default)] extension: Option<String> },
}

impl DocumentSource {
    /// The file or folder read.
    pub fn path(&self) -> &Path {
        match self {
            DocumentSource::Text { path, .. }
            | DocumentSource::JsonArray { path, .. }
            | DocumentSource::Jsonl { path, .. }
            | DocumentSource::WikiText { path }
            | DocumentSource::Folder { path, .. } => path,
        }
    }

    /// A one-line description, e.g. `jsonl file data/train.jsonl.gz (field "text")`.
    pub fn describe(&self) -> String {
        let p = self.path().display();
        match self {
            DocumentSource::Text { separator, .. } => {
                format!("text file {p} (documents separated by {separator:?})")
            }
            DocumentSource::JsonArray { field, .. } => {
                format!("JSON array file {p} (field {field:?})")
            }
            DocumentSource::Jsonl { field, .. } => format!("jsonl file {p} (field {field:?})"),
            DocumentSource::WikiText { .. } => format!("WikiText raw file {p}"),
            DocumentSource::Folder { extension, .. } => match extension {
                Some(e) => format!("folder {p} (*.{e}, one document per file)"),
                None => format!("folder {p} (one document per file)"),
            },
        }
    }

    /// Open the source and stream its documents.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] for an empty text separator; [`DataError::Io`] when the file
    /// (or, for a folder, the folder tree) cannot be opened or listed. Errors while reading
    /// come later, as the last item of the [`Documents`] iterator (a
    /// [`DataError::Parse`] naming the file and line for malformed JSON).
    pub fn documents(&self) -> Result<Documents, DataError> {
        let inner: Box<dyn Iterator<Item = Result<String, DataError>> + Send> = match self {
            DocumentSource::Text { path, separator } => {
                if separator.is_empty() {
                    return Err(DataError::invalid(
                        "source.separator",
                        "\"\"",
                        "must not be empty",
                    ));
                }
                Box::new(SeparatedDocs {
                    lines: Lines::open(path)?,
                    separator: separator.clone(),
                    pending: VecDeque::new(),
                    current: String::new(),
                })
            }
            DocumentSource::JsonArray { path, field } => Box::new(JsonArrayDocs {
                reader: open_read(path)?,
                path: path.clone(),
                field: field.clone(),
                line: 1,
                started: false,
                finished: false,
                element: Vec::new(),
            }),
            DocumentSource::Jsonl { path, field } => {
                Box::new(JsonlDocs { lines: Lines::open(path)?, field: field.clone() })
            }
            DocumentSource::WikiText { path } => {
                Box::new(WikiTextDocs { lines: Lines::open(path)?, current: None })
            }
            DocumentSource::Folder { path, extension } => {
                let mut files = Vec::new();
                list_files(path, extension.as_deref(), &mut files)?;
                files.sort();
                Box::new(files.into_iter().map(|file| read_whole(&file)))
            }
        };
        Ok(Documents { inner, done: false })
    }
}

/// An iterator of documents from a [`DocumentSource`]. After an error it ends.
pub struct Documents {
    inner: Box<dyn Iterator<Item = Result<String, DataError>> + Send>,
    done: bool,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents").field("done", &self.done).finish_non_exhaustive()
    }
}

impl Iterator for Documents {
    type Item = Result<String, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.inner.next() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(doc)) => {
                    let trimmed = doc.trim();
                    if trimmed.is_empty() {
                        continue;
                    }
                    return Some(Ok(if trimmed.len() == doc.len() {
                        doc
                    } else {
                        trimmed.to_string()
                    }));
                }
            }
        }
    }
}

/// Which side of the train/validation split a document is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The training set.
    Train,
    /// The held-out validation set.
    Validation,
}

/// The split of document number `index` (0-based, in reading order): validation with
/// probability `validation_fraction`, by a hash of `(seed, index)` (see the
/// [module docs](self)). A fraction ≤ 0 puts everything in training, ≥ 1 in validation.
///
/// ```
/// use scalinglab_data::{Split, split_of};
///
/// let held_out = (0..10_000).filter(|&i| split_of(i, 7, 0.1) == Split::Validation).count();
/// assert!((900..1100).contains(&held_out)); // about 10%
/// assert_eq!(split_of(42, 7, 0.1), split_of(42, 7, 0.1)); // the same on every pass
/// assert_eq!(split_of(42, 7, 0.0), Split::Train);
/// ```
pub fn split_of(index: u64, seed: u64, validation_fraction: f64) -> Split {
    // 53 random bits as a uniform number in [0, 1).
    let u = (derive_seed(seed, SPLIT_STREAM, index) >> 11) as f64 / (1u64 << 53) as f64;
    if u < validation_fraction { Split::Validation } else { Split::Train }
}

/// Lines of a file with their 1-based numbers; invalid UTF-8 is an error naming the line.
struct Lines {
    reader: Box<dyn BufRead + Send>,
    path: PathBuf,
    number: u64,
    bytes: Vec<u8>,
}

impl Lines {
    fn open(path: &Path) -> Result<Lines, DataError> {
        Ok(Lines {
            reader: open_read(path)?,
            path: path.to_path_buf(),
            number: 0,
            bytes: Vec::new(),
        })
    }

    /// The next line, with its line ending.
    fn next_line(&mut self) -> Result<Option<String>, DataError> {
        self.bytes.clear();
        self.number += 1;
        let read = self.reader.read_until(b'\n', &mut self.bytes).map_err(|e| {
            DataError::parse(&self.path, self.number, format!("cannot read the line: {e}"))
        })?;
        if read == 0 {
            return Ok(None);
        }
        match std::str::from_utf8(&self.bytes) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(e) => Err(DataError::parse(
                &self.path,
                self.number,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
            )),
        }
    }
}

struct SeparatedDocs {
    lines: Lines,
    separator: String,
    /// Documents completed by the last line, oldest first.
    pending: VecDeque<String>,
    current: String,
}

impl Iterator for SeparatedDocs {
    type Item = Result<String, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(doc) = self.pending.pop_front() {
                return Some(Ok(doc));
            }
            match self.lines.next_line() {
                Err(e) => return Some(Err(e)),
                Ok(None) => {
                    return (!self.current.is_empty())
                        .then(|| Ok(std::mem::take(&mut self.current)));
                }
                Ok(Some(line)) => {
                    let mut rest = line.as_str();
                    while let Some(k) = rest.find(&self.separator) {
                        self.current.push_str(&rest[..k]);
                        self.pending.push_back(std::mem::take(&mut self.current));
                        rest = &rest[k + self.separator.len()..];
                    }
                    self.current.push_str(rest);
                }
            }
        }
    }
}

struct JsonlDocs {
    lines: Lines,
    field: String,
}

impl Iterator for JsonlDocs {
    type Item = Result<String, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next_line() {
                Err(e) => return Some(Err(e)),
                Ok(None) => return None,
                Ok(Some(line)) => line,
            };
            if line.trim().is_empty() {
                continue;
            }
            let (path, number) = (&self.lines.path, self.lines.number);
            return Some(text_field(line.as_bytes(), &self.field, path, number));
        }
    }
}

/// The string field `field` of the JSON object in `bytes`.
fn text_field(bytes: &[u8], field: &str, path: &Path, line: u64) -> Result<String, DataError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| DataError::parse(path, line, format!("invalid JSON: {e}")))?;
    match value {
        serde_json::Value::Object(mut map) => match map.remove(field) {
            Some(serde_json::Value::String(s)) => Ok(s),
            Some(other) => Err(DataError::parse(
                path,
                line,
                format!("field \"{field}\" is not a string but {}", json_kind(&other)),
            )),
            None => Err(DataError::parse(path, line, format!("no field \"{field}\""))),
        },
        other => Err(DataError::parse(
            path,
            line,
            format!("expected an object with a \"{field}\" field, found {}", json_kind(&other)),
        )),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Elements of a top-level JSON array, scanned byte by byte (tracking nesting and strings)
/// so that only one element is in memory at a time.
struct JsonArrayDocs {
    reader: Box<dyn BufRead + Send>,
    path: PathBuf,
    field: String,
    /// Current line (1-based), for errors.
    line: u64,
    started: bool,
    finished: bool,
    element: Vec<u8>,
}

impl JsonArrayDocs {
    fn peek(&mut self) -> Result<Option<u8>, DataError> {
        let buf = self
            .reader
            .fill_buf()
            .map_err(|e| DataError::parse(&self.path, self.line, format!("cannot read: {e}")))?;
        Ok(buf.first().copied())
    }

    fn bump(&mut self) {
        self.reader.consume(1);
    }

    /// The next byte that is not JSON whitespace, not consumed.
    fn peek_non_space(&mut self) -> Result<Option<u8>, DataError> {
        while let Some(b) = self.peek()? {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return Ok(Some(b)),
            }
            self.bump();
        }
        Ok(None)
    }

    fn error(&self, message: impl Into<String>) -> DataError {
        DataError::parse(&self.path, self.line, message)
    }

    /// Bytes of the next element and the line it starts on; `None` after the closing `]`.
    fn next_element(&mut self) -> Result<Option<u64>, DataError> {
        if self.finished {
            return Ok(None);
        }
        if !self.started {
            match self.peek_non_space()? {
                Some(b'[') => self.bump(),
                Some(b) => {
                    return Err(self.error(format!(
                        "expected a JSON array '[', found '{}'",
                        char::from(b).escape_default()
                    )));
                }
                None => return Err(self.error("empty file, expected a JSON array")),
            }
            self.started = true;
            if self.peek_non_space()? == Some(b']') {
                self.bump();
                self.finished = true;
                return Ok(None);
            }
        }
        self.element.clear();
        let start_line = match self.peek_non_space()? {
            Some(_) => self.line,
            None => return Err(self.error("unexpected end of file inside the array")),
        };
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        loop {
            let Some(b) = self.peek()? else {
                return Err(self.error("unexpected end of file inside an array element"));
            };
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b',' | b']' if depth == 0 => break,
                    _ => {}
                }
            }
            if b == b'\n' {
                self.line += 1;
            }
            self.element.push(b);
            self.bump();
        }
        // The separator: ',' continues, ']' ends the array.
        if self.peek()? == Some(b']') {
            self.finished = true;
        }
        self.bump();
        Ok(Some(start_line))
    }
}

impl Iterator for JsonArrayDocs {
    type Item = Result<String, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_element() {
            Err(e) => Some(Err(e)),
            Ok(None) => None,
            Ok(Some(line)) => Some(text_field(&self.element, &self.field, &self.path, line)),
        }
    }
}

struct WikiTextDocs {
    lines: Lines,
    /// The article being read (from its title line on), if any.
    current: Option<String>,
}

/// Whether a WikiText line is a top-level heading ` = Title = ` (not ` = = Section = = `).
fn is_article_heading(line: &str) -> bool {
    let t = line.trim();
    t.len() > 4
        && t.starts_with("= ")
        && t.ends_with(" =")
        && !t.starts_with("= =")
        && !t.ends_with("= =")
}

impl Iterator for WikiTextDocs {
    type Item = Result<String, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.lines.next_line() {
                Err(e) => return Some(Err(e)),
                Ok(None) => return self.current.take().map(Ok),
                Ok(Some(line)) => {
                    if is_article_heading(&line) {
                        let finished = self.current.replace(line);
                        if let Some(article) = finished {
                            return Some(Ok(article));
                        }
                    } else if let Some(article) = &mut self.current {
                        article.push_str(&line);
                    }
                    // Text before the first heading belongs to no article and is dropped.
                }
            }
        }
    }
}

fn list_files(
    dir: &Path,
    extension: Option<&str>,
    out: &mut Vec<PathBuf>,
) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, "list the folder", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, "list the folder", e))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(|e| DataError::io(&path, "stat", e))?;
        if kind.is_dir() {
            list_files(&path, extension, out)?;
        } else if extension.is_none_or(|e| {
            without_gz(&path).extension().is_some_and(|x| x.eq_ignore_ascii_case(e))
        }) {
            out.push(path);
        }
    }
    Ok(())
}

/// A whole (small) file as one document.
fn read_whole(path: &Path) -> Result<String, DataError> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open_read(path)?, &mut bytes)
        .map_err(|e| DataError::io(path, "read", e))?;
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        DataError::parse(path, line, "invalid UTF-8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wikitext_headings() {
        assert!(is_article_heading(" = Valkyria Chronicles III = \n"));
        assert!(!is_article_heading(" = = Gameplay = = \n"));
        assert!(!is_article_heading(" = = = Reception = = = \n"));
        assert!(!is_article_heading(" The = sign is used. \n"));
        assert!(!is_article_heading(" = \n"));
    }
}

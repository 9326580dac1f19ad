//! File helpers shared by the readers and writers: transparent gzip by extension, errors that
//! name the file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::DataError;

/// Buffer size of readers and writers (1 MiB).
const BUFFER: usize = 1 << 20;

/// Whether `path` names a gzip file (its extension is `gz`).
pub(crate) fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// `path` without a trailing `.gz`, for telling formats apart by the inner extension.
pub(crate) fn without_gz(path: &Path) -> &Path {
    if is_gzip(path) { path.file_stem().map(Path::new).unwrap_or(path) } else { path }
}

/// A buffered reader of `path`, decompressing gzip (all members) when it ends in `.gz`.
pub(crate) fn open_read(path: &Path) -> Result<Box<dyn BufRead + Send>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, "open for reading", e))?;
    Ok(if is_gzip(path) {
        Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(BufReader::new(file))))
    } else {
        Box::new(BufReader::with_capacity(BUFFER, file))
    })
}

/// A buffered writer of `path` (created or truncated), gzip-compressing when it ends in
/// `.gz`. Call [`Output::finish`] to flush and see errors that dropping would hide.
pub(crate) enum Output {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Output {
    /// Create `path` for writing.
    pub(crate) fn create(path: &Path) -> Result<Output, DataError> {
        let file = File::create(path).map_err(|e| DataError::io(path, "create", e))?;
        let buffered = BufWriter::with_capacity(BUFFER, file);
        Ok(if is_gzip(path) {
            Output::Gzip(GzEncoder::new(buffered, Compression::default()))
        } else {
            Output::Plain(buffered)
        })
    }

    /// Flush everything (and write the gzip trailer) to disk.
    pub(crate) fn finish(self) -> io::Result<()> {
        let mut inner = match self {
            Output::Plain(w) => w,
            Output::Gzip(w) => w.finish()?,
        };
        inner.flush()
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Plain(w) => w.write(buf),
            Output::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Plain(w) => w.flush(),
            Output::Gzip(w) => w.flush(),
        }
    }
}

//! File helpers shared by the readers and writers: transparent gzip by extension, errors that
//! name the file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// The temporary name under which `path` is written before it is renamed into place: the
/// same folder (so the rename is atomic), the name followed by `.tmp-<pid>`, e.g.
/// `train.bin.tmp-4242`.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// A file or folder this process made and removes again unless [`keep`](Self::keep) is called:
/// the temporary files of a write that failed do not stay behind.
#[derive(Debug)]
pub(crate) struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl TempGuard {
    /// Guard `path` (it need not exist yet).
    pub(crate) fn new(path: PathBuf) -> TempGuard {
        TempGuard { path, armed: true }
    }

    /// The guarded path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Keep the path: it was renamed away or is wanted after all.
    pub(crate) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: a temporary that cannot be removed is only litter.
            if self.path.is_dir() {
                let _ = std::fs::remove_dir_all(&self.path);
            } else {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Rename `from` over `to` (atomic on one file system), naming both in the error.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), DataError> {
    std::fs::rename(from, to)
        .map_err(|e| DataError::io(to, &format!("rename {} to it", from.display()), e))
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

//! Replacing a file atomically: every file a command of ours writes goes through
//! [`write_atomic`], so that a reader, a crash or a kill sees the old file or the new one,
//! never a part of either.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary file beside `path` (same folder, so the rename cannot cross
/// file systems), flushes it to disk and renames it over `path`. On failure the temporary file
/// is removed and `path` is untouched.
///
/// # Errors
/// The I/O error, with the file it concerns: the temporary file when writing failed, `path`
/// when the rename did.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), (PathBuf, std::io::Error)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_data()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err((tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        (path.to_path_buf(), e)
    })
}

/// [`write_atomic`] with this crate's error: "cannot write" and the file.
pub(crate) fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), crate::AnalysisError> {
    write_atomic(path, bytes.as_ref())
        .map_err(|(p, e)| crate::AnalysisError::io("cannot write", &p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary_behind() {
        let dir = std::env::temp_dir().join(format!("scalinglab-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary left");
        // A folder that does not exist: the error names the temporary file, nothing is made.
        let (p, _) = write_atomic(&dir.join("missing").join("b.txt"), b"x").unwrap_err();
        assert!(p.to_string_lossy().contains(".b.txt."), "{}", p.display());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

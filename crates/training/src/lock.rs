//! One process per run directory: an OS file lock held for the life of the process.
//!
//! Two processes training in one directory retrain each other's finished runs and interleave
//! their rows in `results.csv`. Every command that writes a run directory therefore takes its
//! lock first:
//!
//! - a whole sweep (`scalinglab run`, `--collect`, `--fresh`, the reproductions) holds the
//!   directory's lock **exclusively**;
//! - a task of a job array (`--only`) holds it **shared**, so that many tasks can train side by
//!   side, and holds each of its runs' locks exclusively (`runs/.locks/<id>.lock`), so that a
//!   task requeued while its old process still runs is refused.
//!
//! The lock is `flock(2)` (`std::fs::File::try_lock`): the kernel releases it when the process
//! ends, however it ends, so a lock left by a killed process never blocks. The lock file holds
//! the holder's pid, host, start time and command line, which the refusal quotes.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::TrainingError;

/// Name of a run directory's lock file.
pub const LOCK_FILE: &str = ".scalinglab.lock";
/// Folder (under `runs/`) of the per-run locks that `--only` tasks take.
pub const RUN_LOCKS: &str = ".locks";

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    // Held for its lock; never read.
    _file: File,
}

/// Whether other holders may share the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// The only process in the directory (a whole sweep, a collect, a report).
    Exclusive,
    /// One of several job-array tasks, each with runs of its own.
    Shared,
}

/// Who holds a lock, as written into the lock file: `pid P on HOST since TIME (UTC): COMMAND`.
fn holder_line(mode: LockMode) -> String {
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "an unknown host".into());
    let command: Vec<String> = std::env::args().collect();
    format!(
        "pid {} on {host} since {} UTC ({}): {}",
        std::process::id(),
        utc_now(),
        match mode {
            LockMode::Exclusive => "exclusive",
            LockMode::Shared => "shared",
        },
        if command.is_empty() { "(library call)".to_string() } else { command.join(" ") }
    )
}

/// The current time as `YYYY-MM-DD HH:MM:SS`, UTC.
fn utc_now() -> String {
    utc(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS`, UTC.
fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

fn open_lock_file(path: &Path) -> Result<File, TrainingError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|source| TrainingError::Write { path: parent.to_path_buf(), source })?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| TrainingError::Write { path: path.to_path_buf(), source })
}

fn read_holder(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let text = text.trim();
    if text.is_empty() { "a process that left no name".into() } else { text.to_string() }
}

/// Tries to take `path`'s lock in `mode`; `Ok(None)` when another process holds it.
fn try_take(path: &Path, mode: LockMode) -> Result<Option<File>, TrainingError> {
    let file = open_lock_file(path)?;
    let taken = match mode {
        LockMode::Exclusive => file.try_lock(),
        LockMode::Shared => file.try_lock_shared(),
    };
    match taken {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(source)) => {
            Err(TrainingError::Write { path: path.to_path_buf(), source })
        }
    }
}

/// Writes the holder line into a lock file this process holds exclusively.
fn sign(file: &mut File, path: &Path, mode: LockMode) -> Result<(), TrainingError> {
    let write = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.write_all(holder_line(mode).as_bytes())?;
        file.write_all(b"\n")?;
        file.flush()
    };
    write(file).map_err(|source| TrainingError::Write { path: path.to_path_buf(), source })
}

/// Takes the lock of run directory `dir` (created if missing) for the life of the returned
/// guard.
///
/// # Errors
/// [`TrainingError::Locked`] naming the directory and the holder (pid, host, start time and
/// command; for `--only` tasks, the runs they hold) when another live process holds it.
pub fn lock_dir(dir: &Path, mode: LockMode) -> Result<DirLock, TrainingError> {
    let path = dir.join(LOCK_FILE);
    if let Some(mut file) = try_take(&path, mode)? {
        if mode == LockMode::Exclusive {
            sign(&mut file, &path, mode)?;
        }
        return Ok(DirLock { _file: file });
    }
    // Who holds it? An exclusive holder signed the file. If a shared lock can be had, the
    // holders are job-array tasks, which sign the locks of their runs instead.
    let holder = match (mode, try_take(&path, LockMode::Shared)?) {
        (LockMode::Exclusive, Some(_probe)) => {
            let runs = held_runs(&dir.join(crate::sweep::files::RUNS).join(RUN_LOCKS));
            if runs.is_empty() {
                "`--only` tasks (between runs)".to_string()
            } else {
                format!("`--only` tasks training {}", runs.join("; "))
            }
        }
        _ => read_holder(&path),
    };
    Err(TrainingError::Locked { dir: dir.to_path_buf(), holder })
}

/// The per-run locks under `locks` that some process holds, each as `ID (holder)`.
fn held_runs(locks: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(locks) else { return Vec::new() };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "lock"))
        .filter(|p| matches!(try_take(p, LockMode::Exclusive), Ok(None)))
        .map(|p| {
            let id = p.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
            format!("{id} ({})", read_holder(&p))
        })
        .collect();
    out.sort();
    out
}

/// Takes the exclusive lock of each run `id` of a job-array task (under `runs/.locks/`).
///
/// # Errors
/// [`TrainingError::Locked`] naming the run and its holder when another process trains it.
pub fn lock_runs(dir: &Path, ids: &[&str]) -> Result<Vec<DirLock>, TrainingError> {
    let locks = dir.join(crate::sweep::files::RUNS).join(RUN_LOCKS);
    let mut held = Vec::with_capacity(ids.len().min(1024));
    for id in ids {
        let path = locks.join(format!("{id}.lock"));
        match try_take(&path, LockMode::Exclusive)? {
            Some(mut file) => {
                sign(&mut file, &path, LockMode::Exclusive)?;
                held.push(DirLock { _file: file });
            }
            None => {
                return Err(TrainingError::Locked {
                    dir: dir.join(crate::sweep::files::RUNS).join(id),
                    holder: read_holder(&path),
                });
            }
        }
    }
    Ok(held)
}

/// Removes the per-run lock files once no task can be using them (the caller holds the
/// directory exclusively).
pub(crate) fn remove_run_locks(dir: &Path) {
    let _ = fs::remove_dir_all(dir.join(crate::sweep::files::RUNS).join(RUN_LOCKS));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("scalinglab-lock-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_second_exclusive_holder_is_refused_naming_the_first_and_a_dropped_lock_frees() {
        let dir = temp("excl");
        let first = lock_dir(&dir, LockMode::Exclusive).unwrap();
        let e = lock_dir(&dir, LockMode::Exclusive).unwrap_err().to_string();
        assert!(e.contains(&dir.display().to_string()), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains("UTC"), "{e}");
        // A shared taker is refused too.
        assert!(lock_dir(&dir, LockMode::Shared).is_err());
        drop(first);
        let _again = lock_dir(&dir, LockMode::Exclusive).unwrap();
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn tasks_share_the_directory_but_not_a_run_and_keep_a_sweep_out() {
        let dir = temp("shared");
        let _a = lock_dir(&dir, LockMode::Shared).unwrap();
        let _b = lock_dir(&dir, LockMode::Shared).unwrap();
        let _r = lock_runs(&dir, &["w16_D100"]).unwrap();
        let e = lock_runs(&dir, &["w32_D100", "w16_D100"]).unwrap_err().to_string();
        assert!(e.contains("w16_D100") && e.contains("pid"), "{e}");
        let e = lock_dir(&dir, LockMode::Exclusive).unwrap_err().to_string();
        assert!(e.contains("--only") && e.contains("w16_D100"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_709_164_800 + 3_723), "2024-02-29 01:02:03"); // a leap day
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00"); // a 400-year leap day
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59:59"); // 2100 is not a leap year
        assert_eq!(utc(4_107_542_400), "2100-03-01 00:00:00");
    }
}

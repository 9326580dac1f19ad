//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// A fresh, empty directory under the system's temporary directory, unique to this process
/// and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalinglab-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary directory should be writable");
    dir
}

/// Assert `|a − b| ≤ tol` with a message naming the quantity.
pub fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol})");
}

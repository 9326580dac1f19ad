//! Memory that input asks for, checked before anything is allocated: a size read from a file,
//! a config or a flag (a token budget, a width, a walk length, a point count) is turned into
//! bytes in checked arithmetic and compared with the machine's physical memory, so that an
//! impossible request is refused with its figure instead of aborting with "memory allocation
//! failed".

use crate::DataError;

/// Where `/proc/meminfo` cannot be read (not Linux): 64 GiB, a documented cap.
pub const FALLBACK_LIMIT: u64 = 64 << 30;

/// The most memory one allocation plan may ask for: the machine's physical memory
/// (`MemTotal` of `/proc/meminfo`), or [`FALLBACK_LIMIT`] where that cannot be read.
pub fn limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        })
        .unwrap_or(FALLBACK_LIMIT)
}

/// `n × m` bytes (or elements), `None` on overflow.
pub fn product(factors: &[u64]) -> Option<u64> {
    factors.iter().try_fold(1u64, |acc, &f| acc.checked_mul(f))
}

/// Refuses `bytes` (`None`: more than 2^64) beyond [`limit`], naming the field and its value
/// and what the memory is for, with the figure.
///
/// # Errors
/// [`DataError::Invalid`] for `field`.
pub fn check(
    field: &str,
    value: impl std::fmt::Display,
    what: &str,
    bytes: Option<u64>,
) -> Result<(), DataError> {
    let cap = limit();
    match bytes {
        Some(b) if b <= cap => Ok(()),
        Some(b) => Err(DataError::invalid(
            field,
            value,
            format!(
                "{what} would need {} of memory, more than this machine's {}",
                human(b),
                human(cap)
            ),
        )),
        None => Err(DataError::invalid(
            field,
            value,
            format!("{what} would need more than 2^64 bytes of memory"),
        )),
    }
}

/// Bytes as GiB (or MiB below one GiB).
pub fn human(bytes: u64) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_fit_with_the_figure() {
        assert!(limit() >= 1 << 20);
        check("tokens", 10, "the pool", Some(40)).unwrap();
        let e = check("tokens", 1e12, "the pool", product(&[1_000_000_000_000, 4])).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("tokens = 1000000000000") && e.contains("3725.3 GiB"), "{e}");
        let e = check("d", 7, "x", product(&[u64::MAX, 2])).unwrap_err().to_string();
        assert!(e.contains("2^64"), "{e}");
    }
}

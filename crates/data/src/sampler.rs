//! Batches of next-token windows drawn from a [`TokenShard`].
//!
//! A window is `context + 1` consecutive tokens `x[s..s + context + 1]`; its inputs are the
//! first `context` tokens and its targets the last `context` (inputs shifted by one), as in
//! [`TokenCorpus::batch`](crate::TokenCorpus::batch). Batches are plain row-major vectors,
//! ready for a `[batch, context]` integer tensor.
//!
//! * [`RandomWindows`] (training): each window start is uniform on
//!   `0..=len − (context + 1)`, independently, from a seeded stream. Windows may overlap, and
//!   over many batches every token is a target about equally often.
//! * [`SequentialWindows`] (evaluation): windows start at `0, context, 2·context, …`, so the
//!   targets are tokens `1..=K·context` each exactly once, where `K = ⌊(len − 1)/context⌋`;
//!   the last `len − 1 − K·context` tokens (fewer than `context`) are never targets.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::shard::TokenShard;
use crate::{DataError, WINDOW_STREAM, derive_seed};

/// One batch of windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Number of windows (rows).
    pub batch_size: usize,
    /// Tokens predicted per window.
    pub context: usize,
    /// Where each window starts in the shard.
    pub starts: Vec<usize>,
    /// `inputs[b · context + t] = x[starts[b] + t]`: `[batch_size, context]`, row-major.
    pub inputs: Vec<i64>,
    /// `targets[b · context + t] = x[starts[b] + t + 1]`: `[batch_size, context]`, row-major.
    pub targets: Vec<i64>,
}

impl Batch {
    /// Read the windows starting at `starts` from `shard`.
    fn read(shard: &TokenShard, context: usize, starts: Vec<usize>, buf: &mut Vec<u32>) -> Batch {
        let mut inputs = Vec::with_capacity(starts.len() * context);
        let mut targets = Vec::with_capacity(starts.len() * context);
        for &s in &starts {
            buf.clear();
            shard.read_into(s, context + 1, buf);
            inputs.extend(buf[..context].iter().map(|&t| i64::from(t)));
            targets.extend(buf[1..].iter().map(|&t| i64::from(t)));
        }
        Batch { batch_size: starts.len(), context, starts, inputs, targets }
    }
}

/// Check that a shard has at least one window of `context + 1` tokens.
fn check_window(shard: &TokenShard, context: usize, batch_size: usize) -> Result<(), DataError> {
    if context == 0 {
        return Err(DataError::invalid("context", 0, "must be at least 1"));
    }
    if batch_size == 0 {
        return Err(DataError::invalid("batch_size", 0, "must be at least 1"));
    }
    if shard.len() < context.saturating_add(1) {
        return Err(DataError::invalid(
            "context",
            context,
            format!(
                "needs windows of context + 1 tokens, but {} has only {} tokens",
                shard.path().display(),
                shard.len()
            ),
        ));
    }
    Ok(())
}

/// Training batches of uniformly random windows, an endless seeded stream (also an
/// [`Iterator`] that never ends).
#[derive(Debug)]
pub struct RandomWindows<'a> {
    shard: &'a TokenShard,
    context: usize,
    batch_size: usize,
    rng: ChaCha12Rng,
    buf: Vec<u32>,
}

impl<'a> RandomWindows<'a> {
    /// Batches of `batch_size` windows of `context + 1` tokens; the same shard and seed give
    /// the same batches.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] if `context` or `batch_size` is 0 or the shard is shorter than
    /// one window.
    pub fn new(
        shard: &'a TokenShard,
        context: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, DataError> {
        check_window(shard, context, batch_size)?;
        let rng = ChaCha12Rng::seed_from_u64(derive_seed(seed, WINDOW_STREAM, 0));
        Ok(RandomWindows { shard, context, batch_size, rng, buf: Vec::new() })
    }

    /// The next batch: `batch_size` windows, each `[context]` inputs and targets.
    pub fn next_batch(&mut self) -> Batch {
        let last_start = self.shard.len() - (self.context + 1);
        let starts = (0..self.batch_size).map(|_| self.rng.random_range(0..=last_start)).collect();
        Batch::read(self.shard, self.context, starts, &mut self.buf)
    }
}

impl Iterator for RandomWindows<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        Some(self.next_batch())
    }
}

/// Evaluation batches that cover the shard once in order (see the [module docs](self)); the
/// last batch may be smaller.
#[derive(Debug)]
pub struct SequentialWindows<'a> {
    shard: &'a TokenShard,
    context: usize,
    batch_size: usize,
    next_window: usize,
    buf: Vec<u32>,
}

impl<'a> SequentialWindows<'a> {
    /// Batches of up to `batch_size` windows, starts `0, context, 2·context, …`.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] if `context` or `batch_size` is 0 or the shard is shorter than
    /// one window.
    pub fn new(
        shard: &'a TokenShard,
        context: usize,
        batch_size: usize,
    ) -> Result<Self, DataError> {
        check_window(shard, context, batch_size)?;
        Ok(SequentialWindows { shard, context, batch_size, next_window: 0, buf: Vec::new() })
    }

    /// Number of windows `K = ⌊(len − 1)/context⌋`, hence `K·context` target tokens.
    pub fn num_windows(&self) -> usize {
        (self.shard.len() - 1) / self.context
    }

    /// Number of batches, `⌈K / batch_size⌉`.
    pub fn num_batches(&self) -> usize {
        self.num_windows().div_ceil(self.batch_size)
    }
}

impl Iterator for SequentialWindows<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let total = self.num_windows();
        if self.next_window >= total {
            return None;
        }
        let end = (self.next_window + self.batch_size).min(total);
        let starts = (self.next_window..end).map(|w| w * self.context).collect();
        self.next_window = end;
        Some(Batch::read(self.shard, self.context, starts, &mut self.buf))
    }
}

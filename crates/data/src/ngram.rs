//! n-gram language models estimated from token streams: exact entropy rates and seeded
//! sampling (the bigram rung of the "ladder of languages").
//!
//! # Estimation
//! An order-n model predicts a token from the `n − 1` before it (its history `h`). Counts
//! `c(h, w)` are taken over the whole token stream **closed into a cycle** (the last `n − 1`
//! tokens are followed by the first ones), `N` tokens giving exactly `N` n-grams. Closing the
//! cycle means every history that occurs also has a successor, and it makes the empirical
//! history frequencies `c(h)/N` exactly stationary for the maximum-likelihood model (each
//! occurrence of a history is entered by exactly one n-gram of the cycle).
//!
//! # Smoothing
//! Add-k (Lidstone), [`Smoothing::AddK`]:
//!
//! ```text
//! P(w | h) = (c(h, w) + k) / (c(h) + k·V),
//! ```
//!
//! `V` the vocabulary size. `k = 0` is maximum likelihood; for a history never seen the
//! formula's `k → 0` limit, the uniform distribution, is used. `k = 1` is Laplace smoothing.
//!
//! # Entropy rate
//! The model is a Markov chain on histories. For `k = 0` its stationary distribution is
//! `π_h = c(h)/N` (above), so the entropy rate is the plug-in conditional entropy of the
//! counts, in closed form:
//!
//! ```text
//! H = −Σ_{h,w} (c(h, w)/N) ln(c(h, w)/c(h))      (nats per token).
//! ```
//!
//! For `k > 0` every history can follow every other; the rate is computed on the full chain
//! over `V^(n−1)` histories ([`MarkovChain::from_rows`], power iteration) when it has at most
//! [`MAX_EXACT_TRANSITIONS`] transitions, and is `None` (unknown) otherwise.
//!
//! # Sampling
//! [`NgramModel::sample_into`] starts from a history drawn from the empirical history
//! distribution `c(h)/N` (stationary when `k = 0`), emits its `n − 1` tokens, then draws each
//! next token from `P(· | h)`: with probability `c(h)/(c(h) + kV)` from the observed successors
//! (an alias table, O(1)), otherwise uniformly.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use serde::Serialize;

use crate::sampling::{build_alias, draw_alias};
use crate::walk::MarkovChain;
use crate::{DataError, NGRAM_STREAM, derive_seed};

/// Most transitions of the chain built for an exact entropy rate with `k > 0`
/// (`V^n ≤ 2^22`, about 4 million).
pub const MAX_EXACT_TRANSITIONS: u64 = 1 << 22;

/// How an [`NgramModel`] turns counts into probabilities (see the [module docs](self)).
///
/// In TOML: `kind = "add_k"`, `k = 0.0` (maximum likelihood) or `k = 1.0` (Laplace).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Smoothing {
    /// `P(w | h) = (c(h, w) + k) / (c(h) + k·V)`.
    AddK {
        /// The pseudo-count `k ≥ 0`.
        k: f64,
    },
}

crate::tagged::deserialize_tagged! {
    Smoothing, tag = "kind", expecting = "a smoothing table with kind = \"add_k\"",
    AddK { k: f64 },
}

impl Default for Smoothing {
    /// Maximum likelihood (`k = 0`).
    fn default() -> Self {
        Smoothing::AddK { k: 0.0 }
    }
}

/// Streams tokens into n-gram counts; [`finish`](Self::finish) makes the model.
#[derive(Clone, Debug)]
pub struct NgramCounter {
    order: usize,
    vocab_size: usize,
    bits: u32,
    mask: u128,
    /// The first `order − 1` tokens, to close the cycle.
    head: Vec<u32>,
    /// The last `order − 1` tokens, packed.
    history: u128,
    seen: u64,
    counts: HashMap<(u128, u32), u64>,
}

impl NgramCounter {
    /// A counter for order-`order` n-grams (`order ≥ 2`, history of `order − 1` tokens) over
    /// tokens `< vocab_size`. Histories are packed into 128 bits, so
    /// `(order − 1) · ⌈log2 vocab_size⌉ ≤ 127`.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] for `order < 2`, `vocab_size` outside `1..2^32`, or histories
    /// that do not fit 127 bits.
    pub fn new(order: usize, vocab_size: usize) -> Result<NgramCounter, DataError> {
        if order < 2 {
            return Err(DataError::invalid("ngram.order", order, "must be at least 2"));
        }
        if vocab_size == 0 || vocab_size > u32::MAX as usize {
            return Err(DataError::invalid("vocab_size", vocab_size, "must be in 1..2^32"));
        }
        let bits = usize::BITS - (vocab_size - 1).leading_zeros();
        let bits = bits.max(1);
        let history_bits = (order as u64 - 1) * bits as u64;
        if history_bits > 127 {
            return Err(DataError::invalid(
                "ngram.order",
                order,
                format!(
                    "is too large for vocab_size = {vocab_size}: (order − 1) · {bits} bits \
                     exceeds 127"
                ),
            ));
        }
        let mask = (1u128 << history_bits) - 1;
        Ok(NgramCounter {
            order,
            vocab_size,
            bits,
            mask,
            head: Vec::with_capacity(order - 1),
            history: 0,
            seen: 0,
            counts: HashMap::new(),
        })
    }

    #[inline]
    fn shift(&self, history: u128, token: u32) -> u128 {
        ((history << self.bits) | token as u128) & self.mask
    }

    fn push_one(&mut self, t: u32) {
        if self.seen >= self.order as u64 - 1 {
            *self.counts.entry((self.history, t)).or_default() += 1;
        } else {
            self.head.push(t);
        }
        self.history = self.shift(self.history, t);
        self.seen += 1;
    }

    /// Continue the stream with `tokens`; each must be `< vocab_size`.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the first token `>= vocab_size` (by its position in the
    /// stream); none of `tokens` is counted then.
    pub fn push(&mut self, tokens: &[u32]) -> Result<(), DataError> {
        if let Some((k, &t)) =
            tokens.iter().enumerate().find(|&(_, &t)| t as usize >= self.vocab_size)
        {
            return Err(DataError::invalid(
                format!("token {} of the stream", self.seen + k as u64),
                t,
                format!("is out of range for vocab_size = {}", self.vocab_size),
            ));
        }
        for &t in tokens {
            self.push_one(t);
        }
        Ok(())
    }

    /// Tokens pushed so far.
    pub fn num_tokens(&self) -> u64 {
        self.seen
    }

    /// Close the cycle and build the model. Needs at least `order` tokens.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] when the smoothing's `k` is negative or not finite, or fewer
    /// than `order` tokens were pushed.
    pub fn finish(mut self, smoothing: Smoothing) -> Result<NgramModel, DataError> {
        let Smoothing::AddK { k } = smoothing;
        if !(k.is_finite() && k >= 0.0) {
            return Err(DataError::invalid("smoothing.k", k, "must be finite and ≥ 0"));
        }
        if self.seen < self.order as u64 {
            return Err(DataError::invalid(
                "tokens",
                self.seen,
                format!(
                    "are too few for an order-{} model (need at least {})",
                    self.order, self.order
                ),
            ));
        }
        let total = self.seen;
        let head = std::mem::take(&mut self.head);
        for t in head {
            *self.counts.entry((self.history, t)).or_default() += 1;
            self.history = self.shift(self.history, t);
        }
        let mut grams: Vec<((u128, u32), u64)> = self.counts.drain().collect();
        grams.sort_unstable_by_key(|&(key, _)| key);

        let mut keys: Vec<u128> = Vec::new();
        let mut offsets = vec![0usize];
        let mut totals: Vec<u64> = Vec::new();
        let mut tokens = Vec::with_capacity(grams.len());
        let mut counts = Vec::with_capacity(grams.len());
        for ((h, w), c) in grams {
            if keys.last() != Some(&h) {
                if !keys.is_empty() {
                    offsets.push(tokens.len());
                }
                keys.push(h);
                totals.push(0);
            }
            *totals.last_mut().expect("pushed above") += c;
            tokens.push(w);
            counts.push(c);
        }
        offsets.push(tokens.len());
        let index: HashMap<u128, u32> =
            keys.iter().enumerate().map(|(i, &h)| (h, i as u32)).collect();
        // The successor history of every entry is itself a history of the cycle.
        let mut next = Vec::with_capacity(tokens.len());
        for c in 0..keys.len() {
            for &w in &tokens[offsets[c]..offsets[c + 1]] {
                let succ = self.shift(keys[c], w);
                next.push(*index.get(&succ).expect("a cyclic stream's histories are closed"));
            }
        }
        let mut threshold = vec![0.0; tokens.len()];
        let mut alias = vec![0u32; tokens.len()];
        let mut probs = Vec::new();
        for c in 0..keys.len() {
            let (a, b) = (offsets[c], offsets[c + 1]);
            probs.clear();
            probs.extend(counts[a..b].iter().map(|&n| n as f64));
            build_alias(&probs, &mut threshold[a..b], &mut alias[a..b]);
        }
        let weights: Vec<f64> = totals.iter().map(|&n| n as f64).collect();
        let mut start_threshold = vec![0.0; keys.len()];
        let mut start_alias = vec![0u32; keys.len()];
        build_alias(&weights, &mut start_threshold, &mut start_alias);
        Ok(NgramModel {
            order: self.order,
            vocab_size: self.vocab_size,
            k,
            bits: self.bits,
            mask: self.mask,
            total,
            keys,
            index,
            totals,
            offsets,
            tokens,
            counts,
            next,
            threshold,
            alias,
            start_threshold,
            start_alias,
        })
    }
}

/// An n-gram language model (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct NgramModel {
    order: usize,
    vocab_size: usize,
    k: f64,
    bits: u32,
    mask: u128,
    /// Tokens counted (= n-grams, the stream being cyclic).
    total: u64,
    /// Observed histories, sorted, and their index.
    keys: Vec<u128>,
    index: HashMap<u128, u32>,
    /// c(h) per history.
    totals: Vec<u64>,
    /// Successors of history i: entries offsets[i]..offsets[i + 1].
    offsets: Vec<usize>,
    tokens: Vec<u32>,
    counts: Vec<u64>,
    /// History index after each entry.
    next: Vec<u32>,
    threshold: Vec<f64>,
    alias: Vec<u32>,
    start_threshold: Vec<f64>,
    start_alias: Vec<u32>,
}

/// Where a sampler is: an observed history (by index) or an unseen one (packed).
#[derive(Clone, Copy)]
enum State {
    Seen(u32),
    Unseen(u128),
}

impl NgramModel {
    /// Estimate from one token stream (see [`NgramCounter`] to stream many pieces).
    ///
    /// # Errors
    ///
    /// The errors of [`NgramCounter::new`], [`NgramCounter::push`] and
    /// [`NgramCounter::finish`].
    ///
    /// # Examples
    ///
    /// A bigram model of `0 1 2 0 1 2 …` is deterministic (entropy rate 0) under maximum
    /// likelihood; add-one smoothing spreads probability over the whole vocabulary:
    ///
    /// ```
    /// use scalinglab_data::{NgramModel, Smoothing};
    ///
    /// let tokens: Vec<u32> = (0..300).map(|i| i % 3).collect();
    /// let ml = NgramModel::estimate(2, 3, Smoothing::AddK { k: 0.0 }, &tokens)?;
    /// assert_eq!(ml.probability(&[0], 1), 1.0);
    /// assert_eq!(ml.entropy_rate()?, Some(0.0)); // nats per token
    /// let laplace = NgramModel::estimate(2, 3, Smoothing::AddK { k: 1.0 }, &tokens)?;
    /// assert!((laplace.probability(&[0], 1) - 101.0 / 103.0).abs() < 1e-12);
    /// assert!(laplace.entropy_rate()?.unwrap() > 0.0);
    /// # Ok::<(), scalinglab_data::DataError>(())
    /// ```
    pub fn estimate(
        order: usize,
        vocab_size: usize,
        smoothing: Smoothing,
        tokens: &[u32],
    ) -> Result<NgramModel, DataError> {
        let mut counter = NgramCounter::new(order, vocab_size)?;
        counter.push(tokens)?;
        counter.finish(smoothing)
    }

    /// The order n (history of n − 1 tokens).
    pub fn order(&self) -> usize {
        self.order
    }

    /// Vocabulary size V.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The add-k pseudo-count.
    pub fn smoothing(&self) -> Smoothing {
        Smoothing::AddK { k: self.k }
    }

    /// Number of tokens (and n-grams) counted, N.
    pub fn num_tokens(&self) -> u64 {
        self.total
    }

    /// Number of distinct histories observed.
    pub fn num_histories(&self) -> usize {
        self.keys.len()
    }

    /// Number of distinct n-grams observed.
    pub fn num_ngrams(&self) -> usize {
        self.tokens.len()
    }

    fn pack(&self, history: &[u32]) -> Option<u128> {
        if history.len() != self.order - 1 || history.iter().any(|&t| t as usize >= self.vocab_size)
        {
            return None;
        }
        Some(history.iter().fold(0u128, |h, &t| ((h << self.bits) | t as u128) & self.mask))
    }

    /// `c(h, w)`; 0 for anything unseen or malformed (wrong history length, tokens out of
    /// range).
    pub fn count(&self, history: &[u32], token: u32) -> u64 {
        let Some(i) = self.pack(history).and_then(|h| self.index.get(&h)) else { return 0 };
        let (a, b) = (self.offsets[*i as usize], self.offsets[*i as usize + 1]);
        match self.tokens[a..b].binary_search(&token) {
            Ok(e) => self.counts[a + e],
            Err(_) => 0,
        }
    }

    /// `P(token | history)` under the smoothing (0 for malformed arguments).
    pub fn probability(&self, history: &[u32], token: u32) -> f64 {
        let Some(h) = self.pack(history) else { return 0.0 };
        if token as usize >= self.vocab_size {
            return 0.0;
        }
        let v = self.vocab_size as f64;
        match self.index.get(&h) {
            None => 1.0 / v,
            Some(&i) => {
                let c = self.totals[i as usize] as f64;
                (self.count(history, token) as f64 + self.k) / (c + self.k * v)
            }
        }
    }

    /// Exact entropy rate in nats per token, when computable (see the [module docs](self)): always
    /// for `k = 0`; for `k > 0` when `V^n ≤` [`MAX_EXACT_TRANSITIONS`].
    ///
    /// # Errors
    ///
    /// [`DataError::NotConverged`] only, if the power iteration fails to converge.
    pub fn entropy_rate(&self) -> Result<Option<f64>, DataError> {
        if self.k == 0.0 {
            let n = self.total as f64;
            let mut h = 0.0;
            for i in 0..self.keys.len() {
                let c_h = self.totals[i] as f64;
                for &c in &self.counts[self.offsets[i]..self.offsets[i + 1]] {
                    let c = c as f64;
                    h -= c / n * (c / c_h).ln();
                }
            }
            return Ok(Some(h));
        }
        let Some(chain) = self.history_chain()? else { return Ok(None) };
        Ok(Some(chain.entropy_rate()))
    }

    /// The Markov chain on all `V^(n−1)` histories (history `h` is state
    /// `Σ_j h_j V^(n−2−j)`), when it has at most [`MAX_EXACT_TRANSITIONS`] transitions
    /// (`V^n`, or fewer when `k = 0`). For a bigram model the states are the tokens.
    ///
    /// # Errors
    ///
    /// [`DataError::NotConverged`] if the chain's stationary distribution does not converge
    /// (see [`MarkovChain::from_rows`]).
    pub fn history_chain(&self) -> Result<Option<MarkovChain>, DataError> {
        let v = self.vocab_size as u64;
        let Some(states) = v.checked_pow(self.order as u32 - 1) else { return Ok(None) };
        if states.saturating_mul(v) > MAX_EXACT_TRANSITIONS && self.k > 0.0 {
            return Ok(None);
        }
        if states > MAX_EXACT_TRANSITIONS {
            return Ok(None);
        }
        let mut rows = Vec::with_capacity(states as usize);
        let mut history = vec![0u32; self.order - 1];
        let mut budget = MAX_EXACT_TRANSITIONS;
        for s in 0..states {
            // Digits of s in base V, most significant first.
            let mut rest = s;
            for slot in history.iter_mut().rev() {
                *slot = (rest % v) as u32;
                rest /= v;
            }
            let shift_state = |w: u32| ((s * v + w as u64) % states) as u32;
            let seen = self.pack(&history).and_then(|h| self.index.get(&h)).copied();
            let row: Vec<(u32, f64)> = match seen {
                Some(i) if self.k == 0.0 => {
                    let (a, b) = (self.offsets[i as usize], self.offsets[i as usize + 1]);
                    let c = self.totals[i as usize] as f64;
                    (a..b)
                        .map(|e| (shift_state(self.tokens[e]), self.counts[e] as f64 / c))
                        .collect()
                }
                _ => {
                    (0..v as u32).map(|w| (shift_state(w), self.probability(&history, w))).collect()
                }
            };
            budget = match budget.checked_sub(row.len() as u64) {
                Some(b) => b,
                None => return Ok(None),
            };
            rows.push(row);
        }
        MarkovChain::from_rows(rows).map(Some)
    }

    /// A seeded sample of `len` tokens (see [`sample_into`](Self::sample_into)).
    pub fn sample(&self, len: usize, seed: u64) -> Vec<u32> {
        let mut out = Vec::with_capacity(len);
        let mut rng = ChaCha12Rng::seed_from_u64(derive_seed(seed, NGRAM_STREAM, 0));
        self.sample_into(len, &mut rng, &mut out);
        out
    }

    /// Append `len` sampled tokens to `out`: a start history drawn from `c(h)/N` (its
    /// `n − 1` tokens come first), then one draw per token (see the [module docs](self)).
    pub fn sample_into(&self, len: usize, rng: &mut impl Rng, out: &mut Vec<u32>) {
        if len == 0 {
            return;
        }
        out.reserve(len);
        let end = out.len() + len;
        let start = draw_alias(&self.start_threshold, &self.start_alias, rng);
        let key = self.keys[start];
        for j in (0..self.order - 1).rev() {
            if out.len() == end {
                return;
            }
            out.push(((key >> (j as u32 * self.bits)) & ((1u128 << self.bits) - 1)) as u32);
        }
        let v = self.vocab_size as f64;
        let mut state = State::Seen(start as u32);
        while out.len() < end {
            let (token, next) = match state {
                State::Seen(i) => {
                    let i = i as usize;
                    let c = self.totals[i] as f64;
                    let smoothed = self.k > 0.0 && rng.random::<f64>() * (c + self.k * v) >= c;
                    if smoothed {
                        let w = rng.random_range(0..self.vocab_size as u32);
                        (w, self.locate(self.shift(self.keys[i], w)))
                    } else {
                        let (a, b) = (self.offsets[i], self.offsets[i + 1]);
                        let e = a + draw_alias(&self.threshold[a..b], &self.alias[a..b], rng);
                        (self.tokens[e], State::Seen(self.next[e]))
                    }
                }
                State::Unseen(h) => {
                    let w = rng.random_range(0..self.vocab_size as u32);
                    (w, self.locate(self.shift(h, w)))
                }
            };
            out.push(token);
            state = next;
        }
    }

    #[inline]
    fn shift(&self, history: u128, token: u32) -> u128 {
        ((history << self.bits) | token as u128) & self.mask
    }

    fn locate(&self, history: u128) -> State {
        match self.index.get(&history) {
            Some(&i) => State::Seen(i),
            None => State::Unseen(history),
        }
    }
}

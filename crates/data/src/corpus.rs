//! Fixed-length token sequences for next-token training.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use crate::DataError;
use crate::walk::MarkovChain;

/// Token sequences of fixed length for next-token training.
///
/// Each sequence has `seq_len + 1` tokens: the inputs are its first `seq_len` tokens and the
/// targets its last `seq_len` (inputs shifted by one). Sequences are stored back to back in
/// one flat vector.
///
/// The fields are public for reading; changing them breaks the corpus's invariants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenCorpus {
    /// Every token is `< vocab_size`.
    pub vocab_size: usize,
    /// Number of predicted tokens per sequence (the model's context length).
    pub seq_len: usize,
    tokens: Vec<u32>,
}

impl TokenCorpus {
    /// A corpus from flat tokens: `tokens.len()` must be a multiple of `seq_len + 1` and every
    /// token `< vocab_size`.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] when the length is not a multiple of `seq_len + 1` (or
    /// `seq_len + 1` overflows), or naming the first token `>= vocab_size`.
    pub fn new(
        vocab_size: usize,
        seq_len: usize,
        tokens: Vec<u32>,
    ) -> Result<TokenCorpus, DataError> {
        let stride = seq_len
            .checked_add(1)
            .ok_or_else(|| DataError::invalid("seq_len", seq_len, "is too large"))?;
        if !tokens.len().is_multiple_of(stride) {
            return Err(DataError::invalid(
                "tokens.len()",
                tokens.len(),
                format!("is not a multiple of seq_len + 1 = {stride}"),
            ));
        }
        if let Some((k, &t)) = tokens.iter().enumerate().find(|&(_, &t)| t as usize >= vocab_size) {
            return Err(DataError::invalid(
                format!("tokens[{k}]"),
                t,
                format!("is out of range for vocab_size = {vocab_size}"),
            ));
        }
        Ok(TokenCorpus { vocab_size, seq_len, tokens })
    }

    /// `n_sequences` independent stationary walks of `seq_len + 1` tokens each, drawn one after
    /// another from a [`ChaCha12Rng`] seeded with `seed`. The vocabulary is the chain's states.
    ///
    /// Because walks are drawn in order from one stream, the first `k` sequences do not depend
    /// on `n_sequences`: `from_walks(c, s, n, seed).take(k) == from_walks(c, s, k, seed)`.
    pub fn from_walks(
        chain: &MarkovChain,
        seq_len: usize,
        n_sequences: usize,
        seed: u64,
    ) -> TokenCorpus {
        let stride = seq_len.saturating_add(1);
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        let mut tokens = Vec::with_capacity(stride.saturating_mul(n_sequences));
        for _ in 0..n_sequences {
            chain.sample_walk_into(stride, &mut rng, &mut tokens);
        }
        TokenCorpus { vocab_size: chain.num_states(), seq_len, tokens }
    }

    /// Number of sequences.
    pub fn num_sequences(&self) -> usize {
        self.tokens.len() / (self.seq_len + 1)
    }

    /// Number of predicted (target) tokens, `num_sequences · seq_len`: the "D" of scaling
    /// laws.
    pub fn num_target_tokens(&self) -> u64 {
        self.num_sequences() as u64 * self.seq_len as u64
    }

    /// All tokens, sequence after sequence.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Sequence `i`: `seq_len + 1` tokens.
    ///
    /// # Panics
    /// If `i >= num_sequences()`, like slice indexing.
    pub fn sequence(&self, i: usize) -> &[u32] {
        let stride = self.seq_len + 1;
        &self.tokens[i * stride..(i + 1) * stride]
    }

    /// The first `n` sequences (all of them if there are fewer) as a new corpus, for nested
    /// training sets.
    pub fn take(&self, n: usize) -> TokenCorpus {
        let n = n.min(self.num_sequences());
        TokenCorpus {
            vocab_size: self.vocab_size,
            seq_len: self.seq_len,
            tokens: self.tokens[..n * (self.seq_len + 1)].to_vec(),
        }
    }

    /// Inputs and targets of the sequences `indices`, each flat and row-major
    /// (`indices.len() · seq_len` values, ready for a `[batch, seq_len]` integer tensor):
    /// `inputs[b][t] = sequence(indices[b])[t]`, `targets[b][t] = sequence(indices[b])[t + 1]`.
    ///
    /// # Panics
    /// If an index is `>= num_sequences()`.
    pub fn batch(&self, indices: &[usize]) -> (Vec<i64>, Vec<i64>) {
        let mut inputs = Vec::with_capacity(indices.len() * self.seq_len);
        let mut targets = Vec::with_capacity(indices.len() * self.seq_len);
        for &i in indices {
            let seq = self.sequence(i);
            inputs.extend(seq[..self.seq_len].iter().map(|&t| i64::from(t)));
            targets.extend(seq[1..].iter().map(|&t| i64::from(t)));
        }
        (inputs, targets)
    }
}

//! The learner's floor: the lowest expected held-out loss any model can reach on the windows a
//! sweep shows it. This, not the generating process's entropy rate, is what a fitted offset E
//! is compared with and what a fit with E pinned uses.
//!
//! The two differ whenever the windows are not the process's own units. A sweep's windows are
//! consecutive, non-overlapping runs of `context + 1` tokens of the data. When the data are
//! walks of `L` tokens, each starting afresh from the stationary distribution π, a window that
//! straddles two walks holds a restart: a token drawn from π, independent of its prefix. The
//! model sees neither where walks start nor which window it is given, so its floor is the
//! mean over predicted positions of `H(X_i | X_0 … X_{i−1})` where the window's phase (the
//! position in its walk of its first token) is unknown. That is the loss of the Bayes
//! predictor that keeps a posterior over phases:
//!
//! ```text
//! p(x_i | x_<i) = Σ_φ P(φ | x_<i) q_φ(x_i | x_{i−1}),   q_φ = π(x_i) if φ + i ≡ 0 (mod L),
//!                                                        P(x_{i−1}, x_i) otherwise,
//! ```
//!
//! with a uniform prior over the phases the windows take (multiples of gcd(context + 1, L)
//! modulo L). [`walk_window_floor`] computes its mean loss over held-out windows, with the
//! standard error over windows. With `L = context + 1` every window is one walk, no position
//! is a restart, and the floor is the entropy rate exactly.
//!
//! For other shards the builder may record the floor for windows that are exactly its
//! documents ([`scalinglab_data::WindowFloor`]); with any other window the floor is unknown,
//! and the sweep then fits E freely instead of pinning it to a wrong value.

use scalinglab_data::{MarkovChain, ShardHeader, TokenCorpus, WalkConfig};

/// The reference loss of a sweep's data and how it was obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnerFloor {
    /// The floor in nats per predicted token and its standard error (0 when exact); `None`
    /// when it is not known for these windows.
    pub value: Option<(f64, f64)>,
    /// The generating process's own entropy rate, when known (shown beside the floor).
    pub process_rate: Option<f64>,
    /// How the floor was obtained, or why it is unknown: one sentence for the report.
    pub basis: String,
    /// The loss of the best predictor on exactly the held-out windows, where it can be
    /// computed (walks); NaN otherwise.
    pub eval_oracle: f64,
}

impl LearnerFloor {
    /// The floor, NaN when unknown (the analysis then fits E freely).
    pub fn loss(&self) -> f64 {
        self.value.map_or(f64::NAN, |(v, _)| v)
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The Bayes floor of windows cut from stationary walks of `walk_length` tokens (see the
/// module documentation), estimated on `eval`'s windows: (mean, standard error over windows).
///
/// # Errors
/// A message naming the window and position when a held-out transition is impossible under
/// `chain` at every phase (the data are not walks of this chain), or when there is no window.
pub fn walk_window_floor(
    chain: &MarkovChain,
    walk_length: usize,
    eval: &TokenCorpus,
) -> Result<(f64, f64), String> {
    if walk_length == 0 {
        return Err("walk_length is 0".into());
    }
    let n = eval.num_sequences();
    let c = eval.seq_len;
    if n == 0 || c == 0 {
        return Err("no held-out window to measure the floor on".into());
    }
    let pi = chain.stationary();
    let step = gcd(c + 1, walk_length);
    let phases: Vec<usize> = (0..walk_length).step_by(step).collect();
    let mut post = vec![0.0; phases.len()];
    let mut losses = Vec::with_capacity(n.min(1 << 20));
    for w in 0..n {
        let seq = eval.sequence(w);
        post.fill(1.0 / phases.len() as f64);
        let mut total = 0.0;
        for i in 1..=c {
            let (a, b) = (seq[i - 1], seq[i]);
            let row = chain.row(a as usize);
            let trans = row.binary_search_by_key(&b, |&(j, _)| j).map_or(0.0, |k| row[k].1);
            let restart = pi.get(b as usize).copied().unwrap_or(0.0);
            let mut p = 0.0;
            for (k, &phi) in phases.iter().enumerate() {
                let q = if (phi + i) % walk_length == 0 { restart } else { trans };
                post[k] *= q;
                p += post[k];
            }
            if !(p > 0.0) {
                return Err(format!(
                    "held-out window {w}, position {i}: the transition {a} → {b} is impossible \
                     under the walk chain at every phase"
                ));
            }
            // `post` held P(φ | x_<i); after the products it sums to p(x_i | x_<i).
            total -= p.ln();
            post.iter_mut().for_each(|x| *x /= p);
        }
        losses.push(total / c as f64);
    }
    let mean = losses.iter().sum::<f64>() / n as f64;
    Ok((mean, cycle_standard_error(&losses, walk_length / step)))
}

/// Standard error of the mean of `losses`, windows cut one after another from a stream of
/// walks: their phases repeat every `period` windows, so the phase mix of a held-out set is
/// fixed, not drawn. The spread of the means of whole cycles (each holds every phase once)
/// measures what varies; the spread of single windows would add the phases' differences and
/// overstate it (a nominal ±1.96 se covered the true floor in 100% of 200 held-out sets). With
/// fewer than two whole cycles, the window spread is used (conservative).
fn cycle_standard_error(losses: &[f64], period: usize) -> f64 {
    let spread = |xs: &[f64]| {
        let k = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / k;
        (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (k - 1.0) / k).sqrt()
    };
    let cycles = losses.len() / period.max(1);
    if cycles >= 2 && period > 1 {
        let means: Vec<f64> =
            losses.chunks_exact(period).map(|c| c.iter().sum::<f64>() / period as f64).collect();
        spread(&means)
    } else if losses.len() > 1 {
        spread(losses)
    } else {
        0.0
    }
}

/// The floor of a sweep that trains on in-memory walks: each sequence is one stationary walk
/// of `context + 1` tokens, so the floor is the entropy rate exactly.
pub fn aligned_walk_floor(chain: &MarkovChain) -> LearnerFloor {
    LearnerFloor {
        value: Some((chain.entropy_rate(), 0.0)),
        process_rate: Some(chain.entropy_rate()),
        basis: "every window is one stationary walk, so the learner's floor is the chain's \
                entropy rate exactly"
            .into(),
        eval_oracle: f64::NAN,
    }
}

/// The floor of a sweep that trains on the shard with `header`, evaluated on `eval` (windows of
/// `context + 1` tokens).
pub fn shard_floor(header: &ShardHeader, eval: &TokenCorpus) -> LearnerFloor {
    let window = eval.seq_len as u64 + 1;
    let process_rate = header.entropy_rate;
    let unknown =
        |why: String| LearnerFloor { value: None, process_rate, basis: why, eval_oracle: f64::NAN };
    // Walks: the chain can be rebuilt from the header, and the floor computed for any window.
    if let Some(json) = header.source.strip_prefix("random walks: ") {
        let walk_length = header.window_floor.map(|f| f.window as usize);
        let chain = serde_json::from_str::<WalkConfig>(json)
            .map_err(|e| e.to_string())
            .and_then(|w| w.build().map_err(|e| e.to_string()));
        return match (chain, walk_length) {
            (Ok(chain), Some(l)) => match walk_window_floor(&chain, l, eval) {
                Ok((mean, se)) => LearnerFloor {
                    // Aligned windows: the floor is the rate exactly (`mean` estimates it).
                    value: Some(if l as u64 == window {
                        (chain.entropy_rate(), 0.0)
                    } else {
                        (mean, se)
                    }),
                    process_rate,
                    eval_oracle: mean,
                    basis: if l as u64 == window {
                        "every window is one stationary walk, so the learner's floor is the \
                         chain's entropy rate exactly"
                            .into()
                    } else {
                        format!(
                            "walks of {l} tokens under windows of {window}: windows straddle \
                             walks, and the floor is the loss of the Bayes predictor that does \
                             not know where a walk restarts, measured on the held-out windows"
                        )
                    },
                },
                Err(e) => unknown(format!("the walk floor could not be computed: {e}")),
            },
            (Err(e), _) => unknown(format!("the shard's walk chain could not be rebuilt: {e}")),
            (_, None) => unknown(
                "the shard does not record its walk length (written by an older version)".into(),
            ),
        };
    }
    match header.window_floor {
        Some(f) if f.window == window => LearnerFloor {
            value: Some((f.loss, f.se)),
            process_rate,
            eval_oracle: f64::NAN,
            basis: "each window is one of the shard's documents, whose floor its builder \
                    recorded"
                .into(),
        },
        Some(f) => unknown(format!(
            "the shard records the floor of windows of {} tokens (its documents), but this \
             sweep's windows are {window} tokens and cut across documents",
            f.window
        )),
        None if process_rate.is_some() => unknown(
            "the shard records its process's entropy rate but not the floor of a learner that \
             sees a finite window of it (the two differ where the first tokens of a window are \
             harder to predict than the rate)"
                .into(),
        ),
        None => unknown("the shard records no entropy rate".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;
    use scalinglab_data::{GraphSpec, WalkBias};

    fn chain() -> MarkovChain {
        let w = WalkConfig {
            graph: GraphSpec::ErdosRenyi { nodes: 64, edges: 256 },
            bias: WalkBias::Unbiased,
            seed: 3,
        };
        w.build().unwrap()
    }

    /// A shard-like stream of walks of `l` tokens, cut into windows of `c + 1`.
    fn windows(chain: &MarkovChain, l: usize, c: usize, n: usize, seed: u64) -> TokenCorpus {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        let mut stream = Vec::new();
        while stream.len() < n * (c + 1) {
            chain.sample_walk_into(l, &mut rng, &mut stream);
        }
        stream.truncate(n * (c + 1));
        TokenCorpus::new(chain.num_states(), c, stream).unwrap()
    }

    #[test]
    fn aligned_windows_have_the_entropy_rate_as_floor() {
        let ch = chain();
        let eval = windows(&ch, 17, 16, 400, 1);
        let (mean, se) = walk_window_floor(&ch, 17, &eval).unwrap();
        // The Bayes predictor is the chain itself: its loss is the oracle loss on these
        // tokens, which estimates H.
        assert!((mean - crate::sweep::oracle_loss(&ch, &eval)).abs() < 1e-12);
        assert!((mean - ch.entropy_rate()).abs() < 4.0 * se + 1e-3, "{mean} ± {se}");
    }

    /// Fraction of `repeats` fresh held-out sets on which `floor ± 1.96·se` contains `truth`.
    fn floor_coverage(ch: &MarkovChain, l: usize, c: usize, n: usize, truth: f64) -> f64 {
        let repeats = 200;
        let covered = (0..repeats)
            .filter(|&r| {
                let (mean, se) = walk_window_floor(ch, l, &windows(ch, l, c, n, 1000 + r)).unwrap();
                (mean - truth).abs() <= 1.96 * se
            })
            .count();
        covered as f64 / repeats as f64
    }

    /// The floor's standard error is calibrated ("Every number earned"): over 200 fresh
    /// held-out sets of 100 windows, `floor ± 1.96·se` contains the true floor in 90–99% of them
    /// (180 or fewer of 200 has a probability of 0.2% at a true 95%). Aligned windows: the truth
    /// is the entropy rate exactly. Walks of 20 under windows of 8 (a restart inside two
    /// windows in five): the truth is the same estimator on 100,000 windows (its standard error
    /// about 40 times smaller than the one being checked).
    #[test]
    fn the_floor_standard_error_is_calibrated() {
        let ch = chain();
        let aligned = floor_coverage(&ch, 17, 16, 100, ch.entropy_rate());
        let (truth, truth_se) =
            walk_window_floor(&ch, 20, &windows(&ch, 20, 7, 100_000, 7)).unwrap();
        // Phases repeat every 5 windows: 20 cycles, a t with 19 degrees of freedom (±1.96
        // covers 93.5%).
        let straddling = floor_coverage(&ch, 20, 7, 100, truth);
        eprintln!(
            "walk floor ± 1.96 se, nominal 95%: aligned windows {:.1}%, straddling windows {:.1}% \
             (truth {truth:.4} ± {truth_se:.5})",
            100.0 * aligned,
            100.0 * straddling
        );
        for (kind, achieved) in [("aligned", aligned), ("straddling", straddling)] {
            assert!((0.90..=0.99).contains(&achieved), "{kind}: covered {achieved}");
        }
    }

    #[test]
    fn straddling_windows_lie_between_the_known_restart_oracle_and_a_fixed_mixture() {
        // Walks of 100 tokens under windows of 51: one predicted position in 100 is a restart.
        let ch = chain();
        let (l, c) = (100, 50);
        let eval = windows(&ch, l, c, 4000, 2);
        let (floor, se) = walk_window_floor(&ch, l, &eval).unwrap();
        let pi = ch.stationary();
        let p = |a: u32, b: u32| {
            ch.row(a as usize).iter().find(|(j, _)| *j == b).map_or(0.0, |&(_, p)| p)
        };
        // An oracle that knows where each walk restarts (it cannot be beaten by one that does
        // not), and the predictor that mixes π in with the restart rate 1/L at every position
        // (it cannot beat the Bayes predictor), both on the same windows.
        let (mut known, mut mixed, mut count) = (0.0, 0.0, 0.0);
        for w in 0..eval.num_sequences() {
            let seq = eval.sequence(w);
            for i in 1..=c {
                let (a, b) = (seq[i - 1], seq[i]);
                let restart = (w * (c + 1) + i) % l == 0;
                known -= if restart { pi[b as usize] } else { p(a, b) }.ln();
                let r = 1.0 / l as f64;
                mixed -= ((1.0 - r) * p(a, b) + r * pi[b as usize]).ln();
                count += 1.0;
            }
        }
        let (known, mixed) = (known / count, mixed / count);
        assert!(known < floor && floor < mixed, "{known} < {floor} ± {se} < {mixed}");
        // The closed form of the known-restart floor: H + (H(π) − H)/L.
        let h = ch.entropy_rate();
        let closed = h + (ch.unigram_entropy() - h) / l as f64;
        assert!((known - closed).abs() < 0.02, "known-restart loss {known} against {closed}");
        assert!(floor - h > 0.5 * (closed - h), "the floor sits above H: {floor} vs {h}");
    }

    #[test]
    fn windows_that_are_not_walks_of_the_chain_are_refused() {
        let ch = chain();
        let mut eval = windows(&ch, 17, 16, 10, 3).tokens().to_vec();
        // A token that cannot follow its predecessor (a self-loop; ER graphs have none).
        eval[5] = eval[4];
        let eval = TokenCorpus::new(ch.num_states(), 16, eval).unwrap();
        let e = walk_window_floor(&ch, 17, &eval).unwrap_err();
        assert!(e.contains("window 0, position 5"), "{e}");
    }
}

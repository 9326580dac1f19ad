//! Markov chains from random walks on graphs: stationary distribution, entropy rate, sampling.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rand_distr::Exp1;
use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphReport, GraphSpec};
use crate::sampling::{build_alias, draw_alias};
use crate::{BIAS_STREAM, DataError, derive_seed};

/// How a walker picks the next node among the current node's neighbours.
///
/// In TOML: `kind = "unbiased"`, or `kind = "power_law"` with `exponent = 1.5`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "WalkBiasRepr", into = "WalkBiasRepr")]
pub enum WalkBias {
    /// Uniform over neighbours: `P_ij = 1 / deg_i`.
    #[default]
    Unbiased,
    /// Power-law edge weights. Each undirected edge `{i, j}` gets one weight
    ///
    /// ```text
    /// w_ij = w_ji = U_ij^(−a),   U_ij ~ Uniform(0, 1) i.i.d.,   a = exponent,
    /// ```
    ///
    /// i.e. a Pareto law with minimum 1 and tail index 1/a: `P(w > x) = x^(−1/a)` for
    /// `x ≥ 1` (equivalently `ln w = a·ξ` with `ξ ~ Exp(1)`). The walk moves along an edge with
    /// probability proportional to its weight, `P_ij = w_ij / Σ_k w_ik`. Weights are symmetric,
    /// so the walk is reversible with `π_i = s_i / Σ_k s_k`, `s_i = Σ_k w_ik`.
    /// `a = 0` is the unbiased walk; larger `a` concentrates each row on fewer edges.
    /// Weights are drawn in ascending edge order `(i, j)`, `i < j`, from the chain's seed.
    PowerLaw {
        /// The exponent `a`, in `[0, 1000]`.
        exponent: f64,
    },
}

/// The serialised form of [`WalkBias`]. serde ignores extra fields next to the tag of a unit
/// variant even with `deny_unknown_fields`, so `Unbiased` is an empty struct variant here, and
/// `kind = "unbiased"` with a stray `exponent` is rejected.
#[derive(Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum WalkBiasRepr {
    Unbiased {},
    PowerLaw { exponent: f64 },
}

crate::tagged::deserialize_tagged! {
    WalkBiasRepr, tag = "kind", expecting = "a bias table with kind = \"unbiased\" or \
        \"power_law\"",
    Unbiased {},
    PowerLaw { exponent: f64 },
}

impl From<WalkBiasRepr> for WalkBias {
    fn from(repr: WalkBiasRepr) -> Self {
        match repr {
            WalkBiasRepr::Unbiased {} => WalkBias::Unbiased,
            WalkBiasRepr::PowerLaw { exponent } => WalkBias::PowerLaw { exponent },
        }
    }
}

impl From<WalkBias> for WalkBiasRepr {
    fn from(bias: WalkBias) -> Self {
        match bias {
            WalkBias::Unbiased => WalkBiasRepr::Unbiased {},
            WalkBias::PowerLaw { exponent } => WalkBiasRepr::PowerLaw { exponent },
        }
    }
}

/// Largest accepted [`WalkBias::PowerLaw`] exponent (beyond it log-weights risk overflow).
pub const MAX_POWER_LAW_EXPONENT: f64 = 1000.0;

impl WalkBias {
    /// Check the parameters.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming `bias.exponent` when it is outside
    /// `[0, MAX_POWER_LAW_EXPONENT]` (NaN included).
    pub fn validate(&self) -> Result<(), DataError> {
        match *self {
            WalkBias::Unbiased => Ok(()),
            WalkBias::PowerLaw { exponent } => {
                if (0.0..=MAX_POWER_LAW_EXPONENT).contains(&exponent) {
                    Ok(())
                } else {
                    Err(DataError::invalid(
                        "bias.exponent",
                        exponent,
                        format!("must be between 0 and {MAX_POWER_LAW_EXPONENT}"),
                    ))
                }
            }
        }
    }
}

/// Default L1 tolerance of [`MarkovChain::stationary_power_iteration`] in
/// [`MarkovChain::from_rows`].
pub const POWER_ITERATION_TOLERANCE: f64 = 1e-12;
/// Default iteration cap of [`MarkovChain::stationary_power_iteration`] in
/// [`MarkovChain::from_rows`].
pub const POWER_ITERATION_MAX_ITERATIONS: usize = 100_000;
/// How far from 1 a row of [`MarkovChain::from_rows`] may sum.
pub const ROW_SUM_TOLERANCE: f64 = 1e-9;

/// A finite Markov chain with sparse transition rows; tokens are states `0..n`.
///
/// Row `i` lists `(j, P_ij)` for the states `j` reachable in one step, sorted by `j`, with
/// every `P_ij > 0` and `Σ_j P_ij = 1`. The chain keeps its stationary distribution `π` and
/// Walker–Vose alias tables for O(1) sampling of each row and of `π`.
#[derive(Clone, Debug)]
pub struct MarkovChain {
    /// Row `i` is `entries[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    entries: Vec<(u32, f64)>,
    /// Alias tables of the rows, aligned with `entries` (alias indices are row-local).
    threshold: Vec<f64>,
    alias: Vec<u32>,
    /// Stationary distribution and its alias table.
    stationary: Vec<f64>,
    stationary_threshold: Vec<f64>,
    stationary_alias: Vec<u32>,
}

impl MarkovChain {
    /// The random walk on a connected graph `g`, with transition weights set by `bias`
    /// (drawn from `seed` for [`WalkBias::PowerLaw`]; unused for [`WalkBias::Unbiased`]).
    ///
    /// The walk is reversible, so `π` is exact in closed form: `π_i = s_i / Σ_k s_k` with
    /// weighted degree `s_i = Σ_k w_ik` (`π_i = deg_i / 2|E|` when unbiased). Weights are
    /// handled in log space; a transition whose probability underflows to 0 in `f64` is
    /// dropped from its row.
    ///
    /// # Errors
    ///
    /// The errors of [`WalkBias::validate`]; [`DataError::Invalid`] if the graph has fewer
    /// than 2 nodes; [`DataError::Disconnected`] if it is not connected.
    pub fn from_graph(g: &Graph, bias: &WalkBias, seed: u64) -> Result<MarkovChain, DataError> {
        bias.validate()?;
        let n = g.num_nodes();
        if n < 2 {
            return Err(DataError::invalid(
                "graph.num_nodes()",
                n,
                "must be at least 2 for a random walk",
            ));
        }
        let components = g.num_components();
        if components > 1 {
            return Err(DataError::Disconnected { nodes: n, components });
        }

        // Start of each node's adjacency list in the flat per-direction arrays.
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0);
        for i in 0..n {
            starts.push(starts[i] + g.degree(i));
        }
        // ln w for every directed edge, in adjacency order.
        let mut log_weight = vec![0.0f64; starts[n]];
        if let WalkBias::PowerLaw { exponent } = *bias {
            let mut rng = ChaCha12Rng::seed_from_u64(derive_seed(seed, BIAS_STREAM, 0));
            for i in 0..n {
                for (k, &j) in g.neighbors(i).iter().enumerate() {
                    let j = j as usize;
                    if j < i {
                        continue;
                    }
                    let xi: f64 = rng.sample(Exp1);
                    let lw = exponent * xi;
                    log_weight[starts[i] + k] = lw;
                    // The reverse direction: i is in j's sorted list (always found, as
                    // adjacency is symmetric).
                    let back = g.neighbors(j).partition_point(|&x| x < i as u32);
                    log_weight[starts[j] + back] = lw;
                }
            }
        }

        // Rows P_ij = exp(lw_ij − m_i) / Σ_k exp(lw_ik − m_i) and ln s_i, m_i = max_k lw_ik.
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let mut entries = Vec::with_capacity(starts[n]);
        let mut log_strength = Vec::with_capacity(n);
        for i in 0..n {
            let lws = &log_weight[starts[i]..starts[i + 1]];
            let max = lws.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = lws.iter().map(|&lw| (lw - max).exp()).sum();
            for (&j, &lw) in g.neighbors(i).iter().zip(lws) {
                let p = (lw - max).exp() / sum;
                if p > 0.0 {
                    entries.push((j, p));
                }
            }
            offsets.push(entries.len());
            log_strength.push(max + sum.ln());
        }
        let max = log_strength.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut stationary: Vec<f64> = log_strength.iter().map(|&ls| (ls - max).exp()).collect();
        let total: f64 = stationary.iter().sum();
        stationary.iter_mut().for_each(|p| *p /= total);

        Ok(MarkovChain::assemble(offsets, entries, stationary))
    }

    /// A general chain from its rows: `rows[i]` lists `(j, P_ij)`.
    ///
    /// Every row must be non-empty with targets `< rows.len()`, no repeated target,
    /// probabilities finite and `> 0`, summing to 1 within [`ROW_SUM_TOLERANCE`]; rows are
    /// then sorted by target and rescaled to sum to 1 exactly (up to rounding).
    ///
    /// `π` is found by [`stationary_power_iteration`](Self::stationary_power_iteration) with
    /// [`POWER_ITERATION_TOLERANCE`] and [`POWER_ITERATION_MAX_ITERATIONS`]. For a reducible
    /// chain this is the limit reached from the uniform distribution (one of several
    /// stationary distributions); build irreducible chains for a unique `π`.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the row (`rows[i]`) that breaks a rule above, or for no
    /// rows or more than `u32::MAX` of them; [`DataError::NotConverged`] if the power
    /// iteration does not converge.
    ///
    /// # Examples
    ///
    /// A two-state chain, whose stationary distribution and entropy rate are known in closed
    /// form:
    ///
    /// ```
    /// use scalinglab_data::MarkovChain;
    ///
    /// let rows = vec![vec![(0, 0.9), (1, 0.1)], vec![(0, 0.5), (1, 0.5)]]; // (j, P_ij)
    /// let chain = MarkovChain::from_rows(rows)?;
    /// let pi = chain.stationary(); // π P = π: (5/6, 1/6)
    /// assert!((pi[0] - 5.0 / 6.0).abs() < 1e-9 && (pi[1] - 1.0 / 6.0).abs() < 1e-9);
    /// let h0 = -(0.9f64 * 0.9f64.ln() + 0.1 * 0.1f64.ln()); // row entropies, nats
    /// let h1 = 2f64.ln();
    /// assert!((chain.entropy_rate() - (pi[0] * h0 + pi[1] * h1)).abs() < 1e-9);
    /// # Ok::<(), scalinglab_data::DataError>(())
    /// ```
    pub fn from_rows(rows: Vec<Vec<(u32, f64)>>) -> Result<MarkovChain, DataError> {
        let n = rows.len();
        if n == 0 {
            return Err(DataError::invalid("rows.len()", 0, "must be at least 1"));
        }
        if n > u32::MAX as usize + 1 {
            return Err(DataError::invalid("rows.len()", n, "is too many states for u32 tokens"));
        }
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let mut entries = Vec::with_capacity(rows.iter().map(Vec::len).sum());
        for (i, mut row) in rows.into_iter().enumerate() {
            if row.is_empty() {
                return Err(DataError::invalid(
                    format!("rows[{i}].len()"),
                    0,
                    "must be at least 1 (every state needs a successor)",
                ));
            }
            for &(j, p) in &row {
                if j as usize >= n {
                    return Err(DataError::invalid(
                        format!("rows[{i}] target"),
                        j,
                        format!("is out of range for {n} states"),
                    ));
                }
                if !(p.is_finite() && p > 0.0) {
                    return Err(DataError::invalid(
                        format!("rows[{i}] probability of {j}"),
                        p,
                        "must be finite and > 0",
                    ));
                }
            }
            row.sort_unstable_by_key(|&(j, _)| j);
            if let Some(w) = row.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(DataError::invalid(
                    format!("rows[{i}] target"),
                    w[0].0,
                    "appears more than once",
                ));
            }
            let sum: f64 = row.iter().map(|&(_, p)| p).sum();
            if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
                return Err(DataError::invalid(
                    format!("rows[{i}] sum"),
                    sum,
                    format!("must be 1 within {ROW_SUM_TOLERANCE:e}"),
                ));
            }
            entries.extend(row.into_iter().map(|(j, p)| (j, p / sum)));
            offsets.push(entries.len());
        }
        // π is filled in below; a uniform placeholder keeps `assemble` simple.
        let mut chain = MarkovChain::assemble(offsets, entries, vec![1.0 / n as f64; n]);
        let stationary = chain.stationary_power_iteration(
            POWER_ITERATION_TOLERANCE,
            POWER_ITERATION_MAX_ITERATIONS,
        )?;
        build_alias(&stationary, &mut chain.stationary_threshold, &mut chain.stationary_alias);
        chain.stationary = stationary;
        Ok(chain)
    }

    /// Build the alias tables around validated rows and a stationary distribution.
    fn assemble(offsets: Vec<usize>, entries: Vec<(u32, f64)>, stationary: Vec<f64>) -> Self {
        let nnz = entries.len();
        let mut threshold = vec![0.0; nnz];
        let mut alias = vec![0u32; nnz];
        let mut probs = Vec::new();
        for w in offsets.windows(2) {
            let (a, b) = (w[0], w[1]);
            probs.clear();
            probs.extend(entries[a..b].iter().map(|&(_, p)| p));
            build_alias(&probs, &mut threshold[a..b], &mut alias[a..b]);
        }
        let n = stationary.len();
        let mut stationary_threshold = vec![0.0; n];
        let mut stationary_alias = vec![0u32; n];
        build_alias(&stationary, &mut stationary_threshold, &mut stationary_alias);
        MarkovChain {
            offsets,
            entries,
            threshold,
            alias,
            stationary,
            stationary_threshold,
            stationary_alias,
        }
    }

    /// Number of states (the vocabulary size of the token stream).
    pub fn num_states(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of non-zero transitions `Σ_i |row(i)|` (twice the edge count for a graph walk).
    pub fn num_transitions(&self) -> usize {
        self.entries.len()
    }

    /// Row `i`: `(j, P_ij)` for every `j` with `P_ij > 0`, sorted by `j`.
    ///
    /// # Panics
    /// If `i >= num_states()`, like slice indexing.
    pub fn row(&self, i: usize) -> &[(u32, f64)] {
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }

    /// All rows, in the form [`from_rows`](Self::from_rows) takes.
    pub fn to_rows(&self) -> Vec<Vec<(u32, f64)>> {
        (0..self.num_states()).map(|i| self.row(i).to_vec()).collect()
    }

    /// Stationary distribution `π` (`π P = π`, `Σ_i π_i = 1`).
    ///
    /// Computed once at construction: in closed form for graph walks
    /// ([`from_graph`](Self::from_graph): `π_i = s_i / Σ_k s_k`, weighted degrees), by power
    /// iteration for general chains ([`from_rows`](Self::from_rows)).
    pub fn stationary(&self) -> Vec<f64> {
        self.stationary.clone()
    }

    /// Stationary distribution by power iteration on the lazy chain `Q = (P + I)/2`.
    ///
    /// `Q` has the same stationary distribution as `P` but is aperiodic, so the iteration
    /// `x ← x Q` from the uniform distribution converges even for periodic `P` (e.g. walks on
    /// bipartite graphs). Stops once the L1 change `Σ_i |x'_i − x_i|` is at most `tolerance`.
    /// The L1 error of the result is about `2 · tolerance / gap(P)`.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] unless `tolerance` is finite and `> 0`;
    /// [`DataError::NotConverged`] after `max_iterations` iterations without meeting it.
    pub fn stationary_power_iteration(
        &self,
        tolerance: f64,
        max_iterations: usize,
    ) -> Result<Vec<f64>, DataError> {
        if !(tolerance.is_finite() && tolerance > 0.0) {
            return Err(DataError::invalid("tolerance", tolerance, "must be finite and > 0"));
        }
        let n = self.num_states();
        let mut x = vec![1.0 / n as f64; n];
        let mut y = vec![0.0; n];
        let mut residual = f64::INFINITY;
        for _ in 0..max_iterations {
            y.iter_mut().for_each(|v| *v = 0.0);
            for (i, &xi) in x.iter().enumerate() {
                for &(j, p) in self.row(i) {
                    y[j as usize] += xi * p;
                }
            }
            let mut sum = 0.0;
            for (yj, &xj) in y.iter_mut().zip(&x) {
                *yj = 0.5 * (*yj + xj);
                sum += *yj;
            }
            residual = 0.0;
            for (yj, &xj) in y.iter_mut().zip(&x) {
                *yj /= sum;
                residual += (*yj - xj).abs();
            }
            std::mem::swap(&mut x, &mut y);
            if residual <= tolerance {
                return Ok(x);
            }
        }
        Err(DataError::NotConverged { iterations: max_iterations, residual, tolerance })
    }

    /// Entropy of row `i` in nats: `H(P_i·) = −Σ_j P_ij ln P_ij`.
    ///
    /// # Panics
    /// If `i >= num_states()`.
    pub fn row_entropy(&self, i: usize) -> f64 {
        -self.row(i).iter().map(|&(_, p)| p * p.ln()).sum::<f64>()
    }

    /// Entropy rate in nats per token, `H = Σ_i π_i H(P_i·)`: the lowest achievable
    /// next-token cross-entropy on a stationary walk.
    pub fn entropy_rate(&self) -> f64 {
        self.stationary.iter().enumerate().map(|(i, &pi)| pi * self.row_entropy(i)).sum()
    }

    /// Entropy of the stationary distribution in nats, `−Σ_i π_i ln π_i`: the best loss of a
    /// model that ignores context (a unigram model).
    pub fn unigram_entropy(&self) -> f64 {
        -self.stationary.iter().filter(|&&p| p > 0.0).map(|&p| p * p.ln()).sum::<f64>()
    }

    /// One state drawn from `π`.
    pub fn sample_stationary(&self, rng: &mut impl Rng) -> u32 {
        draw_alias(&self.stationary_threshold, &self.stationary_alias, rng) as u32
    }

    /// The state after `state`, drawn from row `state`.
    ///
    /// # Panics
    /// If `state >= num_states()`.
    #[inline]
    pub fn step(&self, state: u32, rng: &mut impl Rng) -> u32 {
        let (a, b) = (self.offsets[state as usize], self.offsets[state as usize + 1]);
        let k = draw_alias(&self.threshold[a..b], &self.alias[a..b], rng);
        self.entries[a + k].0
    }

    /// One walk of `len` tokens whose first state is drawn from `π`, so every position of the
    /// sequence is distributed as `π` (a stationary sequence).
    pub fn sample_walk(&self, len: usize, rng: &mut impl Rng) -> Vec<u32> {
        let mut out = Vec::with_capacity(len);
        self.sample_walk_into(len, rng, &mut out);
        out
    }

    /// Like [`sample_walk`](Self::sample_walk), appending the `len` tokens to `out`.
    pub fn sample_walk_into(&self, len: usize, rng: &mut impl Rng, out: &mut Vec<u32>) {
        if len == 0 {
            return;
        }
        out.reserve(len);
        let mut state = self.sample_stationary(rng);
        out.push(state);
        for _ in 1..len {
            state = self.step(state, rng);
            out.push(state);
        }
    }
}

/// The recipe for one random-walk chain: graph ensemble, bias and seed.
///
/// In TOML:
///
/// ```toml
/// seed = 3               # optional, default 0
/// [graph]
/// kind = "erdos_renyi"
/// nodes = 128
/// edges = 512
/// [bias]                 # optional, default unbiased
/// kind = "power_law"
/// exponent = 1.0
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkConfig {
    /// The graph ensemble.
    pub graph: GraphSpec,
    /// Transition weights on the graph's edges.
    #[serde(default)]
    pub bias: WalkBias,
    /// Seed of the graph (and of the bias weights, through a separately derived stream).
    #[serde(default)]
    pub seed: u64,
}

impl Default for WalkConfig {
    /// Erdős–Rényi, 128 nodes, 512 edges, unbiased, seed 0.
    fn default() -> Self {
        WalkConfig {
            graph: GraphSpec::ErdosRenyi { nodes: 128, edges: 512 },
            bias: WalkBias::Unbiased,
            seed: 0,
        }
    }
}

impl WalkConfig {
    /// Check graph and bias parameters without generating anything.
    ///
    /// # Errors
    ///
    /// The errors of [`GraphSpec::validate`] and [`WalkBias::validate`].
    pub fn validate(&self) -> Result<(), DataError> {
        self.graph.validate()?;
        self.bias.validate()
    }

    /// Generate the graph and the walk on it.
    ///
    /// # Errors
    ///
    /// As [`build_with_report`](Self::build_with_report).
    pub fn build(&self) -> Result<MarkovChain, DataError> {
        self.build_with_graph().map(|(_, chain)| chain)
    }

    /// Like [`build`](Self::build), also returning the graph.
    ///
    /// # Errors
    ///
    /// As [`build_with_report`](Self::build_with_report).
    pub fn build_with_graph(&self) -> Result<(Graph, MarkovChain), DataError> {
        self.build_with_report().map(|(graph, chain, _)| (graph, chain))
    }

    /// Like [`build_with_graph`](Self::build_with_graph), also saying how the graph's
    /// connectivity policy was applied (draws rejected, nodes dropped): tell the user.
    ///
    /// # Errors
    ///
    /// The errors of [`validate`](Self::validate), of [`GraphSpec::generate_with_report`]
    /// (no connected draw, an unreadable edge list) and of [`MarkovChain::from_graph`] (a
    /// graph of fewer than 2 nodes).
    pub fn build_with_report(&self) -> Result<(Graph, MarkovChain, GraphReport), DataError> {
        self.validate()?;
        let (graph, report) = self.graph.generate_with_report(self.seed)?;
        let chain = MarkovChain::from_graph(&graph, &self.bias, self.seed)?;
        Ok((graph, chain, report))
    }
}

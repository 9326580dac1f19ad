//! Undirected simple graphs and seeded random-graph generators.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{BARABASI_ALBERT_STREAM, DataError, ERDOS_RENYI_STREAM, derive_seed};

/// Undirected simple graph (no self loops, no multi-edges), nodes `0..n`, adjacency lists
/// sorted ascending.
///
/// Stored in compressed sparse row form: the neighbours of node `i` are
/// `adjacency[offsets[i]..offsets[i + 1]]`, and every edge appears in both endpoints' lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    offsets: Vec<usize>,
    adjacency: Vec<u32>,
}

impl Graph {
    /// Build a graph on nodes `0..n` from an edge list.
    ///
    /// Edges are undirected: `(a, b)` and `(b, a)` are the same edge, and duplicates are
    /// merged. Self loops, node ids `>= n` and `n > u32::MAX` are errors.
    pub fn from_edges(n: usize, edges: &[(u32, u32)]) -> Result<Graph, DataError> {
        if n > u32::MAX as usize {
            return Err(DataError::invalid("n", n, format!("exceeds u32::MAX = {}", u32::MAX)));
        }
        let mut canonical = Vec::with_capacity(edges.len());
        for (k, &(a, b)) in edges.iter().enumerate() {
            if a == b {
                return Err(DataError::invalid(
                    format!("edges[{k}]"),
                    format!("({a}, {b})"),
                    "is a self loop",
                ));
            }
            if a as usize >= n || b as usize >= n {
                return Err(DataError::invalid(
                    format!("edges[{k}]"),
                    format!("({a}, {b})"),
                    format!("has a node out of range for n = {n} nodes"),
                ));
            }
            canonical.push((a.min(b), a.max(b)));
        }
        canonical.sort_unstable();
        canonical.dedup();

        let mut degree = vec![0usize; n];
        for &(a, b) in &canonical {
            degree[a as usize] += 1;
            degree[b as usize] += 1;
        }
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for d in &degree {
            offsets.push(offsets[offsets.len() - 1] + d);
        }
        // Filling in sorted edge order keeps every adjacency list sorted: node i first receives
        // its smaller neighbours (as the `b` of pairs (a, i), in order of a), then its larger
        // ones (as the `a` of pairs (i, b), in order of b).
        let mut adjacency = vec![0u32; 2 * canonical.len()];
        let mut next = offsets[..n].to_vec();
        for &(a, b) in &canonical {
            adjacency[next[b as usize]] = a;
            next[b as usize] += 1;
        }
        for &(a, b) in &canonical {
            adjacency[next[a as usize]] = b;
            next[a as usize] += 1;
        }
        Ok(Graph { offsets, adjacency })
    }

    /// Number of nodes `n`.
    pub fn num_nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of undirected edges `|E|`.
    pub fn num_edges(&self) -> usize {
        self.adjacency.len() / 2
    }

    /// Neighbours of node `i`, sorted ascending.
    ///
    /// # Panics
    /// If `i >= num_nodes()`, like slice indexing.
    pub fn neighbors(&self, i: usize) -> &[u32] {
        &self.adjacency[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Degree of node `i`.
    ///
    /// # Panics
    /// If `i >= num_nodes()`, like slice indexing.
    pub fn degree(&self, i: usize) -> usize {
        self.offsets[i + 1] - self.offsets[i]
    }

    /// Every edge once, as `(a, b)` with `a < b`, in ascending order.
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..self.num_nodes()).flat_map(move |a| {
            self.neighbors(a).iter().filter(move |&&b| b as usize > a).map(move |&b| (a as u32, b))
        })
    }

    /// Number of connected components (0 for the empty graph).
    pub fn num_components(&self) -> usize {
        let n = self.num_nodes();
        let mut seen = vec![false; n];
        let mut stack = Vec::new();
        let mut components = 0;
        for start in 0..n {
            if seen[start] {
                continue;
            }
            components += 1;
            seen[start] = true;
            stack.push(start);
            while let Some(i) = stack.pop() {
                for &j in self.neighbors(i) {
                    if !seen[j as usize] {
                        seen[j as usize] = true;
                        stack.push(j as usize);
                    }
                }
            }
        }
        components
    }

    /// Whether every node can reach every other (true for 0 or 1 nodes).
    pub fn is_connected(&self) -> bool {
        self.num_components() <= 1
    }
}

/// A random-graph ensemble; [`GraphSpec::generate`] draws one graph from it.
///
/// In TOML:
///
/// ```toml
/// kind = "erdos_renyi"   # or "barabasi_albert", with `nodes` and `m`
/// nodes = 128
/// edges = 512
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GraphSpec {
    /// Erdős–Rényi G(n, m): `edges` distinct edges drawn uniformly from the n(n−1)/2
    /// possible ones. A draw that is not connected is replaced by a fresh one (from the next
    /// derived seed), up to 1000 tries, after which [`DataError::NoConnectedGraph`] is
    /// returned. G(n, m) is connected with high probability once m ≳ n ln(n) / 2.
    ErdosRenyi {
        /// Number of nodes n (at least 2).
        nodes: usize,
        /// Number of edges m, with n − 1 ≤ m ≤ n(n − 1)/2.
        edges: usize,
    },
    /// Barabási–Albert preferential attachment: start from a **clique** on nodes `0..=m`
    /// (m(m+1)/2 edges); then each new node `v = m+1, …, n−1` attaches to `m` distinct existing
    /// nodes, each chosen with probability proportional to its current degree. The graph is
    /// connected, has m(m+1)/2 + (n − m − 1)·m edges, minimum degree m, and a power-law degree
    /// tail P(k) ~ k⁻³.
    BarabasiAlbert {
        /// Number of nodes n (at least 2).
        nodes: usize,
        /// Edges per new node, 1 ≤ m < n.
        m: usize,
    },
}

/// Tries [`GraphSpec::ErdosRenyi`] makes to draw a connected graph.
pub const ERDOS_RENYI_MAX_TRIES: usize = 1000;

impl GraphSpec {
    /// Number of nodes of the graphs this spec generates.
    pub fn num_nodes(&self) -> usize {
        match *self {
            GraphSpec::ErdosRenyi { nodes, .. } | GraphSpec::BarabasiAlbert { nodes, .. } => nodes,
        }
    }

    /// Check that the spec can be generated; messages name the field, e.g.
    /// `graph.edges = 10 is too few to connect 64 nodes (need at least 63)`.
    pub fn validate(&self) -> Result<(), DataError> {
        let nodes = self.num_nodes();
        if nodes < 2 {
            return Err(DataError::invalid("graph.nodes", nodes, "must be at least 2"));
        }
        if nodes > u32::MAX as usize {
            return Err(DataError::invalid(
                "graph.nodes",
                nodes,
                format!("exceeds u32::MAX = {}", u32::MAX),
            ));
        }
        match *self {
            GraphSpec::ErdosRenyi { nodes, edges } => {
                if edges < nodes - 1 {
                    return Err(DataError::invalid(
                        "graph.edges",
                        edges,
                        format!(
                            "is too few to connect {nodes} nodes (need at least {})",
                            nodes - 1
                        ),
                    ));
                }
                let possible = max_edges(nodes);
                if edges as u128 > possible {
                    return Err(DataError::invalid(
                        "graph.edges",
                        edges,
                        format!(
                            "exceeds the {possible} possible edges of {nodes} nodes (n(n-1)/2)"
                        ),
                    ));
                }
            }
            GraphSpec::BarabasiAlbert { nodes, m } => {
                if m == 0 {
                    return Err(DataError::invalid("graph.m", m, "must be at least 1"));
                }
                if m >= nodes {
                    return Err(DataError::invalid(
                        "graph.m",
                        m,
                        format!("must be less than graph.nodes = {nodes}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Number of edges of every graph this spec generates (after [`validate`](Self::validate)).
    pub fn num_edges(&self) -> usize {
        match *self {
            GraphSpec::ErdosRenyi { edges, .. } => edges,
            GraphSpec::BarabasiAlbert { nodes, m } => {
                m * (m + 1) / 2 + nodes.saturating_sub(m + 1) * m
            }
        }
    }

    /// Draw one graph; the same spec and seed always give the same graph.
    pub fn generate(&self, seed: u64) -> Result<Graph, DataError> {
        self.validate()?;
        match *self {
            GraphSpec::ErdosRenyi { nodes, edges } => erdos_renyi(nodes, edges, seed),
            GraphSpec::BarabasiAlbert { nodes, m } => barabasi_albert(nodes, m, seed),
        }
    }
}

/// n(n − 1)/2, exactly.
fn max_edges(nodes: usize) -> u128 {
    let n = nodes as u128;
    n * n.saturating_sub(1) / 2
}

/// Edge number `k` in the order (0,1), (0,2), (1,2), (0,3), (1,3), (2,3), …:
/// `k = b(b − 1)/2 + a` with `a < b`.
fn edge_from_index(k: u64) -> (u32, u32) {
    let k128 = k as u128;
    let tri = |b: u128| b * b.saturating_sub(1) / 2;
    // Float estimate of b = ⌊(1 + √(1 + 8k)) / 2⌋, then exact integer correction.
    let mut b = ((1.0 + (1.0 + 8.0 * k as f64).sqrt()) / 2.0) as u128;
    while tri(b) > k128 {
        b -= 1;
    }
    while tri(b + 1) <= k128 {
        b += 1;
    }
    let a = k128 - tri(b);
    (a as u32, b as u32)
}

fn erdos_renyi(nodes: usize, edges: usize, seed: u64) -> Result<Graph, DataError> {
    let possible = usize::try_from(max_edges(nodes)).map_err(|_| {
        DataError::invalid(
            "graph.nodes",
            nodes,
            "is too large: n(n-1)/2 does not fit in usize on this platform",
        )
    })?;
    for attempt in 0..ERDOS_RENYI_MAX_TRIES {
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, ERDOS_RENYI_STREAM, attempt as u64));
        let chosen: Vec<(u32, u32)> = rand::seq::index::sample(&mut rng, possible, edges)
            .into_iter()
            .map(|k| edge_from_index(k as u64))
            .collect();
        let graph = Graph::from_edges(nodes, &chosen)?;
        if graph.is_connected() {
            return Ok(graph);
        }
    }
    Err(DataError::NoConnectedGraph {
        nodes,
        edges,
        tries: ERDOS_RENYI_MAX_TRIES,
        seed,
        suggested_edges: (nodes as f64 * (nodes as f64).ln() / 2.0).ceil() as usize,
    })
}

fn barabasi_albert(nodes: usize, m: usize, seed: u64) -> Result<Graph, DataError> {
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, BARABASI_ALBERT_STREAM, 0));
    let mut edges: Vec<(u32, u32)> = Vec::with_capacity(m * (m + 1) / 2 + (nodes - m - 1) * m);
    // Every edge endpoint, so that a uniform pick from it is a pick proportional to degree.
    let mut endpoints: Vec<u32> = Vec::with_capacity(2 * edges.capacity());
    for b in 0..=m as u32 {
        for a in 0..b {
            edges.push((a, b));
            endpoints.extend([a, b]);
        }
    }
    let mut picked = vec![false; nodes];
    let mut targets = Vec::with_capacity(m);
    for v in (m + 1)..nodes {
        // m distinct targets, each draw proportional to degree (duplicates are redrawn).
        targets.clear();
        while targets.len() < m {
            let t = endpoints[rng.random_range(0..endpoints.len())];
            if !picked[t as usize] {
                picked[t as usize] = true;
                targets.push(t);
            }
        }
        for &t in &targets {
            picked[t as usize] = false;
            edges.push((t, v as u32));
            endpoints.extend([t, v as u32]);
        }
    }
    Graph::from_edges(nodes, &edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_index_enumerates_all_pairs_in_order() {
        let mut k = 0;
        for b in 1..60u32 {
            for a in 0..b {
                assert_eq!(edge_from_index(k), (a, b));
                k += 1;
            }
        }
        // Large indices: the last edge of u32::MAX nodes.
        let n = u32::MAX as u64;
        let last = n * (n - 1) / 2 - 1;
        assert_eq!(edge_from_index(last), (u32::MAX - 2, u32::MAX - 1));
    }

    #[test]
    fn adjacency_is_sorted_and_symmetric() {
        let g = Graph::from_edges(5, &[(3, 1), (0, 4), (1, 0), (4, 3), (2, 1), (1, 3)]).unwrap();
        assert_eq!(g.num_edges(), 5);
        assert_eq!(g.neighbors(1), &[0, 2, 3]);
        assert_eq!(g.neighbors(3), &[1, 4]);
        for i in 0..5 {
            assert!(g.neighbors(i).windows(2).all(|w| w[0] < w[1]));
            for &j in g.neighbors(i) {
                assert!(g.neighbors(j as usize).contains(&(i as u32)));
            }
        }
        let listed: Vec<_> = g.edges().collect();
        assert_eq!(listed, vec![(0, 1), (0, 4), (1, 2), (1, 3), (3, 4)]);
    }
}

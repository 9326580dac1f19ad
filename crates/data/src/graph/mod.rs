//! Undirected simple graphs, seeded random-graph generators and edge-list files.
//!
//! # Ensembles
//!
//! | `kind`             | ensemble                                   | mean degree           |
//! |--------------------|--------------------------------------------|-----------------------|
//! | `erdos_renyi`      | G(n, m): m edges uniformly                 | 2m/n                  |
//! | `erdos_renyi_gnp`  | G(n, p): each pair an edge w.p. p          | p(n − 1)              |
//! | `barabasi_albert`  | preferential attachment, m per new node    | ≈ 2m, tail P(k) ~ k⁻³ |
//! | `random_regular`   | uniform-ish d-regular (pairing)            | d (every node)        |
//! | `watts_strogatz`   | ring lattice of degree k, rewired w.p. p   | k                     |
//! | `edge_list`        | a user's file, `u v` per line              | —                     |
//!
//! A random walk needs a connected graph. The [`Connectivity`] policy of an ensemble says
//! what happens to a disconnected draw: draw again from the next derived seed
//! ([`Connectivity::Resample`]), or keep the largest connected component and relabel its
//! nodes `0..n'` in their original order ([`Connectivity::LargestComponent`]).
//! [`GraphSpec::generate_with_report`] returns a [`GraphReport`] saying which happened.
//!
//! # Edge-list files
//! [`Graph::read_edge_list`] and [`Graph::write_edge_list`] use plain text, one undirected
//! edge per line as two non-negative integer node ids separated by spaces or tabs (`u v`).
//! Everything after a `#` is a comment; blank lines are skipped. A comment `# nodes: N` fixes
//! the node count to N (so isolated nodes survive a round trip); without it the graph has
//! `1 + max id` nodes. Repeated edges (either direction) are merged; self loops are errors. A
//! file whose name ends in `.gz` is gzip-compressed.

mod edge_list;
mod generators;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::DataError;

pub use generators::MAX_DRAWS;

/// Tries [`GraphSpec::ErdosRenyi`] makes to draw a connected graph (the same budget as
/// every [`Connectivity::Resample`] ensemble, [`MAX_DRAWS`]).
pub const ERDOS_RENYI_MAX_TRIES: usize = MAX_DRAWS;

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
    /// merged.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] for `n > u32::MAX`, or an edge that is a self loop or has a node
    /// id `>= n` (naming it as `edges[k]`).
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

    /// Every node's degree, in node order.
    pub fn degrees(&self) -> Vec<usize> {
        self.offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Every edge once, as `(a, b)` with `a < b`, in ascending order.
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..self.num_nodes()).flat_map(move |a| {
            self.neighbors(a).iter().filter(move |&&b| b as usize > a).map(move |&b| (a as u32, b))
        })
    }

    /// Connected-component label of every node (labels `0..count` in order of each
    /// component's smallest node) and the number of components.
    pub fn component_labels(&self) -> (Vec<u32>, usize) {
        let n = self.num_nodes();
        let mut label = vec![u32::MAX; n];
        let mut stack = Vec::new();
        let mut components = 0u32;
        for start in 0..n {
            if label[start] != u32::MAX {
                continue;
            }
            label[start] = components;
            stack.push(start);
            while let Some(i) = stack.pop() {
                for &j in self.neighbors(i) {
                    if label[j as usize] == u32::MAX {
                        label[j as usize] = components;
                        stack.push(j as usize);
                    }
                }
            }
            components += 1;
        }
        (label, components as usize)
    }

    /// Number of connected components (0 for the empty graph).
    pub fn num_components(&self) -> usize {
        self.component_labels().1
    }

    /// Whether every node can reach every other (true for 0 or 1 nodes).
    pub fn is_connected(&self) -> bool {
        self.num_components() <= 1
    }

    /// The largest connected component (ties go to the one with the smallest node) as a
    /// graph on nodes `0..n'`, and the map from new to old ids: `old_id[new] = old`.
    ///
    /// Relabelling keeps the original order (`old_id` is increasing). The empty graph gives
    /// the empty graph.
    pub fn largest_component(&self) -> (Graph, Vec<u32>) {
        let (label, count) = self.component_labels();
        let mut size = vec![0usize; count];
        label.iter().for_each(|&l| size[l as usize] += 1);
        // max_by_key returns the last maximum; iterate in reverse so ties pick the first.
        let Some(keep) = (0..count).rev().max_by_key(|&c| size[c]) else {
            return (self.clone(), Vec::new());
        };
        let old_id: Vec<u32> =
            (0..self.num_nodes() as u32).filter(|&i| label[i as usize] == keep as u32).collect();
        let mut new_id = vec![u32::MAX; self.num_nodes()];
        for (new, &old) in old_id.iter().enumerate() {
            new_id[old as usize] = new as u32;
        }
        let edges: Vec<(u32, u32)> = self
            .edges()
            .filter(|&(a, _)| label[a as usize] == keep as u32)
            .map(|(a, b)| (new_id[a as usize], new_id[b as usize]))
            .collect();
        let graph = Graph::from_edges(old_id.len(), &edges)
            .expect("relabelled edges of a simple graph form a simple graph");
        (graph, old_id)
    }
}

/// What to do with a drawn graph that is not connected.
///
/// In TOML: `connectivity = "resample"` (the default) or `connectivity = "largest_component"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// Reject the draw and draw again from the next derived seed, up to [`MAX_DRAWS`] draws;
    /// then fail with [`DataError::NoConnectedDraw`]. The result is a draw from the ensemble
    /// conditioned on connectivity. A graph read from a file cannot be redrawn: a
    /// disconnected file is an error.
    #[default]
    Resample,
    /// Keep the largest connected component and relabel its nodes `0..n'` in their original
    /// order; [`GraphReport`] counts the dropped nodes and edges.
    LargestComponent,
}

/// How a graph came out of [`GraphSpec::generate_with_report`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphReport {
    /// The policy applied.
    pub policy: Connectivity,
    /// Graphs drawn: 1, or more when disconnected (or incomplete) draws were rejected.
    pub draws: usize,
    /// Nodes of the kept draw before any were dropped.
    pub drawn_nodes: usize,
    /// Edges of the kept draw before any were dropped.
    pub drawn_edges: usize,
    /// Connected components of the kept draw.
    pub drawn_components: usize,
    /// Nodes dropped outside the largest component (0 unless
    /// [`Connectivity::LargestComponent`] removed some).
    pub dropped_nodes: usize,
    /// Edges dropped with them.
    pub dropped_edges: usize,
}

impl GraphReport {
    /// A report for a draw that was used as it is.
    fn whole(policy: Connectivity, draws: usize, graph: &Graph) -> Self {
        GraphReport {
            policy,
            draws,
            drawn_nodes: graph.num_nodes(),
            drawn_edges: graph.num_edges(),
            drawn_components: graph.num_components(),
            dropped_nodes: 0,
            dropped_edges: 0,
        }
    }
}

impl fmt::Display for GraphReport {
    /// One sentence, e.g. `drawn once: 1000 nodes, 4980 edges, 3 components; kept the largest
    /// component, dropping 4 nodes and 2 edges`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let draws = match self.draws {
            1 => "drawn once".to_string(),
            n => format!("drawn {n} times ({} rejected: disconnected or incomplete)", n - 1),
        };
        write!(
            f,
            "{draws}: {} nodes, {} edges, {} component{}",
            self.drawn_nodes,
            self.drawn_edges,
            self.drawn_components,
            if self.drawn_components == 1 { "" } else { "s" }
        )?;
        if self.dropped_nodes > 0 {
            write!(
                f,
                "; kept the largest component, dropping {} nodes and {} edges",
                self.dropped_nodes, self.dropped_edges
            )?;
        }
        Ok(())
    }
}

/// A random-graph ensemble, or a graph file; [`GraphSpec::generate`] draws one graph.
///
/// In TOML:
///
/// ```toml
/// kind = "erdos_renyi"   # G(n, m)
/// nodes = 128
/// edges = 512
/// ```
///
/// or `kind = "erdos_renyi_gnp"` with `nodes`, `p`; `kind = "barabasi_albert"` with `nodes`,
/// `m`; `kind = "random_regular"` with `nodes`, `degree`; `kind = "watts_strogatz"` with
/// `nodes`, `k`, `p`; `kind = "edge_list"` with `path`. The last four take an optional
/// `connectivity = "resample" | "largest_component"` (default `"resample"`, see
/// [`Connectivity`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    /// Erdős–Rényi G(n, p): each of the n(n−1)/2 pairs is an edge independently with
    /// probability p, so degrees are Binomial(n − 1, p) with mean p(n − 1). Drawn in
    /// O(n + |E|) time by geometric skips over the pairs (Batagelj & Brandes 2005).
    /// Connected with high probability once p ≳ ln(n)/n.
    ErdosRenyiGnp {
        /// Number of nodes n (at least 2).
        nodes: usize,
        /// Edge probability p in [0, 1].
        p: f64,
        /// What to do with a disconnected draw. Default: resample.
        #[serde(default)]
        connectivity: Connectivity,
    },
    /// Random d-regular graph: every node has degree d. Drawn by random pairing of the
    /// n·d half-edges ("points"), accepting a pair only if it makes neither a self loop nor
    /// a multi-edge and restarting when no acceptable pair is left (Steger & Wormald 1999);
    /// the result is asymptotically uniform over d-regular graphs for d = o(n^(1/28)) and
    /// close to uniform in practice. For d ≥ 3 the graph is connected with high probability.
    RandomRegular {
        /// Number of nodes n (at least 2).
        nodes: usize,
        /// Degree d, 1 ≤ d < n, with n·d even.
        degree: usize,
        /// What to do with a disconnected draw. Default: resample.
        #[serde(default)]
        connectivity: Connectivity,
    },
    /// Watts–Strogatz small world: the ring lattice where node i is joined to i ± 1, …,
    /// i ± k/2 (mod n), then, for j = 1..=k/2 and each node u in order, the edge (u, u + j)
    /// is rewired with probability p to (u, w), w uniform among the nodes that are neither u
    /// nor already u's neighbours (as in networkx). The edge count nk/2 (mean degree k) is
    /// kept; p = 0 is the lattice itself.
    WattsStrogatz {
        /// Number of nodes n (at least 3).
        nodes: usize,
        /// Lattice degree k: even, 2 ≤ k < n.
        k: usize,
        /// Rewiring probability p in [0, 1].
        p: f64,
        /// What to do with a disconnected draw. Default: resample.
        #[serde(default)]
        connectivity: Connectivity,
    },
    /// A graph read from an edge-list file (see [`Graph::read_edge_list`]): `u v` per line,
    /// `#` comments, optionally `# nodes: N` to fix the node count. The seed is unused.
    EdgeList {
        /// The file (plain text, or gzip when it ends in `.gz`). Relative paths are relative to
        /// the working directory.
        path: PathBuf,
        /// What to do if the file's graph is disconnected: `resample` (the default) makes it
        /// an error, `largest_component` keeps the largest component.
        #[serde(default)]
        connectivity: Connectivity,
    },
}

crate::tagged::deserialize_tagged! {
    GraphSpec, tag = "kind", expecting = "a graph table with kind = \"erdos_renyi\", \
        \"barabasi_albert\", \"erdos_renyi_gnp\", \"random_regular\", \"watts_strogatz\" or \
        \"edge_list\"",
    ErdosRenyi { nodes: usize, edges: usize },
    BarabasiAlbert { nodes: usize, m: usize },
    ErdosRenyiGnp { nodes: usize, p: f64, #[serde(default)] connectivity: Connectivity },
    RandomRegular { nodes: usize, degree: usize, #[serde(default)] connectivity: Connectivity },
    WattsStrogatz { nodes: usize, k: usize, p: f64, #[serde(default)] connectivity: Connectivity },
    EdgeList { path: PathBuf, #[serde(default)] connectivity: Connectivity },
}

impl GraphSpec {
    /// The `kind` tag of this spec in configuration files, e.g. `"watts_strogatz"`.
    pub fn kind(&self) -> &'static str {
        match self {
            GraphSpec::ErdosRenyi { .. } => "erdos_renyi",
            GraphSpec::BarabasiAlbert { .. } => "barabasi_albert",
            GraphSpec::ErdosRenyiGnp { .. } => "erdos_renyi_gnp",
            GraphSpec::RandomRegular { .. } => "random_regular",
            GraphSpec::WattsStrogatz { .. } => "watts_strogatz",
            GraphSpec::EdgeList { .. } => "edge_list",
        }
    }

    /// The connectivity policy ([`Connectivity::Resample`] for G(n, m) and Barabási–Albert,
    /// which is always connected).
    pub fn connectivity(&self) -> Connectivity {
        match *self {
            GraphSpec::ErdosRenyi { .. } | GraphSpec::BarabasiAlbert { .. } => {
                Connectivity::Resample
            }
            GraphSpec::ErdosRenyiGnp { connectivity, .. }
            | GraphSpec::RandomRegular { connectivity, .. }
            | GraphSpec::WattsStrogatz { connectivity, .. }
            | GraphSpec::EdgeList { connectivity, .. } => connectivity,
        }
    }

    /// Number of nodes asked for: the generated graph has exactly this many, or fewer when
    /// [`Connectivity::LargestComponent`] drops some. 0 for [`GraphSpec::EdgeList`], whose
    /// size is known only once the file is read (use the generated graph's
    /// [`Graph::num_nodes`]).
    pub fn num_nodes(&self) -> usize {
        match *self {
            GraphSpec::ErdosRenyi { nodes, .. }
            | GraphSpec::BarabasiAlbert { nodes, .. }
            | GraphSpec::ErdosRenyiGnp { nodes, .. }
            | GraphSpec::RandomRegular { nodes, .. }
            | GraphSpec::WattsStrogatz { nodes, .. } => nodes,
            GraphSpec::EdgeList { .. } => 0,
        }
    }

    /// The number of nodes of the graph this spec makes, for sizing a vocabulary before any
    /// walk is drawn: [`num_nodes`](Self::num_nodes) for the generated kinds, and for
    /// [`GraphSpec::EdgeList`] the node count of the file's graph (after its `connectivity`
    /// policy), which needs the file to be read.
    ///
    /// # Errors
    ///
    /// For [`GraphSpec::EdgeList`], those of [`generate`](Self::generate): the file cannot be
    /// read or parsed (naming it and the line), or its graph is disconnected under
    /// `connectivity = "resample"`.
    pub fn resolved_num_nodes(&self) -> Result<usize, DataError> {
        match self {
            GraphSpec::EdgeList { .. } => Ok(self.generate(0)?.num_nodes()),
            _ => Ok(self.num_nodes()),
        }
    }

    /// Check that the spec can be generated, without generating anything.
    ///
    /// # Errors
    ///
    /// [`DataError::Invalid`] naming the field, e.g.
    /// `graph.edges = 10 is too few to connect 64 nodes (need at least 63)`.
    pub fn validate(&self) -> Result<(), DataError> {
        if let GraphSpec::EdgeList { path, .. } = self {
            if path.as_os_str().is_empty() {
                return Err(DataError::invalid("graph.path", "\"\"", "must name a file"));
            }
            return Ok(());
        }
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
        let probability = |p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(DataError::invalid("graph.p", p, "must be a probability in [0, 1]"))
            }
        };
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
                let possible = generators::max_edges(nodes);
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
            GraphSpec::ErdosRenyiGnp { p, .. } => probability(p)?,
            GraphSpec::RandomRegular { nodes, degree, .. } => {
                if degree == 0 || degree >= nodes {
                    return Err(DataError::invalid(
                        "graph.degree",
                        degree,
                        format!("must be between 1 and graph.nodes - 1 = {}", nodes - 1),
                    ));
                }
                if (nodes * degree) % 2 == 1 {
                    return Err(DataError::invalid(
                        "graph.degree",
                        degree,
                        format!(
                            "must be even when graph.nodes = {nodes} is odd \
                             (n·d counts edge ends)"
                        ),
                    ));
                }
            }
            GraphSpec::WattsStrogatz { nodes, k, p, .. } => {
                if k < 2 || k % 2 == 1 || k >= nodes {
                    return Err(DataError::invalid(
                        "graph.k",
                        k,
                        format!("must be even, at least 2 and less than graph.nodes = {nodes}"),
                    ));
                }
                probability(p)?;
            }
            GraphSpec::EdgeList { .. } => unreachable!("handled above"),
        }
        Ok(())
    }

    /// Number of edges of the graphs this spec generates (after [`validate`](Self::validate)):
    /// exact for G(n, m), Barabási–Albert, random regular (nd/2) and Watts–Strogatz (nk/2)
    /// when no nodes are dropped; the expectation p·n(n−1)/2, rounded, for G(n, p); 0 for an
    /// edge list, which is known only once read.
    pub fn num_edges(&self) -> usize {
        match *self {
            GraphSpec::ErdosRenyi { edges, .. } => edges,
            GraphSpec::BarabasiAlbert { nodes, m } => {
                m * (m + 1) / 2 + nodes.saturating_sub(m + 1) * m
            }
            GraphSpec::ErdosRenyiGnp { nodes, p, .. } => {
                (p * generators::max_edges(nodes) as f64).round() as usize
            }
            GraphSpec::RandomRegular { nodes, degree, .. } => nodes * degree / 2,
            GraphSpec::WattsStrogatz { nodes, k, .. } => nodes * k / 2,
            GraphSpec::EdgeList { .. } => 0,
        }
    }

    /// Draw one graph; the same spec and seed always give the same graph.
    ///
    /// # Errors
    ///
    /// As [`generate_with_report`](Self::generate_with_report).
    pub fn generate(&self, seed: u64) -> Result<Graph, DataError> {
        self.generate_with_report(seed).map(|(graph, _)| graph)
    }

    /// Like [`generate`](Self::generate), also saying how the connectivity policy was applied
    /// (draws rejected, nodes and edges dropped).
    ///
    /// # Errors
    ///
    /// The errors of [`validate`](Self::validate); [`DataError::NoConnectedGraph`] when
    /// G(n, m) stays disconnected for [`ERDOS_RENYI_MAX_TRIES`] tries;
    /// [`DataError::NoConnectedDraw`] when every one of [`MAX_DRAWS`] draws of a
    /// [`Connectivity::Resample`] ensemble is rejected; for [`GraphSpec::EdgeList`], the errors
    /// of [`Graph::read_edge_list`], and [`DataError::Invalid`] when the file's graph is not
    /// connected under [`Connectivity::Resample`].
    pub fn generate_with_report(&self, seed: u64) -> Result<(Graph, GraphReport), DataError> {
        self.validate()?;
        match self {
            &GraphSpec::ErdosRenyi { nodes, edges } => generators::erdos_renyi(nodes, edges, seed),
            &GraphSpec::BarabasiAlbert { nodes, m } => {
                let graph = generators::barabasi_albert(nodes, m, seed)?;
                let report = GraphReport::whole(Connectivity::Resample, 1, &graph);
                Ok((graph, report))
            }
            &GraphSpec::ErdosRenyiGnp { nodes, p, connectivity } => generators::draw(
                self.kind(),
                connectivity,
                seed,
                crate::GNP_STREAM,
                |rng| Ok(Some(generators::gnp(nodes, p, rng))),
                || {
                    format!(
                        "use a larger graph.p (G(n, p) is connected with high probability once \
                         p > ln(n)/n = {:.3e}) or connectivity = \"largest_component\"",
                        (nodes as f64).ln() / nodes as f64
                    )
                },
            ),
            &GraphSpec::RandomRegular { nodes, degree, connectivity } => generators::draw(
                self.kind(),
                connectivity,
                seed,
                crate::REGULAR_STREAM,
                |rng| Ok(generators::random_regular(nodes, degree, rng)),
                || {
                    "degrees 1 and 2 give a matching or a union of cycles, rarely connected: \
                     use graph.degree ≥ 3 or connectivity = \"largest_component\""
                        .to_string()
                },
            ),
            &GraphSpec::WattsStrogatz { nodes, k, p, connectivity } => generators::draw(
                self.kind(),
                connectivity,
                seed,
                crate::WATTS_STROGATZ_STREAM,
                |rng| Ok(Some(generators::watts_strogatz(nodes, k, p, rng))),
                || "use a larger graph.k or connectivity = \"largest_component\"".to_string(),
            ),
            GraphSpec::EdgeList { path, connectivity } => {
                let graph = Graph::read_edge_list(path)?;
                generators::apply_policy(graph, *connectivity, 1).map_err(|components| {
                    DataError::invalid(
                        "graph.connectivity",
                        "\"resample\"",
                        format!(
                            "cannot redraw the graph of {} ({components} components); use \
                             connectivity = \"largest_component\" to keep its largest component",
                            path.display()
                        ),
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn largest_component_relabels_in_order() {
        // Components {0, 3}, {1, 2, 5, 6}, {4}: keep the second, old ids 1, 2, 5, 6 → 0..4.
        let g = Graph::from_edges(7, &[(0, 3), (1, 5), (5, 6), (2, 6), (1, 2)]).unwrap();
        let (labels, count) = g.component_labels();
        assert_eq!(count, 3);
        assert_eq!(labels, vec![0, 1, 1, 0, 2, 1, 1]);
        let (big, old_id) = g.largest_component();
        assert_eq!(old_id, vec![1, 2, 5, 6]);
        assert_eq!(big.edges().collect::<Vec<_>>(), vec![(0, 1), (0, 2), (1, 3), (2, 3)]);
        // Ties go to the component with the smallest node.
        let tie = Graph::from_edges(4, &[(2, 3), (0, 1)]).unwrap();
        assert_eq!(tie.largest_component().1, vec![0, 1]);
        assert_eq!(Graph::from_edges(0, &[]).unwrap().largest_component().0.num_nodes(), 0);
    }
}

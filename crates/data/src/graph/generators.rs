//! The random-graph generators behind [`GraphSpec`](super::GraphSpec), and the connectivity
//! policy.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use super::{Connectivity, Graph, GraphReport};
use crate::{BARABASI_ALBERT_STREAM, DataError, ERDOS_RENYI_STREAM, derive_seed};

/// Most graphs drawn under [`Connectivity::Resample`] before giving up (also the try budget of
/// G(n, m), [`ERDOS_RENYI_MAX_TRIES`](super::ERDOS_RENYI_MAX_TRIES)).
pub const MAX_DRAWS: usize = 1000;

/// Draw from an ensemble until the policy accepts: draw `k` uses the seed
/// `derive_seed(seed, stream, k)`. `one` returns `None` for a draw that could not be
/// completed (a stuck pairing), which counts as a rejected draw.
pub(super) fn draw(
    kind: &str,
    connectivity: Connectivity,
    seed: u64,
    stream: u64,
    mut one: impl FnMut(&mut ChaCha12Rng) -> Result<Option<Graph>, DataError>,
    hint: impl FnOnce() -> String,
) -> Result<(Graph, GraphReport), DataError> {
    for attempt in 0..MAX_DRAWS {
        let mut rng = ChaCha12Rng::seed_from_u64(derive_seed(seed, stream, attempt as u64));
        let Some(graph) = one(&mut rng)? else { continue };
        if let Ok(done) = apply_policy(graph, connectivity, attempt + 1) {
            return Ok(done);
        }
    }
    Err(DataError::NoConnectedDraw { kind: kind.to_string(), tries: MAX_DRAWS, seed, hint: hint() })
}

/// Apply the policy to one drawn graph: the graph and its report, or (for a disconnected
/// graph under [`Connectivity::Resample`]) its number of components.
pub(super) fn apply_policy(
    graph: Graph,
    policy: Connectivity,
    draws: usize,
) -> Result<(Graph, GraphReport), usize> {
    let mut report = GraphReport::whole(policy, draws, &graph);
    if report.drawn_components <= 1 {
        return Ok((graph, report));
    }
    match policy {
        Connectivity::Resample => Err(report.drawn_components),
        Connectivity::LargestComponent => {
            let (kept, _) = graph.largest_component();
            report.dropped_nodes = graph.num_nodes() - kept.num_nodes();
            report.dropped_edges = graph.num_edges() - kept.num_edges();
            Ok((kept, report))
        }
    }
}

/// n(n − 1)/2, exactly.
pub(super) fn max_edges(nodes: usize) -> u128 {
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

/// G(n, m) with its historical try loop and error ([`DataError::NoConnectedGraph`]).
pub(super) fn erdos_renyi(
    nodes: usize,
    edges: usize,
    seed: u64,
) -> Result<(Graph, GraphReport), DataError> {
    let possible = usize::try_from(max_edges(nodes)).map_err(|_| {
        DataError::invalid(
            "graph.nodes",
            nodes,
            "is too large: n(n-1)/2 does not fit in usize on this platform",
        )
    })?;
    for attempt in 0..MAX_DRAWS {
        let mut rng =
            ChaCha12Rng::seed_from_u64(derive_seed(seed, ERDOS_RENYI_STREAM, attempt as u64));
        let chosen: Vec<(u32, u32)> = rand::seq::index::sample(&mut rng, possible, edges)
            .into_iter()
            .map(|k| edge_from_index(k as u64))
            .collect();
        let graph = Graph::from_edges(nodes, &chosen)?;
        if graph.is_connected() {
            let report = GraphReport::whole(Connectivity::Resample, attempt + 1, &graph);
            return Ok((graph, report));
        }
    }
    Err(DataError::NoConnectedGraph {
        nodes,
        edges,
        tries: MAX_DRAWS,
        seed,
        suggested_edges: (nodes as f64 * (nodes as f64).ln() / 2.0).ceil() as usize,
    })
}

/// G(n, p) by geometric skipping (Batagelj & Brandes 2005): the pairs (w, v), w < v, are
/// visited in the order of [`edge_from_index`], and the gap to the next edge is
/// Geometric(p), `⌊ln U / ln(1 − p)⌋` with U uniform on (0, 1].
pub(super) fn gnp(n: usize, p: f64, rng: &mut ChaCha12Rng) -> Graph {
    let mut edges: Vec<(u32, u32)> = Vec::new();
    if p >= 1.0 {
        for v in 1..n as u32 {
            edges.extend((0..v).map(|w| (w, v)));
        }
    } else if p > 0.0 {
        let expected = p * max_edges(n) as f64;
        edges.reserve((expected + 4.0 * expected.sqrt() + 16.0).min(1e9) as usize);
        let log_q = (1.0 - p).ln();
        let (mut v, mut w) = (1usize, -1i64);
        while v < n {
            let u = 1.0 - rng.random::<f64>();
            let skip = (u.ln() / log_q).floor();
            // A gap beyond every remaining pair ends the loop below; clamp to avoid overflow.
            let skip = if skip < 1e15 { skip as i64 } else { 1_000_000_000_000_000 };
            w += 1 + skip;
            while v < n && w >= v as i64 {
                w -= v as i64;
                v += 1;
            }
            if v < n {
                edges.push((w as u32, v as u32));
            }
        }
    }
    Graph::from_edges(n, &edges).expect("G(n, p) pairs are distinct and in range")
}

pub(super) fn barabasi_albert(nodes: usize, m: usize, seed: u64) -> Result<Graph, DataError> {
    let mut rng = ChaCha12Rng::seed_from_u64(derive_seed(seed, BARABASI_ALBERT_STREAM, 0));
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

/// Consecutive rejected pairs after which [`random_regular`] checks whether any acceptable
/// pair is left.
const STUCK_CHECK_AFTER: usize = 64;

/// A random d-regular graph by sequential random pairing of half-edges (Steger & Wormald):
/// `None` when the remaining half-edges admit no acceptable pair.
pub(super) fn random_regular(n: usize, d: usize, rng: &mut ChaCha12Rng) -> Option<Graph> {
    let mut points: Vec<u32> = (0..n as u32).flat_map(|v| std::iter::repeat_n(v, d)).collect();
    let mut neighbours: Vec<Vec<u32>> = vec![Vec::with_capacity(d); n];
    let mut edges = Vec::with_capacity(n * d / 2);
    let mut rejected = 0;
    while points.len() >= 2 {
        let len = points.len();
        let i = rng.random_range(0..len);
        let mut j = rng.random_range(0..len - 1);
        if j >= i {
            j += 1;
        }
        let (a, b) = (points[i], points[j]);
        if a != b && !neighbours[a as usize].contains(&b) {
            neighbours[a as usize].push(b);
            neighbours[b as usize].push(a);
            edges.push((a, b));
            points.swap_remove(i.max(j));
            points.swap_remove(i.min(j));
            rejected = 0;
        } else {
            rejected += 1;
            if rejected >= STUCK_CHECK_AFTER {
                if !any_acceptable_pair(&points, &neighbours) {
                    return None;
                }
                rejected = 0;
            }
        }
    }
    Some(Graph::from_edges(n, &edges).expect("the pairing makes a simple graph"))
}

/// Whether two remaining half-edges belong to distinct, non-adjacent nodes.
fn any_acceptable_pair(points: &[u32], neighbours: &[Vec<u32>]) -> bool {
    let mut nodes = points.to_vec();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
        .iter()
        .enumerate()
        .any(|(k, &a)| nodes[k + 1..].iter().any(|&b| !neighbours[a as usize].contains(&b)))
}

/// Watts–Strogatz: the ring lattice of degree k, each lattice edge (u, u + j) rewired with
/// probability p, in the order of networkx's `watts_strogatz_graph`.
pub(super) fn watts_strogatz(n: usize, k: usize, p: f64, rng: &mut ChaCha12Rng) -> Graph {
    let mut neighbours: Vec<Vec<u32>> = vec![Vec::with_capacity(k + 2); n];
    for u in 0..n {
        for j in 1..=k / 2 {
            let v = (u + j) % n;
            neighbours[u].push(v as u32);
            neighbours[v].push(u as u32);
        }
    }
    if p > 0.0 {
        for j in 1..=k / 2 {
            for u in 0..n {
                if rng.random::<f64>() >= p || neighbours[u].len() >= n - 1 {
                    continue;
                }
                let v = ((u + j) % n) as u32;
                let w = loop {
                    let w = rng.random_range(0..n as u32);
                    if w as usize != u && !neighbours[u].contains(&w) {
                        break w;
                    }
                };
                neighbours[u].retain(|&x| x != v);
                neighbours[v as usize].retain(|&x| x as usize != u);
                neighbours[u].push(w);
                neighbours[w as usize].push(u as u32);
            }
        }
    }
    let edges: Vec<(u32, u32)> = neighbours
        .iter()
        .enumerate()
        .flat_map(|(u, list)| {
            list.iter().filter(move |&&v| v as usize > u).map(move |&v| (u as u32, v))
        })
        .collect();
    Graph::from_edges(n, &edges).expect("rewiring keeps the graph simple")
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
    fn gnp_extremes() {
        let mut rng = ChaCha12Rng::seed_from_u64(0);
        assert_eq!(gnp(10, 0.0, &mut rng).num_edges(), 0);
        assert_eq!(gnp(10, 1.0, &mut rng).num_edges(), 45);
        // p just below 1 still visits pairs in order without skipping past the end.
        let g = gnp(30, 1.0 - 1e-12, &mut rng);
        assert_eq!(g.num_edges(), 435);
    }

    #[test]
    fn stuck_pairing_is_detected() {
        // Two half-edges of the same node can never pair.
        let neighbours = vec![Vec::new(), Vec::new()];
        assert!(!any_acceptable_pair(&[0, 0], &neighbours));
        assert!(any_acceptable_pair(&[0, 1], &neighbours));
        assert!(!any_acceptable_pair(&[0, 1], &[vec![1], vec![0]]));
    }
}

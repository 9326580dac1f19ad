//! Graph construction and the random-graph generators.

use scalinglab_data::{DataError, Graph, GraphSpec};

fn error_message(spec: GraphSpec) -> String {
    let validated = spec.validate().unwrap_err();
    let generated = spec.generate(0).unwrap_err();
    assert_eq!(validated, generated, "generate must validate first");
    validated.to_string()
}

#[test]
fn from_edges_dedups_and_rejects_bad_edges() {
    let g = Graph::from_edges(3, &[(0, 1), (1, 0), (0, 1), (2, 1)]).unwrap();
    assert_eq!(g.num_edges(), 2);
    assert_eq!(g.neighbors(1), &[0, 2]);
    assert_eq!((g.degree(0), g.degree(1), g.degree(2)), (1, 2, 1));
    assert!(g.is_connected());

    let err = Graph::from_edges(3, &[(0, 1), (2, 2)]).unwrap_err();
    assert_eq!(err.to_string(), "edges[1] = (2, 2) is a self loop");
    let err = Graph::from_edges(3, &[(0, 3)]).unwrap_err();
    assert_eq!(err.to_string(), "edges[0] = (0, 3) has a node out of range for n = 3 nodes");

    let parts = Graph::from_edges(5, &[(0, 1), (2, 3)]).unwrap();
    assert!(!parts.is_connected());
    assert_eq!(parts.num_components(), 3);
    assert!(Graph::from_edges(0, &[]).unwrap().is_connected());
}

#[test]
fn erdos_renyi_is_exact_connected_and_seeded() {
    let spec = GraphSpec::ErdosRenyi { nodes: 200, edges: 700 };
    let g = spec.generate(42).unwrap();
    assert_eq!(g.num_nodes(), 200);
    assert_eq!(g.num_edges(), 700);
    assert!(g.is_connected());
    let degree_sum: usize = (0..200).map(|i| g.degree(i)).sum();
    assert_eq!(degree_sum, 2 * 700);
    assert_eq!(spec.generate(42).unwrap(), g, "same seed, same graph");
    assert_ne!(spec.generate(43).unwrap(), g, "other seed, other graph");
}

#[test]
fn erdos_renyi_is_uniform_over_edges() {
    // Each of the 45 edges of K_10 is in G(10, 15) with probability 15/45 = 1/3.
    let spec = GraphSpec::ErdosRenyi { nodes: 10, edges: 15 };
    let mut count = vec![0usize; 100];
    let draws = 3000;
    for seed in 0..draws {
        for (a, b) in spec.generate(seed).unwrap().edges() {
            count[a as usize * 10 + b as usize] += 1;
        }
    }
    // Conditioning on connectivity keeps this: all edges are alike under node relabelling.
    // The binomial standard deviation is √(⅓·⅔/3000) ≈ 0.0086; allow about 5σ.
    for a in 0..10 {
        for b in (a + 1)..10 {
            let f = count[a * 10 + b] as f64 / draws as f64;
            assert!((f - 1.0 / 3.0).abs() < 0.05, "edge ({a}, {b}) frequency {f}");
        }
    }
}

#[test]
fn erdos_renyi_extremes() {
    // The complete graph: every possible edge.
    let k = GraphSpec::ErdosRenyi { nodes: 12, edges: 66 }.generate(1).unwrap();
    assert!((0..12).all(|i| k.degree(i) == 11));
    // n − 1 edges on 3 nodes: every draw is a path, hence connected.
    let t = GraphSpec::ErdosRenyi { nodes: 3, edges: 2 }.generate(5).unwrap();
    assert!(t.is_connected());
    // A tree on many nodes is almost never drawn: the retry budget runs out with an error.
    let err = GraphSpec::ErdosRenyi { nodes: 200, edges: 199 }.generate(0).unwrap_err();
    assert!(matches!(err, DataError::NoConnectedGraph { nodes: 200, edges: 199, tries: 1000, .. }));
    assert!(err.to_string().contains("graph.edges = 199"), "{err}");
}

#[test]
fn impossible_specs_are_errors_naming_the_field() {
    assert_eq!(
        error_message(GraphSpec::ErdosRenyi { nodes: 64, edges: 10 }),
        "graph.edges = 10 is too few to connect 64 nodes (need at least 63)"
    );
    assert_eq!(
        error_message(GraphSpec::ErdosRenyi { nodes: 64, edges: 5000 }),
        "graph.edges = 5000 exceeds the 2016 possible edges of 64 nodes (n(n-1)/2)"
    );
    assert_eq!(
        error_message(GraphSpec::ErdosRenyi { nodes: 1, edges: 0 }),
        "graph.nodes = 1 must be at least 2"
    );
    assert!(
        error_message(GraphSpec::ErdosRenyi { nodes: u32::MAX as usize + 1, edges: 1 << 33 })
            .starts_with("graph.nodes = 4294967296 exceeds u32::MAX")
    );
    assert_eq!(
        error_message(GraphSpec::BarabasiAlbert { nodes: 10, m: 0 }),
        "graph.m = 0 must be at least 1"
    );
    assert_eq!(
        error_message(GraphSpec::BarabasiAlbert { nodes: 10, m: 10 }),
        "graph.m = 10 must be less than graph.nodes = 10"
    );
    assert_eq!(
        error_message(GraphSpec::BarabasiAlbert { nodes: 0, m: 1 }),
        "graph.nodes = 0 must be at least 2"
    );
}

#[test]
fn barabasi_albert_structure() {
    for (nodes, m) in [(2, 1), (50, 1), (300, 3), (40, 39), (5000, 2)] {
        let spec = GraphSpec::BarabasiAlbert { nodes, m };
        let g = spec.generate(7).unwrap();
        // Clique on m + 1 nodes, then m edges per further node.
        let expected = m * (m + 1) / 2 + (nodes - m - 1) * m;
        assert_eq!(g.num_edges(), expected, "n = {nodes}, m = {m}");
        assert_eq!(spec.num_edges(), expected);
        let degree_sum: usize = (0..nodes).map(|i| g.degree(i)).sum();
        assert_eq!(degree_sum, 2 * g.num_edges());
        assert!((0..nodes).all(|i| g.degree(i) >= m), "minimum degree m");
        assert!(g.is_connected());
        assert_eq!(spec.generate(7).unwrap(), g, "same seed, same graph");
    }
    // Preferential attachment makes hubs: the largest degree grows like m √n (≈ 140 here),
    // whereas uniform attachment would give about m ln n (≈ 20).
    let g = GraphSpec::BarabasiAlbert { nodes: 5000, m: 2 }.generate(7).unwrap();
    let max_degree = (0..5000).map(|i| g.degree(i)).max().unwrap();
    assert!(max_degree > 60, "largest degree {max_degree}");
    assert_ne!(GraphSpec::BarabasiAlbert { nodes: 5000, m: 2 }.generate(8).unwrap(), g);
}

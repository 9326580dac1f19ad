//! Degree distributions and connectivity of every graph family against known truths, the
//! connectivity policy, and edge-list files.

mod common;

use common::{assert_close, temp_dir};
use scalinglab_data::{Connectivity, DataError, Graph, GraphSpec, WalkBias, WalkConfig};

/// ln C(n, k) by summing logs (n is small).
fn ln_binomial(n: u64, k: u64) -> f64 {
    (1..=k).map(|i| ((n - k + i) as f64).ln() - (i as f64).ln()).sum()
}

#[test]
fn gnp_degrees_are_binomial() {
    // G(n, p): the edge count is Binomial(n(n−1)/2, p) and each degree Binomial(n − 1, p).
    let (n, p) = (2000usize, 0.005);
    let pairs = (n * (n - 1) / 2) as f64;
    let draws = 10;
    let mut edge_total = 0.0;
    let mut histogram = vec![0usize; n];
    for seed in 0..draws {
        let spec =
            GraphSpec::ErdosRenyiGnp { nodes: n, p, connectivity: Connectivity::LargestComponent };
        let (g, report) = spec.generate_with_report(seed).unwrap();
        assert!(g.is_connected());
        assert_eq!(report.drawn_nodes, n);
        assert_eq!(g.num_nodes(), n - report.dropped_nodes);
        // The report's count is of the whole draw, before the component is cut out.
        edge_total += report.drawn_edges as f64;
        if report.dropped_nodes == 0 {
            g.degrees().iter().for_each(|&d| histogram[d] += 1);
        }
    }
    // Mean edge count p·n(n−1)/2 = 9995 within 5 standard errors √(N p (1−p) / draws) ≈ 10.
    let mean_edges = edge_total / draws as f64;
    let se = (pairs * p * (1.0 - p) / draws as f64).sqrt();
    assert_close(mean_edges, p * pairs, 5.0 * se, "mean edge count");
    // Degree histogram against the Binomial(n − 1, p) pmf near its mean (≈ 10).
    let nodes: usize = histogram.iter().sum();
    assert!(nodes >= 5 * n, "most draws should be connected ({nodes} nodes counted)");
    for k in 4..=16u64 {
        let ln_pmf = ln_binomial(n as u64 - 1, k)
            + k as f64 * p.ln()
            + (n as u64 - 1 - k) as f64 * (-p).ln_1p();
        let pmf = ln_pmf.exp();
        let freq = histogram[k as usize] as f64 / nodes as f64;
        // Degrees are nearly independent; binomial standard error of the frequency.
        let sigma = (pmf * (1.0 - pmf) / nodes as f64).sqrt();
        assert_close(freq, pmf, 5.0 * sigma + 1e-3, &format!("P(degree = {k})"));
    }
}

#[test]
fn gnp_is_seeded_and_resamples_to_connected() {
    let spec =
        GraphSpec::ErdosRenyiGnp { nodes: 300, p: 0.03, connectivity: Connectivity::Resample };
    let (g, report) = spec.generate_with_report(3).unwrap();
    assert!(g.is_connected());
    assert_eq!(g.num_nodes(), 300);
    assert_eq!(report.dropped_nodes, 0);
    assert_eq!(spec.generate(3).unwrap(), g);
    assert_ne!(spec.generate(4).unwrap(), g);
}

#[test]
fn disconnected_draws_follow_the_policy() {
    // p = 1/n is far below the connectivity threshold ln(n)/n: never connected.
    let resample =
        GraphSpec::ErdosRenyiGnp { nodes: 500, p: 0.002, connectivity: Connectivity::Resample };
    let err = resample.generate(0).unwrap_err();
    assert!(matches!(err, DataError::NoConnectedDraw { tries: 1000, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with("graph.kind = \"erdos_renyi_gnp\": no connected graph"), "{msg}");
    assert!(msg.contains("largest_component"), "{msg}");

    let keep = GraphSpec::ErdosRenyiGnp {
        nodes: 500,
        p: 0.004,
        connectivity: Connectivity::LargestComponent,
    };
    let (g, report) = keep.generate_with_report(0).unwrap();
    assert!(g.is_connected());
    assert_eq!(report.draws, 1);
    assert!(report.drawn_components > 1);
    assert!(report.dropped_nodes > 0);
    assert_eq!(g.num_nodes() + report.dropped_nodes, 500);
    assert_eq!(g.num_edges() + report.dropped_edges, report.drawn_edges);
    // Above the giant-component threshold (mean degree 2) the giant holds most nodes:
    // the survival fraction s solves s = 1 − e^(−2s), s ≈ 0.797.
    assert!(g.num_nodes() > 300, "giant component of {} nodes", g.num_nodes());
    let text = report.to_string();
    assert!(text.contains("kept the largest component, dropping"), "{text}");

    // A walk config reports it too.
    let config = WalkConfig { graph: keep, bias: WalkBias::Unbiased, seed: 0 };
    let (graph, chain, report2) = config.build_with_report().unwrap();
    assert_eq!(chain.num_states(), graph.num_nodes());
    assert_eq!(report2, report);
}

/// Number of triangles, each counted once.
fn triangles(g: &Graph) -> usize {
    let mut count = 0;
    for (a, b) in g.edges() {
        // Common neighbours c > b of the sorted lists close a triangle a < b < c.
        let (na, nb) = (g.neighbors(a as usize), g.neighbors(b as usize));
        count += na.iter().filter(|&&c| c > b && nb.binary_search(&c).is_ok()).count();
    }
    count
}

#[test]
fn random_regular_degrees_and_short_cycles() {
    for (n, d) in [(10, 3), (101, 4), (500, 7), (12, 11)] {
        let spec =
            GraphSpec::RandomRegular { nodes: n, degree: d, connectivity: Connectivity::Resample };
        let g = spec.generate(1).unwrap();
        assert!(g.degrees().iter().all(|&k| k == d), "n = {n}, d = {d}: not regular");
        assert_eq!(g.num_edges(), n * d / 2);
        assert_eq!(spec.num_edges(), n * d / 2);
        assert!(g.is_connected());
        assert_eq!(spec.generate(1).unwrap(), g);
    }
    // In a uniform random d-regular graph the number of triangles is asymptotically
    // Poisson with mean (d − 1)³/6 (Bollobás 1980; Wormald 1981): 4/3 for d = 3.
    let draws = 300;
    let total: usize = (0..draws)
        .map(|seed| {
            let spec = GraphSpec::RandomRegular {
                nodes: 1000,
                degree: 3,
                connectivity: Connectivity::Resample,
            };
            triangles(&spec.generate(seed).unwrap())
        })
        .sum();
    let mean = total as f64 / draws as f64;
    let se = (4.0 / 3.0 / draws as f64).sqrt();
    assert_close(mean, 4.0 / 3.0, 5.0 * se, "mean triangle count");
}

#[test]
fn random_regular_degree_one_is_a_matching() {
    let spec =
        GraphSpec::RandomRegular { nodes: 8, degree: 1, connectivity: Connectivity::Resample };
    assert!(matches!(spec.generate(0).unwrap_err(), DataError::NoConnectedDraw { .. }));
    let spec = GraphSpec::RandomRegular {
        nodes: 8,
        degree: 1,
        connectivity: Connectivity::LargestComponent,
    };
    let (g, report) = spec.generate_with_report(0).unwrap();
    assert_eq!((g.num_nodes(), g.num_edges()), (2, 1));
    assert_eq!((report.drawn_components, report.dropped_nodes, report.dropped_edges), (4, 6, 3));
}

#[test]
fn barabasi_albert_degree_law() {
    // For preferential attachment with m edges per node the degree distribution tends to
    // P(k) = 2m(m+1) / (k(k+1)(k+2)), k ≥ m (Bollobás, Riordan, Spencer & Tusnády 2001), so
    // P(k = m) = 2/(m+2) and P(k ≥ K) = m(m+1)/(K(K+1)).
    let (n, m) = (20_000, 2);
    let g = GraphSpec::BarabasiAlbert { nodes: n, m }.generate(3).unwrap();
    let degrees = g.degrees();
    assert_eq!(*degrees.iter().min().unwrap(), m, "minimum degree m");
    let frac = |pred: &dyn Fn(usize) -> bool| {
        degrees.iter().filter(|&&k| pred(k)).count() as f64 / n as f64
    };
    assert_close(frac(&|k| k == m), 2.0 / (m as f64 + 2.0), 0.02, "P(k = m)");
    let tail = frac(&|k| k >= 10);
    assert_close(tail, 6.0 / 110.0, 0.01, "P(k ≥ 10)");
    // The same mean degree (≈ 4) in G(n, p) gives a Poisson(4) tail: P(k ≥ 10) ≈ 0.008.
    let er = GraphSpec::ErdosRenyiGnp {
        nodes: n,
        p: 4.0 / (n - 1) as f64,
        connectivity: Connectivity::LargestComponent,
    }
    .generate(3)
    .unwrap();
    let er_tail = er.degrees().iter().filter(|&&k| k >= 10).count() as f64 / er.num_nodes() as f64;
    assert!(er_tail < 0.015 && tail > 3.0 * er_tail, "BA tail {tail} vs ER tail {er_tail}");
}

#[test]
fn watts_strogatz_lattice_and_rewiring() {
    let (n, k) = (2000usize, 6usize);
    let lattice =
        GraphSpec::WattsStrogatz { nodes: n, k, p: 0.0, connectivity: Connectivity::Resample }
            .generate(0)
            .unwrap();
    for i in 0..n {
        let mut expected: Vec<u32> =
            (1..=k / 2).flat_map(|j| [(i + j) % n, (i + n - j) % n]).map(|v| v as u32).collect();
        expected.sort_unstable();
        assert_eq!(lattice.neighbors(i), expected.as_slice(), "node {i} of the ring lattice");
    }
    let p = 0.2;
    let spec = GraphSpec::WattsStrogatz { nodes: n, k, p, connectivity: Connectivity::Resample };
    let g = spec.generate(5).unwrap();
    assert_eq!(g.num_edges(), n * k / 2, "rewiring keeps the edge count");
    // Each node keeps the k/2 edges it rewires from its own end: degree ≥ k/2.
    assert!(g.degrees().iter().all(|&d| d >= k / 2));
    // About p·nk/2 edges leave the lattice (a rewired edge lands back on a lattice position
    // with probability ≈ k/n, negligible here).
    let off_lattice = g
        .edges()
        .filter(|&(a, b)| {
            let gap = (b - a) as usize;
            gap.min(n - gap) > k / 2
        })
        .count() as f64;
    let expected = p * (n * k / 2) as f64;
    let sigma = ((n * k / 2) as f64 * p * (1.0 - p)).sqrt();
    assert_close(off_lattice, expected, 5.0 * sigma, "rewired edges");
    assert_eq!(spec.generate(5).unwrap(), g);
}

#[test]
fn new_specs_validate_their_fields() {
    let msg = |spec: GraphSpec| spec.validate().unwrap_err().to_string();
    let c = Connectivity::Resample;
    assert_eq!(
        msg(GraphSpec::ErdosRenyiGnp { nodes: 10, p: 1.5, connectivity: c }),
        "graph.p = 1.5 must be a probability in [0, 1]"
    );
    assert_eq!(
        msg(GraphSpec::RandomRegular { nodes: 7, degree: 3, connectivity: c }),
        "graph.degree = 3 must be even when graph.nodes = 7 is odd (n·d counts edge ends)"
    );
    assert_eq!(
        msg(GraphSpec::RandomRegular { nodes: 7, degree: 7, connectivity: c }),
        "graph.degree = 7 must be between 1 and graph.nodes - 1 = 6"
    );
    assert_eq!(
        msg(GraphSpec::WattsStrogatz { nodes: 10, k: 3, p: 0.1, connectivity: c }),
        "graph.k = 3 must be even, at least 2 and less than graph.nodes = 10"
    );
    assert_eq!(
        msg(GraphSpec::WattsStrogatz { nodes: 10, k: 4, p: f64::NAN, connectivity: c }),
        "graph.p = NaN must be a probability in [0, 1]"
    );
}

#[test]
fn new_specs_from_toml() {
    let spec: GraphSpec =
        toml::from_str("kind = \"watts_strogatz\"\nnodes = 50\nk = 4\np = 0.1\n").unwrap();
    assert_eq!(
        spec,
        GraphSpec::WattsStrogatz { nodes: 50, k: 4, p: 0.1, connectivity: Connectivity::Resample }
    );
    let spec: GraphSpec = toml::from_str(
        "kind = \"random_regular\"\nnodes = 50\ndegree = 3\nconnectivity = \"largest_component\"\n",
    )
    .unwrap();
    assert_eq!(spec.connectivity(), Connectivity::LargestComponent);
    let spec: GraphSpec =
        toml::from_str("kind = \"edge_list\"\npath = \"graphs/karate.txt\"\n").unwrap();
    assert_eq!(spec.kind(), "edge_list");
    let bad = "kind = \"erdos_renyi_gnp\"\nnodes = 50\np = 0.1\nconnectivity = \"drop\"\n";
    assert!(toml::from_str::<GraphSpec>(bad).is_err());
}

#[test]
fn edge_list_round_trip_plain_and_gzip() {
    let dir = temp_dir("edge-list-round-trip");
    let g =
        GraphSpec::WattsStrogatz { nodes: 300, k: 4, p: 0.3, connectivity: Connectivity::Resample }
            .generate(2)
            .unwrap();
    for name in ["ws.txt", "ws.txt.gz"] {
        let path = dir.join(name);
        g.write_edge_list(&path).unwrap();
        assert_eq!(Graph::read_edge_list(&path).unwrap(), g, "{name}");
    }
    // An isolated last node survives through the `# nodes:` line.
    let isolated = Graph::from_edges(4, &[(0, 1), (1, 2)]).unwrap();
    let path = dir.join("isolated.txt");
    isolated.write_edge_list(&path).unwrap();
    let back = Graph::read_edge_list(&path).unwrap();
    assert_eq!(back.num_nodes(), 4);
    assert_eq!(back, isolated);
    // Through a spec: the same graph, connected.
    let spec =
        GraphSpec::EdgeList { path: dir.join("ws.txt.gz"), connectivity: Connectivity::Resample };
    assert_eq!(spec.generate(99).unwrap(), g);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn edge_list_parsing_comments_and_errors() {
    let dir = temp_dir("edge-list-errors");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ok = write("ok.txt", "# a user's graph\n\n0 1\n1\t2   # trailing comment\n  2 0\n1 0\n");
    let g = Graph::read_edge_list(&ok).unwrap();
    assert_eq!(g.edges().collect::<Vec<_>>(), vec![(0, 1), (0, 2), (1, 2)]);

    let err = |name: &str, text: &str| {
        let path = write(name, text);
        Graph::read_edge_list(&path).unwrap_err().to_string()
    };
    let e = err("three.txt", "0 1\n\n2 3 4\n");
    assert!(e.ends_with("three.txt:3: expected two node ids \"u v\", found \"2 3 4\""), "{e}");
    let e = err("word.txt", "0 1\n1 x\n");
    assert!(e.ends_with("word.txt:2: node id \"x\" is not an integer in 0..=4294967294"), "{e}");
    let e = err("loop.txt", "0 1\n# ok\n5 5\n");
    assert!(e.ends_with("loop.txt:3: self loop \"5 5\""), "{e}");
    let e = err("declared.txt", "# nodes: 3\n0 1\n1 3\n");
    assert!(e.ends_with("declared.txt:1: \"# nodes: 3\" but the file has node id 3"), "{e}");
    let e = Graph::read_edge_list(&dir.join("missing.txt")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }));
    assert!(e.to_string().contains("missing.txt: cannot open for reading"), "{e}");

    // A disconnected file: an error under "resample", its largest component otherwise.
    let parts = write("parts.txt", "0 1\n1 2\n3 4\n");
    let spec = GraphSpec::EdgeList { path: parts.clone(), connectivity: Connectivity::Resample };
    let e = spec.generate(0).unwrap_err().to_string();
    assert!(e.contains("parts.txt (2 components)") && e.contains("largest_component"), "{e}");
    let spec = GraphSpec::EdgeList { path: parts, connectivity: Connectivity::LargestComponent };
    let (g, report) = spec.generate_with_report(0).unwrap();
    assert_eq!((g.num_nodes(), report.dropped_nodes, report.dropped_edges), (3, 2, 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

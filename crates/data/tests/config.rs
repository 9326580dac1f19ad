//! Serialisation of the configuration types.

use scalinglab_data::{GraphSpec, WalkBias, WalkConfig};

#[test]
fn walk_config_from_toml() {
    let config: WalkConfig = toml::from_str(
        r#"
seed = 3
[graph]
kind = "erdos_renyi"
nodes = 128
edges = 512
"#,
    )
    .unwrap();
    assert_eq!(
        config,
        WalkConfig {
            graph: GraphSpec::ErdosRenyi { nodes: 128, edges: 512 },
            bias: WalkBias::Unbiased,
            seed: 3,
        }
    );
    config.validate().unwrap();
    let chain = config.build().unwrap();
    assert_eq!(chain.num_states(), 128);
    assert_eq!(chain.num_transitions(), 2 * 512);
}

#[test]
fn biased_barabasi_albert_from_toml() {
    let config: WalkConfig = toml::from_str(
        r#"
[graph]
kind = "barabasi_albert"
nodes = 100
m = 3
[bias]
kind = "power_law"
exponent = 1.5
"#,
    )
    .unwrap();
    assert_eq!(config.graph, GraphSpec::BarabasiAlbert { nodes: 100, m: 3 });
    assert_eq!(config.bias, WalkBias::PowerLaw { exponent: 1.5 });
    assert_eq!(config.seed, 0);
    let (graph, chain) = config.build_with_graph().unwrap();
    assert_eq!(graph.num_nodes(), chain.num_states());
}

#[test]
fn unknown_fields_are_rejected() {
    let top = "seed = 3\nsed = 4\n[graph]\nkind = \"erdos_renyi\"\nnodes = 128\nedges = 512\n";
    let err = toml::from_str::<WalkConfig>(top).unwrap_err().to_string();
    assert!(err.contains("sed"), "{err}");
    let in_graph = "[graph]\nkind = \"erdos_renyi\"\nnodes = 128\nedges = 512\nm = 2\n";
    let err = toml::from_str::<WalkConfig>(in_graph).unwrap_err().to_string();
    assert!(err.contains("unknown field"), "{err}");
    let kind = "[graph]\nkind = \"watts_strogatz\"\nnodes = 128\n";
    assert!(toml::from_str::<WalkConfig>(kind).is_err());
    let in_bias = "[graph]\nkind = \"erdos_renyi\"\nnodes = 8\nedges = 9\n[bias]\nkind = \"power_law\"\nexponent = 1.0\nalpha = 2.0\n";
    let err = toml::from_str::<WalkConfig>(in_bias).unwrap_err().to_string();
    assert!(err.contains("unknown field"), "{err}");
    let unit = "[graph]\nkind = \"erdos_renyi\"\nnodes = 8\nedges = 9\n[bias]\nkind = \"unbiased\"\nexponent = 1.0\n";
    assert!(toml::from_str::<WalkConfig>(unit).is_err(), "unbiased takes no exponent");
}

#[test]
fn json_round_trip_and_default() {
    let config =
        WalkConfig { bias: WalkBias::PowerLaw { exponent: 0.75 }, ..WalkConfig::default() };
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(
        json,
        r#"{"graph":{"kind":"erdos_renyi","nodes":128,"edges":512},"bias":{"kind":"power_law","exponent":0.75},"seed":0}"#
    );
    assert_eq!(serde_json::from_str::<WalkConfig>(&json).unwrap(), config);
    let default = WalkConfig::default();
    assert_eq!(default.graph, GraphSpec::ErdosRenyi { nodes: 128, edges: 512 });
    assert_eq!(default.bias, WalkBias::Unbiased);
    assert_eq!(default.seed, 0);
    default.build().unwrap();
}

#[test]
fn validation_names_the_field() {
    let config =
        WalkConfig { bias: WalkBias::PowerLaw { exponent: f64::NAN }, ..WalkConfig::default() };
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "bias.exponent = NaN must be between 0 and 1000"
    );
    assert!(config.build().is_err());
    let config = WalkConfig {
        graph: GraphSpec::ErdosRenyi { nodes: 64, edges: 10 },
        ..WalkConfig::default()
    };
    assert!(config.build().unwrap_err().to_string().starts_with("graph.edges = 10 "));
}

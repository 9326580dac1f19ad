//! Property tests of the experiment-config loader: whatever a file holds (any value in any
//! field, or arbitrary bytes), `ExperimentConfig::from_toml` returns a config or an error that
//! names the file, never panics; and a config it accepts can be planned, sized and written back
//! without panicking.
//!
//! Generated cases from a seeded generator (a property test without a framework: `proptest`
//! would change the features of crates that burn shares, so that `cargo run` and `cargo test`
//! would each rebuild burn), plus every field with every extreme value and every truncation.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_training::ExperimentConfig;

const TINY: &str = r#"name = "tiny"
[data]
eval_sequences = 8
seed = 1
[data.walk]
seed = 0
bias = { kind = "unbiased" }
[data.walk.graph]
kind = "erdos_renyi"
nodes = 32
edges = 64
[model]
arch = "gpt2"
n_layers = 1
context = 8
[sweep]
widths = [8]
head_dim = 4
tokens = [256, 512]
compute_budgets = [1e9]
[train]
batch_size = 4
lr = 1e-2
schedule = { kind = "constant_cooldown", cooldown_frac = 0.2 }
[analysis]
bootstrap = 0
"#;

/// TOML values with the extremes that overflow unchecked arithmetic.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "18446744073709551615",
    "9223372036854775807",
    "2305843009213693952",
    "4294967296",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "inf",
    "-inf",
    "0.0",
    "-0.0",
    "\"\"",
    "\"many\"",
    "[]",
    "[18446744073709551615]",
    "[0, 0]",
    "true",
    "{ kind = \"cosine\" }",
    "{ kind = \"x\" }",
    "{}",
];

/// A random TOML value of any kind.
fn value(rng: &mut ChaCha12Rng) -> String {
    match rng.random_range(0..8) {
        0 => rng.random::<u64>().to_string(),
        1 => rng.random::<i64>().to_string(),
        2 => (1u64 << rng.random_range(0..64)).to_string(),
        3 => format!("{:e}", f64::from_bits(rng.random::<u64>())).replace("NaN", "nan"),
        4 => {
            let len = rng.random_range(0..10);
            let s: String = (0..len).map(|_| rng.random_range(b'a'..=b'z') as char).collect();
            format!("\"{s}\"")
        }
        5 => {
            let len = rng.random_range(0..4);
            format!("{:?}", (0..len).map(|_| rng.random_range(0..100_000u64)).collect::<Vec<_>>())
        }
        6 => rng.random::<bool>().to_string(),
        _ => EXTREMES[rng.random_range(0..EXTREMES.len())].to_string(),
    }
}

/// A config is either accepted, and then usable, or refused naming the file.
fn check(text: &str) {
    match ExperimentConfig::from_toml(text, Path::new("fuzz.toml")) {
        Ok(cfg) => {
            if let Ok(grid) = cfg.grid() {
                for (w, _) in grid {
                    let _ = cfg.run_model(w).map(|m| m.param_counts());
                }
            }
            let _ = cfg.check_memory();
            let back = ExperimentConfig::from_toml(&cfg.to_toml(), Path::new("back.toml"));
            assert!(back.is_ok(), "{text}\nwritten back, it does not load: {:?}", back.err());
        }
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains("fuzz.toml") || e.contains(" = "),
                "{text}\nthe error names neither the file nor a field: {e}"
            );
        }
    }
}

/// `TINY` with the value of its `at`-th field replaced by `value`.
fn with_value(at: usize, value: &str) -> String {
    let lines: Vec<&str> = TINY.lines().collect();
    let fields: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
    let at = fields[at % fields.len()];
    let key = lines[at].split(" = ").next().unwrap();
    let mut text = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i == at {
            text.push_str(&format!("{key} = {value}"));
        } else {
            text.push_str(l);
        }
        text.push('\n');
    }
    text
}

#[test]
fn any_value_in_any_field_is_accepted_or_refused_clearly() {
    let fields = TINY.lines().filter(|l| l.contains(" = ")).count();
    for at in 0..fields {
        for v in EXTREMES {
            check(&with_value(at, v));
        }
    }
    let mut rng = ChaCha12Rng::seed_from_u64(20);
    for _ in 0..400 {
        let at = rng.random_range(0..fields);
        check(&with_value(at, &value(&mut rng)));
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = ChaCha12Rng::seed_from_u64(21);
    for _ in 0..400 {
        let len = rng.random_range(0..400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        check(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn a_truncated_config_never_panics() {
    for cut in (0..=TINY.len()).filter(|&c| TINY.is_char_boundary(c)) {
        check(&TINY[..cut]);
    }
}

//! Property tests of the experiment-config loader: whatever a file holds (any value in any
//! field, or arbitrary bytes), `ExperimentConfig::from_toml` returns a config or an error that
//! names the file, never panics; and a config it accepts can be planned, sized and written back
//! without panicking.

use std::path::Path;

use proptest::prelude::*;
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

/// TOML values of every kind, with the extremes that overflow unchecked arithmetic.
fn values() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        (0u32..64).prop_map(|k| (1u64 << k).to_string()),
        Just(i64::MAX.to_string()),
        any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(|v| format!("{v:e}")),
        prop_oneof![Just("nan"), Just("inf"), Just("-inf"), Just("0.0"), Just("-0.0")]
            .prop_map(str::to_string),
        "[a-z_ ]{0,10}".prop_map(|s| format!("\"{s}\"")),
        prop::collection::vec(any::<u64>(), 0..4).prop_map(|v| format!("{v:?}")),
        prop::collection::vec(0u64..100_000, 0..4).prop_map(|v| format!("{v:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        prop_oneof![Just("{ kind = \"cosine\" }"), Just("{ kind = \"x\" }"), Just("{}")]
            .prop_map(str::to_string),
    ]
}

/// A config is either accepted, and then usable, or refused naming the file.
fn check(text: &str) -> Result<(), TestCaseError> {
    match ExperimentConfig::from_toml(text, Path::new("fuzz.toml")) {
        Ok(cfg) => {
            if let Ok(grid) = cfg.grid() {
                for (w, _) in grid {
                    let _ = cfg.run_model(w).map(|m| m.param_counts());
                }
            }
            let _ = cfg.check_memory();
            let back = ExperimentConfig::from_toml(&cfg.to_toml(), Path::new("back.toml"));
            prop_assert!(back.is_ok(), "written back, it does not load: {:?}", back.err());
        }
        Err(e) => {
            let e = e.to_string();
            prop_assert!(!e.trim().is_empty());
            prop_assert!(
                e.contains("fuzz.toml") || e.contains(" = "),
                "the error names neither the file nor a field: {e}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_value_in_any_field_is_accepted_or_refused_clearly(
        line in 0usize..64,
        value in values(),
    ) {
        let lines: Vec<&str> = TINY.lines().collect();
        let fields: Vec<usize> =
            (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
        let at = fields[line % fields.len()];
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
        check(&text)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn a_truncated_config_never_panics(cut in 0usize..TINY.len()) {
        check(&TINY[..cut])?;
    }
}

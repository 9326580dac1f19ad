//! Property tests of the results and points readers (`read_results`, `read_points_csv`,
//! `read_curves_csv`, `read_training_curves`): whatever a file holds, each returns its rows or
//! an error that names the file, and never panics. Cases: a good file with one cell replaced
//! by a generated value, every truncation, and arbitrary bytes, from a seeded generator (no
//! framework: `proptest` would change the features of crates burn shares and rebuild burn).

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_analysis::frontier::{
    CsvColumns, read_curves_csv, read_points_csv, read_training_curves,
};
use scalinglab_analysis::read_results;

const RESULTS: &str = "run_id,arch,d_model,n_layers,n_heads,context,vocab_size,params,params_non_embedding,tokens,steps,batch_size,lr,flops_per_token,flops,train_loss,eval_loss,wall_seconds,device,seed,status
w16_D51200,gpt2,16,2,2,50,1024,40208,6592,51200,64,16,0.03,41552.0,2127462400.0,6.47,6.46,1.1,\"flex (cpu)\",0,ok
w32_D51200,gpt2,32,2,4,50,1024,92576,25472,51200,64,16,0.015,154432.0,7906918400.0,6.35,6.34,1.8,\"flex (cpu)\",0,ok
w64_D51200,gpt2,64,2,8,50,1024,234304,100096,51200,64,16,0.0075,600576.0,30749491200.0,6.19,6.17,2.9,\"flex (cpu)\",0,ok
";

const POINTS: &str = "N,D,loss\n1e4,1e6,3.1\n3e4,1e6,2.9\n1e5,3e6,2.5\n3e5,1e7,2.2\n";

const CURVES: &str = "run_id,step,tokens_seen,flops_so_far,train_loss,eval_loss,loss\nw16_D51200,1,800,2595225600,6.95,,6.95\nw16_D51200,64,51200,166094438400,6.5,6.46,6.46\n";

/// Generated cell values: numbers of every kind, text, quotes, separators and empties.
fn value(rng: &mut ChaCha12Rng) -> String {
    const FIXED: [&str; 22] = [
        "",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "0",
        "-0",
        "-1",
        "1e400",
        "1e-400",
        "18446744073709551616",
        "-9223372036854775809",
        "abc",
        "\"",
        "\"\"",
        ",",
        "\n",
        "1,2",
        "ok",
        "diverged",
        "😀",
        " 3.5 ",
    ];
    match rng.random_range(0..3) {
        0 => FIXED[rng.random_range(0..FIXED.len())].to_string(),
        1 => format!("{}", rng.random::<f64>() * 10f64.powi(rng.random_range(-300..300))),
        _ => (0..rng.random_range(0..12)).map(|_| rng.random_range(32u8..127) as char).collect(),
    }
}

/// `text` with one cell of one line (header included) replaced.
fn mutate(text: &str, rng: &mut ChaCha12Rng) -> String {
    let mut lines: Vec<Vec<String>> =
        text.lines().map(|l| l.split(',').map(str::to_string).collect()).collect();
    let r = rng.random_range(0..lines.len());
    let c = rng.random_range(0..lines[r].len());
    lines[r][c] = value(rng);
    lines.iter().map(|l| l.join(",")).collect::<Vec<_>>().join("\n") + "\n"
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs every reader on `path`; an error must name the file.
fn read_all(path: &Path, what: &str) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let check = |e: String| assert!(e.contains(name), "{what}: error names no file: {e}");
    if let Err(e) = read_results(path) {
        check(e.to_string());
    }
    if let Err(e) = read_points_csv(path, &CsvColumns::default()) {
        check(e.to_string());
    }
    if let Err(e) = read_curves_csv(path) {
        check(e.to_string());
    }
    if let Err(e) = read_training_curves(path) {
        check(e.to_string());
    }
}

#[test]
fn the_good_files_are_read() {
    let dir = std::env::temp_dir().join(format!("scalinglab-parse-good-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(read_results(&write(&dir, "results.csv", RESULTS.as_bytes())).unwrap().len(), 3);
    let p = read_points_csv(&write(&dir, "points.csv", POINTS.as_bytes()), &CsvColumns::default());
    assert_eq!(p.unwrap().points.len(), 4);
    assert_eq!(read_curves_csv(&write(&dir, "curves.csv", CURVES.as_bytes())).unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn any_cell_any_truncation_and_arbitrary_bytes_are_read_or_refused_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("scalinglab-parse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = ChaCha12Rng::seed_from_u64(2026);
    let mut cases = 0;
    for (k, good) in [RESULTS, POINTS, CURVES].iter().enumerate() {
        for i in 0..150 {
            let text = mutate(good, &mut rng);
            read_all(&write(&dir, &format!("cell{k}_{i}.csv"), text.as_bytes()), &text);
            cases += 1;
        }
        for cut in 0..good.len() {
            if good.is_char_boundary(cut) {
                read_all(
                    &write(&dir, &format!("cut{k}.csv"), &good.as_bytes()[..cut]),
                    "truncated",
                );
                cases += 1;
            }
        }
    }
    for i in 0..100 {
        let bytes: Vec<u8> = (0..rng.random_range(0..400)).map(|_| rng.random()).collect();
        read_all(&write(&dir, &format!("bytes{i}.csv"), &bytes), "arbitrary bytes");
        cases += 1;
    }
    // Also as JSON lines, which read_results accepts by extension.
    for i in 0..50 {
        let bytes: Vec<u8> = (0..rng.random_range(0..200)).map(|_| rng.random()).collect();
        read_all(&write(&dir, &format!("bytes{i}.jsonl"), &bytes), "arbitrary jsonl");
        cases += 1;
    }
    assert!(cases > 1000, "{cases}");
    let _ = std::fs::remove_dir_all(&dir);
}

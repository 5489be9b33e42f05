//! The bench's scenarios still run (a broken one once went unnoticed until a session ran
//! it by hand). Only the quick ones: `latency` (10,000 small objects behind a store that
//! answers 10 ms late, beside the store's capacity; with the store on a CPU of its own
//! where the machine has two) and `instantiate`. Their figures are
//! not judged here — speed lives in BENCHMARKS.md — only that they are produced.

use std::process::Command;

use zip_oss_tests::binary;

fn bench(scenario: &str, more: &[&str]) -> String {
    let out = Command::new(binary())
        .args(["bench", "--scenario", scenario])
        .args(more)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bench --scenario {scenario} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The numbers in the table row whose first cell is `name`.
fn row(table: &str, name: &str) -> Vec<f64> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {name} |")))
        .unwrap_or_else(|| panic!("no row `{name}`:\n{table}"));
    line.split('|')
        .skip(2)
        .filter_map(|c| c.trim().replace(',', "").parse().ok())
        .collect()
}

#[test]
fn the_latency_scenario_packs_beside_the_stores_capacity() {
    let split = std::thread::available_parallelism().map_or(1, usize::from) >= 2;
    let out = bench("latency", if split { &["--split-cores"] } else { &[] });
    assert!(out.contains("Every store answer delayed 10 ms."), "{out}");
    if split {
        assert!(
            out.contains("; capacity clients and packs on CPU "),
            "{out}"
        );
    }
    let pack = row(&out, "10,000 objects of 4 KiB");
    // objects, MiB read, archive MiB, parts, pack s, MB/s, objects/s, …
    assert_eq!(pack[0], 10_000.0, "{out}");
    assert!(pack[6] > 0.0, "{out}");
    let capacity = row(&out, "10,000 objects of 4 KiB: store capacity");
    assert_eq!(capacity[0], 10_000.0, "{out}");
}

#[test]
fn the_instantiate_scenario_runs() {
    let out = bench("instantiate", &[]);
    assert!(row(&out, "on demand").len() >= 4, "{out}");
}

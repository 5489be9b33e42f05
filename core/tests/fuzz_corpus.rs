//! Replays the fuzz corpus (`fuzz/corpus/<target>/*`) and a stream of pseudo-random inputs
//! through the fuzz targets' bodies, so stable CI checks what `cargo fuzz` checks.

use std::path::Path;

use zip_oss_core::fuzzing;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus for {target}");
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Inputs mixing the characters names go wrong on.
fn random_inputs(seed: u64, count: usize) -> Vec<Vec<u8>> {
    const PIECES: &[&str] = &[
        "/", "\\", ".", "..", "a", "Z", ":", "C:", " ", "\u{0}", "\u{1}", "\n", "\u{7f}", "中",
        "😀", "+", "%", "~", "x/",
    ];
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = next() % 40;
            (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect::<String>()
                .into_bytes()
        })
        .collect()
}

#[test]
fn naming_corpus_and_random_inputs() {
    for input in corpus("naming").into_iter().chain(random_inputs(1, 20_000)) {
        fuzzing::naming(&input);
    }
}

#[test]
fn plan_corpus_and_random_inputs() {
    for input in corpus("plan").into_iter().chain(random_inputs(2, 2_000)) {
        fuzzing::plan(&input);
    }
}

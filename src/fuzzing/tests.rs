//! The fuzz regression that `cargo test` runs: every file of `fuzz/corpus/<target>/` and of
//! `fuzz/regressions/<target>/` (inputs that once broke a target) through the target's
//! wrapper. A target without a corpus, or a fuzz target file without an entry in `TARGETS`,
//! fails the test.

use std::path::{Path, PathBuf};

use super::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_has_a_wrapper_and_a_corpus() {
    let dir = fuzz_dir();
    let mut names: Vec<String> = files(&dir.join("fuzz_targets"))
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    let mut wrapped: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    wrapped.sort();
    assert_eq!(
        names, wrapped,
        "fuzz/fuzz_targets/*.rs and fuzzing::TARGETS"
    );
    for (name, _) in TARGETS {
        let corpus = files(&dir.join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name}/ is missing or empty"
        );
    }
}

#[test]
fn the_corpora_and_regressions_pass() {
    let dir = fuzz_dir();
    let mut failed = Vec::new();
    let mut replayed = 0;
    for (name, target) in TARGETS {
        let inputs = [
            dir.join("corpus").join(name),
            dir.join("regressions").join(name),
        ]
        .iter()
        .flat_map(|d| files(d))
        .collect::<Vec<_>>();
        for input in inputs {
            let data = std::fs::read(&input).expect("a readable corpus file");
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                failed.push(input.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "nothing replayed");
    assert!(failed.is_empty(), "inputs that break a target: {failed:#?}");
}

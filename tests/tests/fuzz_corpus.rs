//! Replays every saved fuzz corpus through the same bodies the fuzzers run, so CI on the
//! stable toolchain checks every input any fuzzer ever kept.

use std::path::PathBuf;

#[test]
fn every_fuzz_corpus_replays_cleanly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    for (name, body) in simplex_tests::fuzz::TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz target {name} has no fuzz/fuzz_targets/{name}.rs"
        );
        let corpus = root.join("corpus").join(name);
        let entries = std::fs::read_dir(&corpus)
            .unwrap_or_else(|e| panic!("corpus {} missing: {e}", corpus.display()));
        let mut replayed = 0;
        for entry in entries {
            let path = entry.expect("readable corpus entry").path();
            let input = std::fs::read(&path).expect("readable corpus file");
            body(&input);
            replayed += 1;
        }
        assert!(replayed > 0, "corpus for {name} is empty");
    }
}

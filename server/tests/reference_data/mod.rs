//! Where the server's tests find the reference's data, all inside the repository: the vectors it
//! generated (`spec/vectors/reference/`) and its test server identity (`spec/fixtures/`).

// Helpers outside #[test] functions fail loudly on missing or malformed data, as tests should.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

/// The reference's vectors: `spec/vectors/reference/`.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/reference")
}

/// The cases of one vectors file; a missing file fails the test loudly.
pub fn cases(file: &str) -> Vec<serde_json::Value> {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reference vectors missing at {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("vectors file is JSON");
    json["cases"].as_array().expect("a cases array").clone()
}

/// The reference's test server identity: `spec/fixtures/`.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/fixtures")
}

/// One file of `spec/fixtures/`; a missing file fails the test loudly.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} missing: {e}", path.display()))
}

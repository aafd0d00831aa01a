//! Test support shared by the test suites of the reawaken crates (a dev-dependency only):
//!
//! - [`cli`]: running the real binary bounded in time, and the checks of a refused input;
//! - [`alloc`]: a counting global allocator, to assert that a reader never asks for an
//!   absurd allocation on malformed input;
//! - [`sweep`]: waiting on runs and comparing two records' arrays byte for byte;
//! - [`fuzz`]: the proptest runner settings, byte mutations of valid files and the
//!   strings that tend to break parsers;
//! - [`npy_v1`]: hand-written `.npy` files whose header may lie;
//! - [`fixtures`]: the committed fixture directory (`tests/fixtures`, models written by
//!   Hugging Face Transformers).

pub mod alloc;
pub mod cli;
pub mod fuzz;
pub mod sweep;

use std::path::PathBuf;

/// The committed fixtures (`tests/fixtures/` at the workspace root).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// One fixture, e.g. `fixture("neox-parallel")`.
pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// A hand-written `.npy` (format version 1) with any header text and data bytes, padded
/// as the format requires; for files whose header lies or is malformed on purpose.
pub fn npy_v1(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

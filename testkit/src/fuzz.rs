//! Property-based fuzzing: inputs are random bytes or *mutations of valid files*
//! (truncation, byte flips, inserts, deletes, overwrites with strings that tend to break
//! parsers). Default case counts are small; `PROPTEST_CASES=N` runs long.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// `PROPTEST_CASES`, or `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A runner with [`cases`] cases and no failure persistence files.
pub fn runner(default: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(default),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Counts the inputs a target tried (printed with `--nocapture`).
pub fn report(target: &str, n: usize) {
    eprintln!("fuzz target {target}: {n} inputs, no panic");
}

/// One edit of a byte string; positions are taken modulo the length.
#[derive(Debug, Clone)]
pub enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Overwrite(usize, Vec<u8>),
}

/// Any mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), interesting_bytes()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
    ]
}

/// Byte strings that tend to break parsers: huge numbers, NaN, quotes, brackets, dtype
/// strings of `.npy` and safetensors headers.
pub fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    const WORDS: &[&[u8]] = &[
        b"99999999999999999999",
        b"18446744073709551615",
        b"9223372036854775807",
        b"4294967296",
        b"-1",
        b"0",
        b"NaN",
        b"nan",
        b"inf",
        b"-inf",
        b"1e999",
        b"-1e999",
        b"\"",
        b"'",
        b"[[[[[[[[[[[[[[[[",
        b"{{{{{{{{",
        b")",
        b"null",
        b"True",
        b"\xff\xfe",
        "é€😀".as_bytes(),
        b"\0",
        b"\n",
        b"\n\n",
        b",",
        b"<f4",
        b"<f8",
        b"<i8",
        b"|O",
        b"<U8",
        b">f4",
        b"<c16",
        b"\"F32\"",
        b"\"I64\"",
        b"\"BOOL\"",
        b"\"F8_E4M3\"",
        b"\"U8\"",
        b"\"XYZ\"",
    ];
    prop::sample::select(WORDS).prop_map(<[u8]>::to_vec)
}

/// Applies the mutations to `bytes[lo..hi]` (positions are taken modulo that part; `0,
/// usize::MAX` for the whole).
pub fn apply(mut bytes: Vec<u8>, muts: &[Mutation], lo: usize, hi: usize) -> Vec<u8> {
    for m in muts {
        let n = bytes.len();
        let lo = lo.min(n);
        let span = hi.min(n).saturating_sub(lo);
        let pos = |i: &usize, extra: usize| lo + i % (span + extra).max(1);
        match m {
            Mutation::Truncate(i) => bytes.truncate(pos(i, 1)),
            Mutation::Flip(i, x) if span > 0 => bytes[lo + i % span] ^= x,
            Mutation::Flip(..) => {}
            Mutation::Insert(i, b) => {
                let at = pos(i, 1).min(n);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(i, k) if span > 0 => {
                let at = lo + i % span;
                let end = (at + k).min(n);
                bytes.drain(at..end);
            }
            Mutation::Delete(..) => {}
            Mutation::Overwrite(i, b) => {
                let at = pos(i, 1).min(n);
                let end = (at + b.len()).min(n);
                bytes.splice(at..end, b.iter().copied());
            }
        }
    }
    bytes
}

/// Random bytes (1 in 5) or a mutated valid file (4 in 5).
pub fn fuzz_bytes(valid: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len();
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        4 => (0..n, prop::collection::vec(mutation(), 1..6))
            .prop_map(move |(k, muts)| apply(valid[k].clone(), &muts, 0, usize::MAX)),
    ]
}

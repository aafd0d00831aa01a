//! Property-based fuzzing of the readers of user files in `reawaken-llm`: `config.json`,
//! `tokenizer.json`, `model.safetensors` (headers above all) through `load_hf_dir`, and
//! `--docs` (`.jsonl`, blank-line `.txt`, a directory of `.txt`, non-UTF-8 bytes).
//!
//! Inputs are random bytes and mutations of valid files (truncation, byte flips, header
//! length lies, huge dims, wrong dtype strings, NaN/inf, deeply nested JSON). The property:
//! the reader returns `Ok` or a typed error, never panics, and (for the Rust side) never
//! asks for an absurd allocation — a counting global allocator records the largest single
//! request. Default case counts are small; run long with
//! `PROPTEST_CASES=20000 cargo test --release -p reawaken-llm --test fuzz_loaders`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use reawaken_llm::probe::documents::{load_documents, tokenize_doc};
use reawaken_llm::{load_hf_dir, GptNeoXConfig, ModelConfig, Tokenizer};
use reawaken_testkit::alloc::{assert_allocation_sane, Counting};
use reawaken_testkit::fuzz::{apply, fuzz_bytes, mutation, report, runner};
use serde_json::Value;
use tch::Device;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn fixture() -> PathBuf {
    reawaken_testkit::fixture("neox-parallel")
}

// ---------------------------------------------------------------------------------
// JSON-level mutations (keep the file valid JSON, change what it says).

#[derive(Debug, Clone)]
enum JsonEdit {
    /// Replace the value at the k-th visited node by one of the odd values.
    Replace(usize, usize),
    /// Remove the k-th visited object key.
    Remove(usize),
}

fn odd_values() -> Vec<Value> {
    let mut deep = Value::from(1);
    for _ in 0..64 {
        deep = Value::Array(vec![deep]);
    }
    vec![
        Value::Null,
        Value::from(-1),
        Value::from(0),
        Value::from(1),
        Value::from(3),
        Value::from(i64::MAX),
        Value::from(u64::MAX),
        Value::from(1e300),
        Value::from(-1e300),
        Value::from(0.5),
        Value::from("nan"),
        Value::from(""),
        Value::from("F16"),
        Value::from("relu"),
        Value::from(true),
        Value::Array(vec![]),
        Value::Object(Default::default()),
        deep,
    ]
}

fn json_edits() -> impl Strategy<Value = Vec<JsonEdit>> {
    prop::collection::vec(
        prop_oneof![
            3 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| JsonEdit::Replace(a, b)),
            1 => any::<usize>().prop_map(JsonEdit::Remove),
        ],
        1..4,
    )
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Visits nodes in pre-order; applies `f` to the k-th one.
fn nth_node(v: &mut Value, k: &mut usize, f: &mut dyn FnMut(&mut Value)) -> bool {
    if *k == 0 {
        f(v);
        return true;
    }
    *k -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| nth_node(c, k, f)),
        Value::Object(o) => o.values_mut().any(|c| nth_node(c, k, f)),
        _ => false,
    }
}

fn edit_json(mut v: Value, edits: &[JsonEdit]) -> Value {
    let odd = odd_values();
    for e in edits {
        let total = count_nodes(&v).max(1);
        match e {
            JsonEdit::Replace(k, o) => {
                let mut k = k % total;
                let new = odd[o % odd.len()].clone();
                nth_node(&mut v, &mut k, &mut |n| *n = new.clone());
            }
            JsonEdit::Remove(k) => {
                let mut k = k % total;
                nth_node(&mut v, &mut k, &mut |n| {
                    if let Value::Object(o) = n {
                        if let Some(key) = o.keys().next().cloned() {
                            o.remove(&key);
                        }
                    }
                });
            }
        }
    }
    v
}

/// Valid JSON edited structurally, byte-mutated, or random bytes.
fn fuzz_json(valid: Value) -> impl Strategy<Value = Vec<u8>> {
    let bytes = serde_json::to_vec(&valid).unwrap();
    let v2 = valid.clone();
    prop_oneof![
        3 => json_edits().prop_map(move |e| serde_json::to_vec(&edit_json(v2.clone(), &e)).unwrap()),
        2 => fuzz_bytes(vec![bytes]),
    ]
}

// ---------------------------------------------------------------------------------
// config.json

fn check_config(text: &[u8]) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if let Ok(cfg) = GptNeoXConfig::from_json_str(text, Path::new("config.json")) {
        // What the loader does next with an accepted config must not panic either.
        let _ = cfg.head_dim();
        let _ = cfg.rotary_ndims();
        let _ = cfg.activation();
        let _ = cfg.pad_token_id();
    }
    match ModelConfig::from_json_str(text, Path::new("config.json")) {
        Ok(cfg) => {
            let _ = cfg.shape();
            let _ = cfg.layout();
            let _ = cfg.max_sequence();
            let _ = cfg.num_parameters();
            let _ = cfg.to_json();
        }
        Err(e) => assert!(e.to_string().contains("config.json"), "{e}"),
    }
}

/// Every family's fixture config, mutated: parsed and checked without a panic, every
/// refusal naming the file.
#[test]
fn fuzz_config_json() {
    let fixtures = reawaken_testkit::fixtures();
    for family in [
        "neox-parallel",
        "gpt2",
        "llama",
        "qwen2",
        "mistral",
        "imagegpt",
    ] {
        let path = fixtures.join(family).join("config.json");
        let valid: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut r = runner(256);
        let n = std::cell::Cell::new(0usize);
        r.run(&fuzz_json(valid), |bytes| {
            n.set(n.get() + 1);
            check_config(&bytes);
            Ok(())
        })
        .unwrap();
        assert_allocation_sane("config.json");
        report(&format!("config_json_{family}"), n.get());
    }
}

/// Known bug (reported to h3): `hidden_size` near i64::MAX without `intermediate_size`
/// overflows `4 * hidden_size` in llm/src/model/config.rs (panic in debug builds).
#[test]
fn config_json_extremes() {
    let valid: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("config.json")).unwrap())
            .unwrap();
    for key in [
        "hidden_size",
        "num_attention_heads",
        "num_hidden_layers",
        "intermediate_size",
        "vocab_size",
        "max_position_embeddings",
    ] {
        for val in [
            Value::from(i64::MAX),
            Value::from(1i64 << 31),
            Value::from(1i64 << 40),
            Value::from(-4),
            Value::from(0),
        ] {
            let mut v = valid.clone();
            v[key] = val;
            check_config(v.to_string().as_bytes());
        }
    }
    let mut v = valid.clone();
    v["rope_parameters"]["partial_rotary_factor"] = Value::from(1e300);
    check_config(v.to_string().as_bytes());
    v["rope_parameters"]["partial_rotary_factor"] = Value::from(-1.0);
    check_config(v.to_string().as_bytes());
    v["layer_norm_eps"] = Value::from(-1.0);
    check_config(v.to_string().as_bytes());
    let deep = "[".repeat(100_000);
    check_config(deep.as_bytes());
}

// ---------------------------------------------------------------------------------
// tokenizer.json

#[test]
fn fuzz_tokenizer_json() {
    let valid: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("tokenizer.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tokenizer.json");
    let mut r = runner(96);
    let n = std::cell::Cell::new(0usize);
    r.run(&fuzz_json(valid), |bytes| {
        n.set(n.get() + 1);
        std::fs::write(&path, &bytes).unwrap();
        match Tokenizer::from_file(&path) {
            Ok(t) => {
                let _ = t.encode("Hello world, ça va? 😀 \u{0}\u{ffff}");
                let _ = t.max_id();
                let _ = t.vocab_size();
                let _ = t.eos_id();
                let _ = t.pad_id();
                let _ = t.check_fits(1024, &path);
                let _ = t.decode(&[0, 1, 2, 5000, -1, i64::MAX]);
            }
            Err(e) => prop_assert!(e.to_string().contains("tokenizer.json"), "{}", e),
        }
        Ok(())
    })
    .unwrap();
    assert_allocation_sane("tokenizer.json");
    report("tokenizer_json", n.get());
}

// ---------------------------------------------------------------------------------
// model.safetensors through load_hf_dir

struct ModelDir {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    weights: Vec<u8>,
    header_end: usize,
}

fn model_dir() -> ModelDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::copy(fixture().join("config.json"), dir.join("config.json")).unwrap();
    let weights = std::fs::read(fixture().join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    ModelDir {
        _tmp: tmp,
        dir,
        weights,
        header_end: 8 + n,
    }
}

/// Rewrites a safetensors header as JSON (keeps data bytes).
fn with_header(weights: &[u8], header: &Value) -> Vec<u8> {
    let n = u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    let mut text = serde_json::to_vec(header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&weights[8 + n..]);
    out
}

fn check_load(dir: &Path) -> Result<(), TestCaseError> {
    if let Err(e) = load_hf_dir(dir, Device::Cpu) {
        let msg = e.to_string();
        prop_assert!(
            msg.contains("model.safetensors") || msg.contains("config.json"),
            "{}",
            msg
        );
    }
    Ok(())
}

#[test]
fn fuzz_safetensors_header_bytes() {
    let m = model_dir();
    let path = m.dir.join("model.safetensors");
    let (w, end) = (m.weights.clone(), m.header_end);
    // Mutations aimed at the 8-byte length and the JSON header; sometimes anywhere.
    let strat = prop_oneof![
        4 => prop::collection::vec(mutation(), 1..5).prop_map(move |muts| apply(w.clone(), &muts, 0, end)),
        1 => any::<u64>().prop_map({
            let w = m.weights.clone();
            move |len| {
                let mut b = w.clone();
                b[..8].copy_from_slice(&len.to_le_bytes());
                b
            }
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    let mut r = runner(128);
    let n = std::cell::Cell::new(0usize);
    r.run(&strat, |bytes| {
        n.set(n.get() + 1);
        std::fs::write(&path, &bytes).unwrap();
        check_load(&m.dir)
    })
    .unwrap();
    assert_allocation_sane("safetensors bytes");
    report("safetensors_header_bytes", n.get());
}

#[test]
fn fuzz_safetensors_header_json() {
    let m = model_dir();
    let path = m.dir.join("model.safetensors");
    let header: Value = serde_json::from_slice(&m.weights[8..m.header_end]).unwrap();
    let w = m.weights.clone();
    let mut r = runner(128);
    let n = std::cell::Cell::new(0usize);
    r.run(&json_edits(), |edits| {
        n.set(n.get() + 1);
        let h = edit_json(header.clone(), &edits);
        std::fs::write(&path, with_header(&w, &h)).unwrap();
        check_load(&m.dir)
    })
    .unwrap();
    assert_allocation_sane("safetensors header json");
    report("safetensors_header_json", n.get());
}

/// Huge dims and offsets in an otherwise valid header: refused without allocating them.
#[test]
fn safetensors_huge_dims_are_refused_cheaply() {
    let m = model_dir();
    let path = m.dir.join("model.safetensors");
    let header: Value = serde_json::from_slice(&m.weights[8..m.header_end]).unwrap();
    let name = "gpt_neox.embed_in.weight";
    let huge: [Value; 5] = [
        serde_json::json!([1u64 << 32, 1u64 << 32]),
        serde_json::json!([u64::MAX, 2]),
        serde_json::json!([1024, 32, 1u64 << 40]),
        serde_json::json!([0, 32]),
        serde_json::json!([]),
    ];
    for shape in huge {
        let mut h = header.clone();
        h[name]["shape"] = shape.clone();
        std::fs::write(&path, with_header(&m.weights, &h)).unwrap();
        let e = load_hf_dir(&m.dir, Device::Cpu).err();
        assert!(e.is_some(), "shape {shape} accepted");
    }
    for offsets in [
        serde_json::json!([0, u64::MAX]),
        serde_json::json!([u64::MAX - 1, u64::MAX]),
        serde_json::json!([100, 4]),
    ] {
        let mut h = header.clone();
        h[name]["data_offsets"] = offsets.clone();
        std::fs::write(&path, with_header(&m.weights, &h)).unwrap();
        assert!(
            load_hf_dir(&m.dir, Device::Cpu).is_err(),
            "offsets {offsets}"
        );
    }
    assert_allocation_sane("safetensors huge dims");
}

// ---------------------------------------------------------------------------------
// --docs

fn check_docs(path: &Path) -> Result<(), TestCaseError> {
    match load_documents(Some(path), "text") {
        Ok(docs) => {
            prop_assert!(!docs.is_empty());
            let enc = |s: &str| Ok(s.bytes().map(i64::from).collect::<Vec<_>>());
            for (i, d) in docs.iter().enumerate().take(8) {
                let _ = tokenize_doc(d, i, 16, 0, 8, &enc);
            }
        }
        Err(e) => {
            let msg = e.to_string();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            prop_assert!(msg.contains(&name), "{} does not name {}", msg, name);
        }
    }
    Ok(())
}

fn valid_docs() -> Vec<Vec<u8>> {
    vec![
        b"{\"text\": \"first document here\"}\n{\"text\": \"second one\", \"id\": 3}\n".to_vec(),
        "{\"text\": \"caf\u{e9} \u{1F600}\"}\n\n{\"text\": \"\"}\n"
            .as_bytes()
            .to_vec(),
        b"{\"text\": [1, 2]}\n{\"other\": \"x\"}\n".to_vec(),
        b"doc one line one\nline two\n\n\ndoc two\n\n   \n\ndoc three\n".to_vec(),
        b"caf\xe9 latin-1\n\nmore".to_vec(),
        b"\xef\xbb\xbf{\"text\": \"bom\"}\n".to_vec(),
        "[".repeat(5000).into_bytes(),
    ]
}

#[test]
fn fuzz_documents_files() {
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("docs.jsonl");
    let txt = tmp.path().join("docs.txt");
    let mut r = runner(256);
    let n = std::cell::Cell::new(0usize);
    r.run(&fuzz_bytes(valid_docs()), |bytes| {
        n.set(n.get() + 1);
        std::fs::write(&jsonl, &bytes).unwrap();
        std::fs::write(&txt, &bytes).unwrap();
        check_docs(&jsonl)?;
        check_docs(&txt)
    })
    .unwrap();
    assert_allocation_sane("documents");
    report("documents_files", n.get());
}

#[test]
fn fuzz_documents_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = runner(64);
    let n = std::cell::Cell::new(0usize);
    let strat = prop::collection::vec(fuzz_bytes(valid_docs()), 0..4);
    r.run(&strat, |files| {
        n.set(n.get() + 1);
        let dir = tmp.path().join(format!("d{}", n.get()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, b) in files.iter().enumerate() {
            std::fs::write(dir.join(format!("{i}.txt")), b).unwrap();
        }
        check_docs(&dir)?;
        std::fs::remove_dir_all(&dir).unwrap();
        Ok(())
    })
    .unwrap();
    report("documents_dir", n.get());
}

//! Loading errors a user will hit: each gives one `LlmError` naming the file (and the
//! tensor), never a panic. Broken directories are made in a tempdir from the fixture.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use reawaken_llm::model::presets::{from_preset, InitScheme, ShapeOverrides};
use reawaken_llm::{load_hf_dir, save_hf_dir, select_device, LlmError, Tokenizer};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tch::Device;

fn fixture() -> PathBuf {
    reawaken_testkit::fixture("neox-parallel")
}

/// A copy of the fixture's config.json + model.safetensors (+ tokenizer.json) in a tempdir.
fn copy_fixture(with_tokenizer: bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture().join(f), tmp.path().join(f)).unwrap();
    }
    if with_tokenizer {
        std::fs::copy(
            fixture().join("tokenizer.json"),
            tmp.path().join("tokenizer.json"),
        )
        .unwrap();
    }
    tmp
}

struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// Rewrites `dir/model.safetensors` after `edit` changes its tensor list.
fn rewrite_weights(dir: &Path, edit: impl FnOnce(&mut HashMap<String, Owned>)) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut map: HashMap<String, Owned> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            (
                n,
                Owned {
                    dtype: v.dtype(),
                    shape: v.shape().to_vec(),
                    data: v.data().to_vec(),
                },
            )
        })
        .collect();
    edit(&mut map);
    let views: Vec<(String, TensorView)> = map
        .iter()
        .map(|(n, o)| {
            (
                n.clone(),
                TensorView::new(o.dtype, o.shape.clone(), &o.data).unwrap(),
            )
        })
        .collect();
    let out = safetensors::tensor::serialize(views, None).unwrap();
    std::fs::write(&path, out).unwrap();
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let path = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(v.as_object_mut().unwrap());
    std::fs::write(&path, v.to_string()).unwrap();
}

fn load_err(dir: &Path) -> LlmError {
    match load_hf_dir(dir, Device::Cpu) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e,
    }
}

fn assert_names(e: &LlmError, parts: &[&str]) {
    eprintln!("message: {e}");
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} should mention {p:?}");
    }
}

#[test]
fn the_fixture_copy_loads() {
    let tmp = copy_fixture(true);
    let m = load_hf_dir(tmp.path(), Device::Cpu).unwrap();
    assert!(m.tokenizer.is_some());
}

#[test]
fn missing_tensor_is_named() {
    let tmp = copy_fixture(false);
    let name = "gpt_neox.layers.1.attention.dense.weight";
    rewrite_weights(tmp.path(), |m| {
        m.remove(name);
    });
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::MissingTensor { .. }), "{e:?}");
    assert_names(&e, &["model.safetensors", name]);
}

#[test]
fn wrong_shape_is_named() {
    let tmp = copy_fixture(false);
    let name = "gpt_neox.final_layer_norm.weight";
    rewrite_weights(tmp.path(), |m| {
        let t = m.get_mut(name).unwrap();
        t.shape = vec![16];
        t.data.truncate(16 * 4);
    });
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::ShapeMismatch { .. }), "{e:?}");
    assert_names(&e, &["model.safetensors", name, "[16]", "[32]"]);
}

#[test]
fn wrong_dtype_is_named() {
    let tmp = copy_fixture(false);
    let name = "gpt_neox.layers.0.mlp.dense_h_to_4h.bias";
    rewrite_weights(tmp.path(), |m| {
        m.get_mut(name).unwrap().dtype = Dtype::I32;
    });
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::DtypeMismatch { .. }), "{e:?}");
    assert_names(&e, &["model.safetensors", name, "I32"]);
}

#[test]
fn half_precision_weights_are_accepted() {
    // Pythia checkpoints are float16: they load (upcast to float32).
    let tmp = copy_fixture(false);
    rewrite_weights(tmp.path(), |m| {
        for t in m.values_mut() {
            let vals: Vec<f32> = t
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let half = tch::Tensor::from_slice(&vals).to_kind(tch::Kind::BFloat16);
            let mut data = vec![0u8; vals.len() * 2];
            half.copy_data_u8(&mut data, vals.len());
            t.dtype = Dtype::BF16;
            t.data = data;
        }
    });
    let m = load_hf_dir(tmp.path(), Device::Cpu).unwrap();
    assert_eq!(m.model.named_parameters()[0].1.kind(), tch::Kind::Float);
}

#[test]
fn truncated_file_is_reported() {
    let tmp = copy_fixture(false);
    let path = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::CorruptFile { .. }), "{e:?}");
    assert_names(&e, &["model.safetensors", "truncated"]);
    // Not safetensors at all.
    std::fs::write(&path, b"this is not a safetensors file, just text").unwrap();
    assert!(matches!(load_err(tmp.path()), LlmError::CorruptFile { .. }));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(load_err(tmp.path()), LlmError::CorruptFile { .. }));
}

#[test]
fn config_weights_mismatch_is_reported() {
    // Fewer layers in the config than in the file.
    let tmp = copy_fixture(false);
    edit_config(tmp.path(), |c| {
        c.insert("num_hidden_layers".into(), 2.into());
    });
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::UnexpectedTensor { .. }), "{e:?}");
    assert_names(
        &e,
        &[
            "model.safetensors",
            "gpt_neox.layers.2.",
            "num_hidden_layers = 2",
        ],
    );
    // More layers in the config than in the file.
    edit_config(tmp.path(), |c| {
        c.insert("num_hidden_layers".into(), 4.into());
    });
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::MissingTensor { .. }), "{e:?}");
    assert_names(&e, &["gpt_neox.layers.3."]);
    // Another width.
    edit_config(tmp.path(), |c| {
        c.insert("num_hidden_layers".into(), 3.into());
        c.insert("hidden_size".into(), 64.into());
    });
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::ShapeMismatch { .. }), "{e:?}");
    assert_names(&e, &["model.safetensors", "config"]);
}

#[test]
fn unsupported_architecture_is_reported() {
    let tmp = copy_fixture(false);
    edit_config(tmp.path(), |c| {
        c.insert("model_type".into(), "t5".into());
        c.insert(
            "architectures".into(),
            serde_json::json!(["T5ForConditionalGeneration"]),
        );
    });
    let e = load_err(tmp.path());
    assert!(
        matches!(e, LlmError::UnsupportedArchitecture { .. }),
        "{e:?}"
    );
    // One sentence: what was found and what is supported.
    assert_names(
        &e,
        &[
            "config.json",
            "t5",
            "gpt_neox, gpt2, imagegpt, llama, qwen2, mistral",
        ],
    );
    edit_config(tmp.path(), |c| {
        c.insert("model_type".into(), "llama".into());
        c.insert(
            "architectures".into(),
            serde_json::json!(["LlamaForSequenceClassification"]),
        );
    });
    assert_names(
        &load_err(tmp.path()),
        &["LlamaForSequenceClassification", "LlamaForCausalLM"],
    );
    // A GPT-2 saved from the base model (architectures ["GPT2Model"]) loads.
    let gpt2 = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(
            reawaken_testkit::fixtures().join("gpt2").join(f),
            gpt2.path().join(f),
        )
        .unwrap();
    }
    edit_config(gpt2.path(), |c| {
        c.insert("architectures".into(), serde_json::json!(["GPT2Model"]));
    });
    let m = load_hf_dir(gpt2.path(), Device::Cpu).unwrap();
    assert_eq!(m.config.model_type(), "gpt2");
    edit_config(tmp.path(), |c| {
        c.insert("model_type".into(), "gpt_neox".into());
        c.insert(
            "architectures".into(),
            serde_json::json!(["GPTNeoXForSequenceClassification"]),
        );
    });
    assert_names(&load_err(tmp.path()), &["GPTNeoXForSequenceClassification"]);
}

#[test]
fn missing_files_are_reported() {
    let tmp = copy_fixture(false);
    std::fs::remove_file(tmp.path().join("model.safetensors")).unwrap();
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::MissingWeights { .. }), "{e:?}");
    std::fs::remove_file(tmp.path().join("config.json")).unwrap();
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::MissingConfig { .. }), "{e:?}");
    assert_names(&e, &["config.json"]);
    let e = load_err(&tmp.path().join("no-such-dir"));
    assert_names(&e, &["no-such-dir"]);
    // Invalid JSON config.
    std::fs::write(tmp.path().join("config.json"), "{ not json").unwrap();
    assert!(matches!(load_err(tmp.path()), LlmError::ConfigParse { .. }));
}

#[test]
fn sharded_index_with_missing_shard_is_reported() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/neox-sharded");
    let tmp = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, tmp.path().join(f.file_name().unwrap())).unwrap();
    }
    assert!(load_hf_dir(tmp.path(), Device::Cpu).is_ok());
    std::fs::remove_file(tmp.path().join("model-00002-of-00004.safetensors")).unwrap();
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::BadIndex { .. }), "{e:?}");
    assert_names(
        &e,
        &[
            "model.safetensors.index.json",
            "model-00002-of-00004.safetensors",
        ],
    );
}

#[test]
fn tokenizer_that_does_not_fit_the_model_is_reported() {
    // A 500-row model with the fixture's 882-id tokenizer.
    let shape = ShapeOverrides {
        width: Some(16),
        intermediate: Some(64),
        depth: Some(1),
        heads: Some(2),
        vocab: Some(500),
        context: None,
    };
    let mut m = from_preset("pythia-14m", &shape, InitScheme::Pythia, 0, Device::Cpu).unwrap();
    m.tokenizer = Some(Tokenizer::from_file(&fixture().join("tokenizer.json")).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    save_hf_dir(&m, tmp.path()).unwrap();
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::TokenizerVocab { .. }), "{e:?}");
    assert_names(&e, &["tokenizer.json", "500"]);
    // A broken tokenizer.json.
    std::fs::write(tmp.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    let e = load_err(tmp.path());
    assert!(matches!(e, LlmError::Tokenizer { .. }), "{e:?}");
    assert_names(&e, &["tokenizer.json"]);
}

#[test]
fn devices() {
    assert_eq!(select_device("cpu").unwrap(), Device::Cpu);
    let auto = select_device("auto").unwrap();
    assert_eq!(auto == Device::Cpu, !tch::Cuda::is_available());
    let e = select_device("tpu").unwrap_err();
    assert_names(&e, &["tpu"]);
    if !tch::Cuda::is_available() {
        assert_names(
            &select_device("cuda").unwrap_err(),
            &["CUDA is not available"],
        );
    }
    assert!(select_device("cuda:x").is_err());
}

//! Numerical parity with Hugging Face Transformers, for every model family.
//!
//! The fixtures under `tests/fixtures/` were made by Transformers itself
//! (`tests/fixtures/make_fixture.py` for GPT-NeoX: both residual modes and a sharded
//! copy; `make_family_fixtures.py` for GPT-2, Llama, Qwen2, Mistral and Image GPT): small random
//! models, their logits on fixed ids, the losses of a few SGD steps, and a BPE
//! `tokenizer.json` with the ids Transformers gives some texts.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{Array2, Array3};
use ndarray_npy::{read_npy, write_npy};
use reawaken_llm::{load_hf_dir, save_hf_dir, LoadedModel};
use tch::nn::OptimizerConfig;
use tch::{nn, Device, Kind, Tensor};

fn fixtures() -> PathBuf {
    reawaken_testkit::fixtures()
}

fn ids_tensor(a: &Array2<i64>) -> Tensor {
    let (b, s) = a.dim();
    let flat: Vec<i64> = a.iter().copied().collect();
    Tensor::from_slice(&flat).view([b as i64, s as i64])
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).expect("float tensor")
}

fn load(name: &str) -> LoadedModel {
    load_hf_dir(&fixtures().join(name), Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Max |ours − HF| over the fixture's logits.
fn logits_diff(name: &str) -> f32 {
    let dir = fixtures().join(name);
    let m = load(name);
    let ids: Array2<i64> = read_npy(dir.join("input_ids.npy")).unwrap();
    let want: Array3<f32> = read_npy(dir.join("logits.npy")).unwrap();
    let got = tch::no_grad(|| m.model.forward(&ids_tensor(&ids))).unwrap();
    let (b, s, v) = want.dim();
    assert_eq!(got.size(), vec![b as i64, s as i64, v as i64]);
    let got = to_vec(&got);
    let diff = got
        .iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // A non-trivial model: logits are far from constant.
    let spread = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(
        spread > 1.0,
        "fixture logits too flat to test anything ({spread})"
    );
    eprintln!(
        "{name}: max |ours - HF| = {diff:.3e} over {} logits (max |logit| {spread:.2})",
        want.len()
    );
    diff
}

#[test]
fn parallel_residual_logits_match_transformers() {
    let d = logits_diff("neox-parallel");
    assert!(d <= 1e-4, "max abs diff {d}");
}

#[test]
fn sequential_residual_logits_match_transformers() {
    let d = logits_diff("neox-sequential");
    assert!(d <= 1e-4, "max abs diff {d}");
}

#[test]
fn sharded_checkpoint_loads_the_same_weights() {
    let d = logits_diff("neox-sharded");
    assert!(d <= 1e-4, "max abs diff {d}");
    let a = load("neox-sharded");
    let b = load("neox-parallel");
    let pa = a.model.named_parameters();
    let pb = b.model.named_parameters();
    assert_eq!(pa.len(), pb.len());
    for ((na, ta), (nb, tb)) in pa.iter().zip(pb.iter()) {
        assert_eq!(na, nb);
        assert!(
            ta.equal(tb),
            "{na} differs between sharded and single-file loads"
        );
    }
}

/// Runs the fixture's SGD steps with our model and compares every loss.
fn sgd_matches(name: &str) {
    let dir = fixtures().join(name);
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sgd.json")).unwrap()).unwrap();
    let lr = rec["lr"].as_f64().unwrap();
    let train: Vec<i64> = rec["train_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let want: Vec<f64> = rec["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let m = load(name);
    let ids = Tensor::from_slice(&train).view([1, train.len() as i64]);
    let mut opt = nn::Sgd::default().build(&m.vs, lr).unwrap();
    let mut got = Vec::new();
    for _ in 0..want.len() - 1 {
        let loss = m.model.loss(&ids, None).unwrap();
        got.push(loss.double_value(&[]));
        opt.backward_step(&loss);
    }
    got.push(
        tch::no_grad(|| m.model.loss(&ids, None))
            .unwrap()
            .double_value(&[]),
    );
    let worst = got
        .iter()
        .zip(want.iter())
        .map(|(g, w)| (g - w).abs() / w.abs())
        .fold(0.0f64, f64::max);
    eprintln!("{name}: SGD losses ours {got:?}, HF {want:?}, max rel diff {worst:.3e}");
    for (k, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        let rel = (g - w).abs() / w.abs();
        assert!(
            rel <= 1e-5,
            "{name}: loss {k}: ours {g}, HF {w} (rel {rel:e})"
        );
    }
    // The steps really train.
    assert!(want[want.len() - 1] < want[0] - 0.5);
}

#[test]
fn sgd_losses_match_transformers_parallel() {
    sgd_matches("neox-parallel");
}

#[test]
fn sgd_losses_match_transformers_sequential() {
    sgd_matches("neox-sequential");
}

#[test]
fn sgd_losses_match_transformers_sharded() {
    sgd_matches("neox-sharded");
}

#[test]
fn tokenizer_json_matches_transformers_ids() {
    let m = load("neox-parallel");
    let tok = m.tokenizer.expect("fixture dir has tokenizer.json");
    let cases: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("tokenizer/cases.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(tok.eos_id(), cases["eos_id"].as_i64().unwrap());
    assert_eq!(tok.vocab_size(), cases["vocab_size"].as_i64().unwrap());
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<i64> = c["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(tok.encode(text).unwrap(), want, "text {text:?}");
    }
}

#[test]
fn hidden_states_feed_the_logits() {
    for name in [
        "neox-sequential",
        "gpt2",
        "llama",
        "qwen2",
        "mistral",
        "imagegpt",
    ] {
        let m = load(name);
        let ids = Tensor::from_slice(&[1i64, 5, 9, 12, 3]).view([1, 5]);
        let h = tch::no_grad(|| m.model.hidden_states(&ids)).unwrap();
        assert_eq!(h.size(), vec![1, 5, 32], "{name}");
        let a = to_vec(&m.model.logits_from_hidden(&h));
        let b = to_vec(&tch::no_grad(|| m.model.forward(&ids)).unwrap());
        assert_eq!(a, b, "{name}");
        // Causal: a right-padded copy gives the same states on the real tokens.
        let padded = Tensor::from_slice(&[1i64, 5, 9, 12, 3, 0, 0]).view([1, 7]);
        let hp = tch::no_grad(|| m.model.hidden_states(&padded))
            .unwrap()
            .narrow(1, 0, 5);
        let d = (hp - &h).abs().max().double_value(&[]);
        assert!(d < 1e-5, "{name}: padding changed real-token states by {d}");
    }
}

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh first (it creates the venv with transformers)",
        p.display()
    );
    p
}

/// Saves with `save_hf_dir`, then Transformers loads the directory with no missing or
/// unexpected keys, gets bit-identical weights and the logits we compute; our own loader
/// reads back what we wrote after training, bit for bit.
fn saved_directory_loads_unchanged(name: &str) {
    let src = fixtures().join(name);
    let m = load(name);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("saved");
    save_hf_dir(&m, &out).unwrap();
    // The tokenizer travels with the model: tokenizer.json, or Image GPT's clusters.
    let tokenizer_file = if name == "imagegpt" {
        "preprocessor_config.json"
    } else {
        "tokenizer.json"
    };
    assert!(out.join(tokenizer_file).is_file());
    let ids: Array2<i64> = read_npy(src.join("input_ids.npy")).unwrap();
    let logits = tch::no_grad(|| m.model.forward(&ids_tensor(&ids))).unwrap();
    let (b, s) = ids.dim();
    let v = logits.size()[2] as usize;
    let ours = Array3::from_shape_vec((b, s, v), to_vec(&logits)).unwrap();
    write_npy(tmp.path().join("ours.npy"), &ours).unwrap();
    let output = Command::new(python())
        .arg(fixtures().join("check_roundtrip.py"))
        .arg(&out)
        .arg(src.join("input_ids.npy"))
        .arg(tmp.path().join("ours.npy"))
        .arg("--same-weights")
        .arg(&src)
        .output()
        .unwrap();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{name}: check_roundtrip.py failed:\n{log}"
    );
    assert!(log.contains("tensors identical"), "{log}");

    let mut opt = nn::Sgd::default().build(&m.vs, 0.1).unwrap();
    let loss = m.model.loss(&ids_tensor(&ids), None).unwrap();
    opt.backward_step(&loss);
    save_hf_dir(&m, &out).unwrap();
    let back = load_hf_dir(&out, Device::Cpu).unwrap();
    assert_eq!(back.config, m.config);
    for ((na, ta), (_, tb)) in m
        .model
        .named_parameters()
        .iter()
        .zip(back.model.named_parameters().iter())
    {
        assert!(ta.equal(tb), "{na} changed in the save/load round trip");
    }
}

#[test]
fn saved_directory_loads_unchanged_in_transformers() {
    saved_directory_loads_unchanged("neox-sequential");
}

/// The families other than GPT-NeoX: logits, SGD losses and the save/load round trip.
fn family_matches_transformers(name: &str) {
    let d = logits_diff(name);
    assert!(d <= 1e-4, "{name}: max abs logit diff {d}");
    sgd_matches(name);
    saved_directory_loads_unchanged(name);
}

#[test]
fn gpt2_matches_transformers() {
    family_matches_transformers("gpt2");
}

#[test]
fn llama_gqa_untied_llama3_rope_matches_transformers() {
    family_matches_transformers("llama");
}

#[test]
fn qwen2_biases_tied_matches_transformers() {
    family_matches_transformers("qwen2");
}

#[test]
fn mistral_sliding_window_head_dim_matches_transformers() {
    family_matches_transformers("mistral");
}

#[test]
fn image_gpt_matches_transformers() {
    family_matches_transformers("imagegpt");
    // Its output has no row for the start-of-sequence id.
    let m = load("imagegpt");
    let ids = Tensor::from_slice(&[16i64, 3, 5]).view([1, 3]);
    let logits = tch::no_grad(|| m.model.forward(&ids)).unwrap();
    assert_eq!(logits.size(), vec![1, 3, 16]);
}

/// Images become the colour-cluster ids ImageGPTImageProcessor gives them, in raster order.
#[test]
fn image_pixels_match_the_image_processor() {
    let dir = fixtures().join("imagegpt");
    let m = load("imagegpt");
    let Some(reawaken_llm::Tokenizer::Pixels(clusters)) = &m.tokenizer else {
        panic!("imagegpt loads its colour clusters: {:?}", m.tokenizer);
    };
    assert_eq!(clusters.len(), 16);
    let images: ndarray::Array4<u8> = read_npy(dir.join("images.npy")).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("pixels.json")).unwrap()).unwrap();
    let want = want["input_ids"].as_array().unwrap();
    assert_eq!(want.len(), images.dim().0);
    let mut distinct = std::collections::BTreeSet::new();
    for (img, w) in images.outer_iter().zip(want) {
        let pixels: Vec<u8> = img.iter().copied().collect();
        let got = clusters.quantize(&pixels);
        let w: Vec<i64> = w
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(got, w);
        distinct.extend(got);
    }
    assert!(distinct.len() > 8, "the images use only {distinct:?}");
}

/// A GPT-2 directory as the OpenAI uploads are (no `transformer.` prefix, causal-mask
/// buffers stored) loads the same weights.
#[test]
fn gpt2_upload_layout_loads_the_same_weights() {
    let a = load("gpt2-bare");
    let b = load("gpt2");
    let (pa, pb) = (a.model.named_parameters(), b.model.named_parameters());
    assert_eq!(pa.len(), pb.len());
    for ((na, ta), (nb, tb)) in pa.iter().zip(pb.iter()) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{na} differs");
    }
    assert!(logits_diff("gpt2-bare") <= 1e-4);
}

/// bf16 (meant for CUDA) also runs on the CPU and stays close to float32.
#[test]
fn bf16_logits_are_close_to_f32() {
    let dir = fixtures().join("neox-parallel");
    let ids: Array2<i64> = read_npy(dir.join("input_ids.npy")).unwrap();
    let f = load("neox-parallel");
    let b = reawaken_llm::load_hf_dir_with(&dir, Device::Cpu, reawaken_llm::DType::Bf16).unwrap();
    assert_eq!(b.dtype(), reawaken_llm::DType::Bf16);
    let lf = tch::no_grad(|| f.model.forward(&ids_tensor(&ids))).unwrap();
    let lb = tch::no_grad(|| b.model.forward(&ids_tensor(&ids))).unwrap();
    assert_eq!(lb.kind(), Kind::Float);
    let d = (&lf - &lb).abs().max().double_value(&[]);
    eprintln!("bf16 vs f32: max abs logit diff {d:.3e}");
    assert!(d > 0.0 && d < 0.3, "bf16 drifted by {d}");
    let loss = b
        .model
        .loss(&ids_tensor(&ids), None)
        .unwrap()
        .double_value(&[]);
    assert!(loss.is_finite());
}

//! Pythia and GPT-2 presets: parameter counts, the initialisation statistics, seeding.

use reawaken_llm::model::presets::{
    from_preset, init_std, preset_config, InitScheme, ShapeOverrides, PRESETS,
};
use reawaken_llm::LoadedModel;
use tch::{Device, Kind, Tensor};

/// Fresh models draw from libtorch's one global generator (`tch::manual_seed`): tests of
/// this binary that draw run one at a time, or their seeds would interleave.
static DRAWS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fresh(name: &str, shape: &ShapeOverrides, init: InitScheme, seed: i64) -> LoadedModel {
    let _one_at_a_time = DRAWS.lock().unwrap_or_else(|e| e.into_inner());
    from_preset(name, shape, init, seed, Device::Cpu).unwrap()
}

fn build(shape: ShapeOverrides, init: InitScheme, seed: i64) -> LoadedModel {
    fresh("pythia-70m", &shape, init, seed)
}

#[test]
fn pythia_70m_has_the_hugging_face_parameter_count() {
    // EleutherAI/pythia-70m on Hugging Face: 70,426,624 parameters (both embeddings included).
    let m = build(ShapeOverrides::default(), InitScheme::Pythia, 0);
    assert_eq!(m.num_parameters(), 70_426_624);
    assert_eq!(m.config.num_parameters(), 70_426_624);
    assert_eq!(m.model.named_parameters().len(), 1 + 6 * 12 + 2 + 1);
}

#[test]
fn preset_parameter_counts_match_the_config_formula() {
    // The 6.9b and 12b heads are the Hugging Face ones (vocab 50432 / 50688).
    let big = preset_config("pythia-12b", &ShapeOverrides::default())
        .unwrap()
        .shape();
    assert_eq!(
        (big.width, big.depth, big.heads, big.vocab),
        (5120, 36, 40, 50688)
    );
    // Non-embedding parameters of pythia-6.9b as published: 6,444,163,072.
    let c = preset_config("pythia-6.9b", &ShapeOverrides::default()).unwrap();
    let s = c.shape();
    assert_eq!(c.num_parameters() - 2 * s.vocab * s.width, 6_444_163_072);
    assert_eq!(PRESETS.len(), 11);
    // `tiny`, the default fresh model of `llm probe`: the Pythia architecture at width
    // 128, 2 blocks, 4 heads.
    let tiny = preset_config("tiny", &ShapeOverrides::default())
        .unwrap()
        .shape();
    assert_eq!(
        (tiny.width, tiny.depth, tiny.heads, tiny.intermediate),
        (128, 2, 4, 512)
    );
    // The GPT-2 shapes: GPT2LMHeadModel(GPT2Config(...)).num_parameters() in Transformers.
    for (name, params) in [
        ("gpt2", 124_439_808),
        ("gpt2-medium", 354_823_168),
        ("gpt2-large", 774_030_080),
        ("gpt2-xl", 1_557_611_200),
    ] {
        let c = preset_config(name, &ShapeOverrides::default()).unwrap();
        assert_eq!(c.model_type(), "gpt2");
        assert_eq!(c.num_parameters(), params, "{name}");
    }
}

/// `--init gpt2` on a GPT-2 preset: every matrix σ = 0.02, the residual projections
/// (`c_proj`) 0.02/√(2L), biases 0, LayerNorm 1/0; the model is a working GPT-2.
#[test]
fn gpt2_preset_draws_gpt2s_init() {
    let shape = ShapeOverrides {
        width: Some(64),
        depth: Some(2),
        heads: Some(4),
        intermediate: Some(256),
        vocab: Some(300),
        context: None,
    };
    let m = fresh("gpt2", &shape, InitScheme::Gpt2, 0);
    let names: Vec<String> = m
        .model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names.contains(&"transformer.wpe.weight".to_string()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"lm_head.weight".to_string()),
        "tied: {names:?}"
    );
    for (name, t) in m.model.named_parameters() {
        let want = if name.ends_with("c_proj.weight") {
            0.02 / (2.0f64 * 2.0).sqrt() // L = 2
        } else if name.ends_with(".weight") && !name.contains(".ln_") {
            0.02
        } else {
            let v = t.to_kind(Kind::Double);
            let expect = if name.contains(".ln_") && name.ends_with(".weight") {
                1.0
            } else {
                0.0
            };
            assert_eq!((v - expect).abs().max().double_value(&[]), 0.0, "{name}");
            continue;
        };
        let got = std_of(&t);
        assert!(
            (got - want).abs() < 0.1 * want,
            "{name}: σ {got}, want {want}"
        );
    }
    let ids = Tensor::from_slice(&[1i64, 2, 3, 4]).view([1, 4]);
    let loss = m.model.loss(&ids, None).unwrap().double_value(&[]);
    assert!((loss - 300f64.ln()).abs() < 0.5, "fresh loss {loss}");
}

fn std_of(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double).std(true).double_value(&[])
}

#[test]
fn pythia_init_uses_small_and_wang_init() {
    let shape = ShapeOverrides {
        width: Some(256),
        intermediate: Some(1024),
        depth: Some(4),
        heads: Some(8),
        vocab: Some(4096),
        context: None,
    };
    let m = build(shape, InitScheme::Pythia, 7);
    let d = 256f64;
    let small = (2.0 / (5.0 * d)).sqrt();
    let wang = 2.0 / (4.0 * d.sqrt());
    for (name, t) in m.model.named_parameters() {
        let mean = t.mean(Kind::Double).double_value(&[]);
        if name.contains("layernorm") || name.contains("layer_norm") {
            let want = if name.ends_with(".weight") { 1.0 } else { 0.0 };
            assert_eq!(t.min().double_value(&[]), want, "{name}");
            assert_eq!(t.max().double_value(&[]), want, "{name}");
        } else if name.ends_with(".bias") {
            assert_eq!(t.abs().max().double_value(&[]), 0.0, "{name}");
        } else {
            let want = if name.ends_with("attention.dense.weight")
                || name.ends_with("dense_4h_to_h.weight")
            {
                wang
            } else {
                small
            };
            assert_eq!(init_std(&name, &m.config, InitScheme::Pythia), Some(want));
            let s = std_of(&t);
            assert!(
                (s / want - 1.0).abs() < 0.03,
                "{name}: std {s}, want {want}"
            );
            assert!(mean.abs() < 0.05 * want, "{name}: mean {mean}");
        }
    }
}

#[test]
fn isotropic_init_and_seeding() {
    let shape = ShapeOverrides {
        width: Some(128),
        intermediate: Some(512),
        depth: Some(2),
        heads: Some(4),
        vocab: Some(2048),
        context: None,
    };
    let a = build(shape, InitScheme::Isotropic(0.02), 3);
    for (name, t) in a.model.named_parameters() {
        if name.ends_with(".weight") && !name.contains("layernorm") && !name.contains("layer_norm")
        {
            let s = std_of(&t);
            assert!((s / 0.02 - 1.0).abs() < 0.05, "{name}: std {s}");
        }
    }
    let b = build(shape, InitScheme::Isotropic(0.02), 3);
    let c = build(shape, InitScheme::Isotropic(0.02), 4);
    let pa = a.model.named_parameters();
    let pb = b.model.named_parameters();
    let pc = c.model.named_parameters();
    for i in 0..pa.len() {
        assert!(pa[i].1.equal(&pb[i].1), "same seed, different {}", pa[i].0);
    }
    assert!(
        !pa[0].1.equal(&pc[0].1),
        "different seeds gave the same embedding"
    );
    // Same seed, same forward.
    let ids = Tensor::from_slice(&[1i64, 2, 3, 4]).view([1, 4]);
    let la = tch::no_grad(|| a.model.forward(&ids)).unwrap();
    let lb = tch::no_grad(|| b.model.forward(&ids)).unwrap();
    assert!(la.equal(&lb));
}

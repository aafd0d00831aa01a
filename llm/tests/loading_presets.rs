//! Pythia presets: parameter counts, Pythia's initialisation statistics, seeding.

use reawaken_llm::model::presets::{
    from_preset, init_std, preset_config, InitScheme, ShapeOverrides, PRESETS,
};
use reawaken_llm::LoadedModel;
use tch::{Device, Kind, Tensor};

fn build(shape: ShapeOverrides, init: InitScheme, seed: i64) -> LoadedModel {
    from_preset("pythia-70m", &shape, init, seed, Device::Cpu).unwrap()
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
    let big = preset_config("pythia-12b", &ShapeOverrides::default()).unwrap();
    assert_eq!(
        (
            big.hidden_size,
            big.num_hidden_layers,
            big.num_attention_heads,
            big.vocab_size
        ),
        (5120, 36, 40, 50688)
    );
    // Non-embedding parameters of pythia-6.9b as published: 6,444,163,072.
    let c = preset_config("pythia-6.9b", &ShapeOverrides::default()).unwrap();
    assert_eq!(
        c.num_parameters() - 2 * c.vocab_size * c.hidden_size,
        6_444_163_072
    );
    assert_eq!(PRESETS.len(), 11);
    // `tiny`, the default fresh model of `llm probe`: the Pythia architecture at width
    // 128, 2 blocks, 4 heads.
    let tiny = preset_config("tiny", &ShapeOverrides::default()).unwrap();
    assert_eq!(
        (
            tiny.hidden_size,
            tiny.num_hidden_layers,
            tiny.num_attention_heads,
            tiny.intermediate_size
        ),
        (128, 2, 4, 512)
    );
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

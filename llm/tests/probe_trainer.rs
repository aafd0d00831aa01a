//! Trainer-level tests of the probe: batched evaluation, SGD/Adam steps, checkpoint
//! round trip, freezing, pairwise restore. Tiny random models, CPU.
use reawaken_llm::model::load::LoadedModel;
use reawaken_llm::model::presets::{from_preset, InitScheme, ShapeOverrides};
use reawaken_llm::probe::trainer::{LrSchedule, Optim, TrainConfig, Trainer, MASK_TOKEN};
use tch::{Device, Kind, Tensor};

fn tiny(seed: i64) -> LoadedModel {
    let shape = ShapeOverrides {
        width: Some(32),
        intermediate: Some(128),
        depth: Some(2),
        heads: Some(4),
        vocab: Some(257),
        context: Some(256),
    };
    from_preset("pythia-14m", &shape, InitScheme::Pythia, seed, Device::Cpu).unwrap()
}

fn cfg(optimizer: Optim, lr: f64) -> TrainConfig {
    TrainConfig {
        steps: 3,
        lr,
        optimizer,
        lr_schedule: LrSchedule::Constant,
        inverse_lr_scaling: false,
        mask_prob: 0.0,
        window_shift: None,
        context: 24,
        freeze_blocks: 0,
        pad_id: 256,
        seed: 1,
        epoch_ends: vec![4, 8, 12],
        eval_logits_budget: 1 << 27,
    }
}

fn docs() -> Vec<Vec<i64>> {
    [
        "the quick brown fox jumps",
        "a b",
        "lorem ipsum dolor sit amet, consectetur",
        "xyz",
    ]
    .iter()
    .map(|s| s.bytes().map(i64::from).take(24).collect())
    .collect()
}

fn params_flat(t: &Trainer<'_, reawaken_llm::LoadedModel>) -> Tensor {
    let v: Vec<Tensor> = t
        .params()
        .iter()
        .map(|(_, p)| p.detach().flatten(0, -1))
        .collect();
    Tensor::cat(&v, 0)
}

#[test]
fn batched_eval_equals_one_by_one() {
    let m = tiny(0);
    let t = Trainer::new(&m, cfg(Optim::Sgd, 1e-2), docs()).unwrap();
    let a = t.eval_losses().unwrap();
    let b = t.eval_losses_one_by_one().unwrap();
    assert_eq!(a.len(), 4);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * y.abs().max(1.0), "{x} vs {y}");
    }
    // And after some training (padding must stay masked).
    t.train_episode(&docs()[0], 0).unwrap();
    let a = t.eval_losses().unwrap();
    let b = t.eval_losses_one_by_one().unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * y.abs().max(1.0), "{x} vs {y}");
    }
    // A tiny logits budget forces one document per chunk: same numbers.
    let mut c = cfg(Optim::Sgd, 1e-2);
    c.eval_logits_budget = 1;
    let t2 = Trainer::new(&m, c, docs()).unwrap();
    let a2 = t2.eval_losses().unwrap();
    for (x, y) in a2.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * y.abs().max(1.0));
    }
}

/// The hidden states `evaluate` keeps for the `acts` recorder are the watched task's own
/// (its unpadded positions), whichever chunk it falls in, equal to `eval_hidden` and to a
/// forward pass of the task alone; the losses are `eval_losses`'.
#[test]
fn evaluation_keeps_the_watched_tasks_hidden_states() {
    use reawaken_llm::probe::trainer::CausalLm;
    let m = tiny(2);
    for budget in [1usize << 27, 1, 2 * 24 * 257] {
        let mut c = cfg(Optim::Sgd, 1e-2);
        c.eval_logits_budget = budget;
        let t = Trainer::new(&m, c, docs()).unwrap();
        for task in 0..docs().len() {
            let (losses, hidden) = t.evaluate(Some(task)).unwrap();
            assert_eq!(losses, t.eval_losses().unwrap(), "budget {budget}");
            let hidden = hidden.expect("the watched task's hidden states");
            assert!(
                hidden.equal(&t.eval_hidden(task).unwrap()),
                "budget {budget}"
            );
            let toks = &docs()[task];
            assert_eq!(hidden.size(), [(toks.len() * 32) as i64]);
            let ids = Tensor::from_slice(toks).view([1, toks.len() as i64]);
            let alone = m.hidden(&ids).unwrap().flatten(0, -1);
            let err = f64::try_from((&hidden - &alone).abs().max()).unwrap();
            assert!(err < 1e-4, "task {task}, budget {budget}: {err}");
        }
        assert!(t.evaluate(None).unwrap().1.is_none());
    }
}

#[test]
fn sgd_step_is_plain_gradient_descent() {
    let m = tiny(1);
    let mut c = cfg(Optim::Sgd, 0.05);
    c.steps = 1;
    let t = Trainer::new(&m, c, docs()).unwrap();
    let doc = &docs()[0];
    // Reference gradient from the unpadded loss (padding must not change it).
    let loss = t.sequence_loss(doc).unwrap();
    loss.backward();
    let g: Vec<Tensor> = t
        .params()
        .iter()
        .map(|(_, p)| p.grad().flatten(0, -1).copy())
        .collect();
    for (_, p) in t.params() {
        let mut p = p.shallow_clone();
        p.zero_grad();
    }
    let before = params_flat(&t);
    let out = t.train_episode(doc, 0).unwrap();
    assert!(out.diverged_at_step.is_none());
    let after = params_flat(&t);
    let expected = &before - Tensor::cat(&g, 0) * 0.05;
    let err = f64::try_from((&after - &expected).abs().max()).unwrap();
    assert!(err < 1e-6, "max deviation from p - lr*g: {err}");
    // The training loss of step 1 equals the unpadded loss.
    assert!((out.first_loss - f64::try_from(&loss).unwrap()).abs() < 1e-5);
}

#[test]
fn adam_state_is_reset_every_document() {
    // Two episodes on the same document from the same start must move the parameters by the
    // same amount (state reset); and the first Adam step moves each weight by ≈ lr.
    let m = tiny(2);
    let mut c = cfg(Optim::Adam, 1e-3);
    c.steps = 1;
    let t = Trainer::new(&m, c, docs()).unwrap();
    let snap = t.snapshot();
    let p0 = params_flat(&t);
    t.train_episode(&docs()[0], 0).unwrap();
    let d1 = params_flat(&t) - &p0;
    // First Adam step: |Δ| = lr·|g|/(|g|+ε) ≈ lr where g ≠ 0.
    let maxd = f64::try_from(d1.abs().max()).unwrap();
    assert!((maxd - 1e-3).abs() < 1e-5, "first Adam step size {maxd}");
    t.restore(&snap).unwrap();
    // Episode on another document, then the same document again: its first step is again
    // a fresh Adam step of size ≈ lr (with persistent state it would be damped).
    t.train_episode(&docs()[2], 1).unwrap();
    let p1 = params_flat(&t);
    t.train_episode(&docs()[0], 2).unwrap();
    let d2 = params_flat(&t) - &p1;
    let maxd2 = f64::try_from(d2.abs().max()).unwrap();
    assert!(
        (maxd2 - 1e-3).abs() < 1e-5,
        "Adam step after a reset {maxd2}"
    );
}

#[test]
fn save_load_restores_exactly_and_pairwise_restores_parameters() {
    let m = tiny(3);
    let t = Trainer::new(&m, cfg(Optim::Sgd, 1e-2), docs()).unwrap();
    t.train_episode(&docs()[0], 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.safetensors");
    t.save_params(&path).unwrap();
    let saved = params_flat(&t);
    let before = t.eval_losses().unwrap();
    let pw = t.pairwise(&docs()).unwrap();
    assert_eq!(pw.len(), 4);
    // Training on a document lowers its own loss: positive diagonal.
    for (i, row) in pw.iter().enumerate() {
        assert!(row[i] > 0.0, "pairwise[{i}][{i}] = {}", row[i]);
    }
    assert!(
        params_flat(&t).equal(&saved),
        "pairwise must restore the parameters"
    );
    t.train_episode(&docs()[1], 1).unwrap();
    assert!(!params_flat(&t).equal(&saved));
    t.load_params(&path).unwrap();
    assert!(params_flat(&t).equal(&saved));
    assert_eq!(t.eval_losses().unwrap(), before);
}

#[test]
fn frozen_blocks_do_not_move_and_divergence_is_reported() {
    let m = tiny(4);
    let mut c = cfg(Optim::Sgd, 1e-2);
    c.freeze_blocks = 1;
    let t = Trainer::new(&m, c, docs()).unwrap();
    let get = |name: &str| {
        t.params()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.detach().copy())
            .unwrap()
    };
    let f0 = get("gpt_neox.layers.0.attention.query_key_value.weight");
    let e0 = get("gpt_neox.embed_in.weight");
    let l1 = get("gpt_neox.layers.1.attention.query_key_value.weight");
    t.train_episode(&docs()[0], 0).unwrap();
    assert!(get("gpt_neox.layers.0.attention.query_key_value.weight").equal(&f0));
    assert!(get("gpt_neox.embed_in.weight").equal(&e0));
    assert!(!get("gpt_neox.layers.1.attention.query_key_value.weight").equal(&l1));

    let m = tiny(5);
    let mut c = cfg(Optim::Sgd, 1e6);
    c.steps = 20;
    let t = Trainer::new(&m, c, docs()).unwrap();
    let out = t.train_episode(&docs()[0], 0).unwrap();
    let diverged =
        out.diverged_at_step.is_some() || t.eval_losses().unwrap().iter().any(|v| !v.is_finite());
    assert!(diverged, "lr 1e6 should diverge: {out:?}");
}

#[test]
fn masking_and_window_shift_are_seeded_per_episode() {
    let m = tiny(6);
    let mut c = cfg(Optim::Sgd, 1e-2);
    c.mask_prob = 0.3;
    c.window_shift = Some(4);
    let long: Vec<i64> = "abcdefghijklmnopqrstuvwxyz0123456789"
        .bytes()
        .map(i64::from)
        .collect();
    let t = Trainer::new(&m, c, docs()).unwrap();
    let snap = t.snapshot();
    let a = t.train_episode(&long, 5).unwrap();
    t.restore(&snap).unwrap();
    let b = t.train_episode(&long, 5).unwrap();
    t.restore(&snap).unwrap();
    let c2 = t.train_episode(&long, 6).unwrap();
    assert_eq!(a.first_loss, b.first_loss);
    assert_ne!(a.first_loss, c2.first_loss);
    let _ = Kind::Float;
}

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

#[test]
fn random_window_is_redrawn_every_step_around_the_centre() {
    // The authors' train_interleave_randomwindow.py: window [B/4+s, 3B/4+s) of a block
    // B = 2C, s uniform in -S..=S, drawn at every gradient step.
    let m = tiny(2);
    let mut c = cfg(Optim::Sgd, 1e-2);
    c.steps = 40;
    c.window_shift = Some(4);
    let doc: Vec<i64> = (0..48).map(|i| 60 + i).collect();
    let t = Trainer::new(&m, c, docs()).unwrap();
    let inputs = t.step_inputs(&doc, &mut rng(3));
    let starts: std::collections::BTreeSet<usize> = inputs.iter().map(|x| x.start).collect();
    assert!(starts.iter().all(|s| (8..=16).contains(s)), "{starts:?}");
    // Shifts to the left of the centre (s < 0) and several per episode.
    assert!(starts.iter().any(|&s| s < 12), "{starts:?}");
    assert!(starts.iter().any(|&s| s > 12), "{starts:?}");
    assert!(starts.len() >= 5, "{starts:?}");
    for x in &inputs {
        assert_eq!(x.input, doc[x.start..x.start + 24].to_vec());
        assert_eq!(x.targets, doc[x.start + 1..x.start + 24].to_vec());
        assert_eq!(x.scored, 23);
    }
    // S = 0: the centre window at every step (the figure's unshifted baseline).
    let mut c = cfg(Optim::Sgd, 1e-2);
    c.window_shift = Some(0);
    let t = Trainer::new(&m, c, docs()).unwrap();
    assert!(t
        .step_inputs(&doc, &mut rng(3))
        .iter()
        .all(|x| x.start == 12));
    // Off: the first C tokens.
    let t = Trainer::new(&m, cfg(Optim::Sgd, 1e-2), docs()).unwrap();
    assert!(t
        .step_inputs(&doc, &mut rng(3))
        .iter()
        .all(|x| x.start == 0));
}

#[test]
fn random_mask_is_redrawn_every_step_and_spares_the_targets() {
    // The authors' train_interleave_randommask.py: a new mask per gradient step,
    // input_ids * mask (masked ids become 0), labels unmasked.
    let m = tiny(2);
    let mut c = cfg(Optim::Sgd, 1e-2);
    c.steps = 6;
    c.mask_prob = 0.3;
    let doc: Vec<i64> = (0..24).map(|i| 60 + i).collect();
    let t = Trainer::new(&m, c, docs()).unwrap();
    let inputs = t.step_inputs(&doc, &mut rng(5));
    let masks: Vec<Vec<bool>> = inputs
        .iter()
        .map(|x| x.input.iter().map(|&v| v == MASK_TOKEN).collect())
        .collect();
    assert!(
        masks.windows(2).any(|w| w[0] != w[1]),
        "one mask for the episode"
    );
    let masked: usize = masks.iter().flatten().filter(|&&m| m).count();
    assert!(
        (15..=75).contains(&masked),
        "{masked} of 144 masked at p = 0.3"
    );
    for x in &inputs {
        assert_eq!(x.targets, doc[1..].to_vec());
        for (i, v) in x.input.iter().enumerate() {
            assert!(*v == MASK_TOKEN || *v == doc[i]);
        }
    }
}

#[test]
fn inverse_lr_scaling_gives_the_papers_rates_and_cosine_epoch_is_per_epoch() {
    let m = tiny(2);
    // Paper B.8: 0.01, 0.002, 0.001, 0.0005 for M = 1, 5, 10, 20 (lr 1e-3).
    for (steps, want) in [(1, 0.01), (5, 0.002), (10, 0.001), (20, 0.0005)] {
        let mut c = cfg(Optim::Sgd, 1e-3);
        c.steps = steps;
        c.inverse_lr_scaling = true;
        let t = Trainer::new(&m, c, docs()).unwrap();
        assert!((t.lr_at(0, 0) - want).abs() < 1e-15, "M = {steps}");
    }
    // Per-epoch cosine (B.6): one lr per epoch, lr·(1 + cos(π e / E))/2, E = 3.
    let mut c = cfg(Optim::Sgd, 1e-2);
    c.lr_schedule = LrSchedule::CosineEpoch;
    let t = Trainer::new(&m, c, docs()).unwrap();
    assert_eq!(
        (t.epoch_of(0), t.epoch_of(3), t.epoch_of(4), t.epoch_of(11)),
        (0, 0, 1, 2)
    );
    for e in 0..3 {
        let want = 0.5e-2 * (1.0 + (std::f64::consts::PI * e as f64 / 3.0).cos());
        for step in [e * 12, e * 12 + 11] {
            assert!(
                (t.lr_at(step, e) - want).abs() < 1e-15,
                "epoch {e} step {step}"
            );
        }
    }
    // Per-step cosine: decays within the epoch.
    let mut c = cfg(Optim::Sgd, 1e-2);
    c.lr_schedule = LrSchedule::Cosine;
    let t = Trainer::new(&m, c, docs()).unwrap();
    assert!(t.lr_at(1, 0) < t.lr_at(0, 0));
    assert!((t.lr_at(18, 1) - 0.5e-2).abs() < 1e-15);
}

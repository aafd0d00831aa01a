//! `render` on records holding extreme finite values (±1e308, ±f64::MAX, 1e-308, 5e-324,
//! mixed with ordinary ones) in every array and run.json field the figures read: every
//! render must end (bounded: a thread that must answer within [`LIMIT`]), every SVG
//! written must be well-formed with finite numbers only, and every figure the value went
//! into is either written or named in a note. Values that no axis can span (−1e308 and
//! 1e308 on one axis) are notes, never a loop or garbage.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{
    make_losses, make_order, write_llm_arrays, write_points, write_run, E, LLM_ARRAYS, T,
};
use ndarray::{Array1, Array2, Array3, ArrayD, IxDyn};
use ndarray_npy::{read_npy, write_npy};
use quick_xml::events::Event;
use reawaken_figures::{render, Rendered};
use serde_json::{json, Value};

/// The longest a render of these small records may take (they take milliseconds).
const LIMIT: Duration = Duration::from_secs(20);

/// Renders in a thread and fails the test when it does not answer within [`LIMIT`]
/// (the looping thread is left behind; the test process ends with the test binary).
fn render_bounded(dirs: &[PathBuf], out: &Path) -> Rendered {
    let (tx, rx) = mpsc::channel();
    let (dirs, out_dir) = (dirs.to_vec(), out.to_path_buf());
    let start = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(render(&dirs, &out_dir).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(LIMIT) {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => panic!("render failed: {e}"),
        Err(_) => panic!(
            "render of {out:?} did not end within {:?} ({:?} so far)",
            LIMIT,
            start.elapsed()
        ),
    }
}

/// Checks that an SVG is well-formed XML whose numeric attributes are finite numbers and
/// that no "NaN"/"inf" appears anywhere in it.
fn check_svg(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(!text.contains("NaN"), "{path:?} contains NaN");
    let mut reader = quick_xml::Reader::from_str(&text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                for a in e.attributes() {
                    let a = a.unwrap_or_else(|e| panic!("{path:?}: bad attribute: {e}"));
                    let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
                    let val = a.unescape_value().unwrap().to_string();
                    if common::NUMERIC_ATTRIBUTES.contains(&key.as_str()) {
                        for tok in val.split([' ', ',']).filter(|t| !t.is_empty()) {
                            let v: f64 = tok.parse().unwrap_or_else(|_| {
                                panic!("{path:?}: {key}={val:?} is not numeric")
                            });
                            assert!(v.is_finite(), "{path:?}: {key}={val} not finite");
                        }
                    }
                    assert!(
                        !val.contains("inf"),
                        "{path:?}: attribute {key}={val:?} holds inf"
                    );
                }
            }
            Ok(Event::Text(t)) => {
                let t = t.unescape().unwrap();
                assert!(!t.contains("inf"), "{path:?}: text {t:?} holds inf");
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("{path:?} is not well-formed XML: {e}"),
        }
    }
}

fn file_names(done: &Rendered) -> Vec<String> {
    done.files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Every SVG is sound, and `figure` is either written or named by a note.
fn check_outcome(done: &Rendered, figure: &str, case: &str) {
    for f in &done.files {
        check_svg(f);
    }
    let drawn = file_names(done).iter().any(|n| n == figure);
    let noted = done.notes.iter().any(|n| n.contains(figure));
    assert!(
        drawn || noted,
        "{case}: {figure} neither written nor noted; files {:?}, notes {:?}, skipped {:?}",
        file_names(done),
        done.notes,
        done.skipped
    );
}

/// The extreme value sets, each a way to rewrite an array of ordinary values.
#[derive(Debug, Clone, Copy)]
enum Set {
    /// Every entry 1e308.
    Huge,
    /// Every entry −1e308.
    NegHuge,
    /// Every entry 1e-308 (and a subnormal).
    Tiny,
    /// Entries cycling through ±1e308, ±f64::MAX, 1e-308, 5e-324, 0 and ordinary values.
    Mixed,
    /// Ordinary values with one entry 1e308 and one −1e308.
    PlusMinusOne,
    /// Ordinary values with one entry 1e308.
    OneHuge,
}

const SETS: [Set; 6] = [
    Set::Huge,
    Set::NegHuge,
    Set::Tiny,
    Set::Mixed,
    Set::PlusMinusOne,
    Set::OneHuge,
];

const MIXED: [f64; 10] = [
    1e308,
    -1e308,
    f64::MAX,
    1e-308,
    -f64::MAX,
    5e-324,
    0.0,
    2.5,
    -1e-308,
    1.7e308,
];

fn apply(a: &ArrayD<f64>, set: Set) -> ArrayD<f64> {
    let mut a = a.clone();
    let n = a.len();
    for (i, v) in a.iter_mut().enumerate() {
        *v = match set {
            Set::Huge => 1e308,
            Set::NegHuge => -1e308,
            Set::Tiny if i % 2 == 0 => 1e-308,
            Set::Tiny => 5e-324,
            Set::Mixed => MIXED[i % MIXED.len()],
            Set::PlusMinusOne if i == n / 3 => 1e308,
            Set::PlusMinusOne if i == n / 2 => -1e308,
            Set::OneHuge if i == n / 2 => 1e308,
            _ => *v,
        };
    }
    a
}

/// Rewrites the float array `file` of `dir` (as f64) with the value set.
fn rewrite(dir: &Path, file: &str, set: Set) {
    let path = dir.join(file);
    let a: ArrayD<f64> = match read_npy::<_, ArrayD<f64>>(&path) {
        Ok(a) => a,
        Err(_) => read_npy::<_, ArrayD<f32>>(&path).unwrap().mapv(f64::from),
    };
    write_npy(&path, &apply(&a, set)).unwrap();
}

/// Edits run.json of `dir`.
fn edit_json(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let p = dir.join("run.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
}

/// An LLM record with every recorder array, `file` rewritten with `set`, rendered; the
/// outcome is checked for `figure`.
fn llm_case(file: &str, figure: &str) {
    for set in SETS {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("llm");
        write_run(&d, "llm", 0, false, &[], LLM_ARRAYS);
        write_llm_arrays(&d);
        rewrite(&d, file, set);
        let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig"));
        let case = format!("{file} {set:?}");
        assert!(done.skipped.is_empty(), "{case}: {:?}", done.skipped);
        check_outcome(&done, figure, &case);
        // The other figures do not suffer.
        assert!(
            file == "losses.npy" || file_names(&done).contains(&"llm-task1-loss.svg".to_string()),
            "{case}: {:?}",
            done.notes
        );
    }
}

#[test]
fn extreme_pairwise_is_drawn_or_noted() {
    llm_case("pairwise.npy", "llm-heatmap-pairwise-recovery.svg");
}

#[test]
fn extreme_grad_cosine_is_drawn_or_noted() {
    llm_case("grad_cosine.npy", "llm-heatmap-gradient-similarity.svg");
}

#[test]
fn extreme_acts_cosine_is_drawn_or_noted() {
    llm_case("acts_cosine.npy", "llm-heatmap-activation-similarity.svg");
}

#[test]
fn extreme_weights_residual_cosine_is_drawn_or_noted() {
    llm_case(
        "weights_residual_cosine.npy",
        "llm-heatmap-weight-residual-similarity.svg",
    );
}

#[test]
fn extreme_weights_pca_is_drawn_or_noted() {
    llm_case("weights_pca.npy", "llm-weights-pca-trajectory.svg");
}

#[test]
fn extreme_weights_update_norm_is_drawn_or_noted() {
    llm_case("weights_update_norm.npy", "llm-update-norms.svg");
}

#[test]
fn extreme_acts_change_norm_is_drawn_or_noted() {
    llm_case("acts_change_norm.npy", "llm-update-norms.svg");
}

#[test]
fn extreme_llm_losses_are_drawn_or_noted() {
    llm_case("losses.npy", "llm-task1-loss.svg");
}

/// Toy records (two seeds, the shuffled twin, a sweep) with `losses.npy` of the first
/// seed (or of every run but the sweep's) rewritten: every loss figure is drawn or
/// noted, the mean and sd over seeds of values near ±f64::MAX do not overflow into
/// garbage.
#[test]
fn extreme_toy_losses_are_drawn_or_noted() {
    for (set, both) in SETS.into_iter().flat_map(|s| [(s, false), (s, true)]) {
        let tmp = tempfile::tempdir().unwrap();
        let d = |n: &str| tmp.path().join(n);
        common::write_toy_set(tmp.path());
        rewrite(&d("s0"), "losses.npy", set);
        if both {
            rewrite(&d("s1"), "losses.npy", set);
            rewrite(&d("shuf"), "losses.npy", set);
        }
        let dirs = ["s0", "s1", "shuf", "n20"].map(d);
        let done = render_bounded(&dirs, &d("fig"));
        let case = format!("toy losses {set:?} (every run: {both})");
        assert!(done.skipped.is_empty(), "{case}: {:?}", done.skipped);
        for fig in [
            "toy-task1-loss.svg",
            "toy-loss-task1-cyclic-vs-shuffled.svg",
            "toy-shift-averaged-loss.svg",
            "toy-online-loss.svg",
            "toy-shift-averaged-loss-by-input-dim.svg",
        ] {
            check_outcome(&done, fig, &case);
        }
    }
}

/// ±1e308 on one axis is a note that says so, not a figure.
#[test]
fn losses_spanning_minus_to_plus_1e308_give_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("toy");
    write_run(&d, "toy", 0, false, &[], &[]);
    let mut l = make_losses(&make_order(false, 0), 0).mapv(f64::from);
    l[[3, 0]] = 1e308;
    l[[7, 0]] = -1e308;
    write_npy(d.join("losses.npy"), &l).unwrap();
    let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig"));
    let note = done
        .notes
        .iter()
        .find(|n| n.starts_with("toy-task1-loss.svg not drawn"))
        .unwrap_or_else(|| panic!("{:?}", done.notes));
    assert!(
        note.contains("cannot be drawn") && note.contains("-1e308") && note.contains("1e308"),
        "{note}"
    );
    assert!(!file_names(&done).contains(&"toy-task1-loss.svg".to_string()));
    for f in &done.files {
        check_svg(f);
    }
}

#[test]
fn extreme_toy_points_are_drawn_or_noted() {
    for set in SETS {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("toy");
        write_run(&d, "toy", 0, false, &[], &["points.npy"]);
        write_points(&d);
        rewrite(&d, "points.npy", set);
        let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig"));
        check_outcome(&done, "toy-ring-by-epoch.svg", &format!("points {set:?}"));
    }
}

/// `metrics.recovery_score` (the RS-by-epoch figure and the sweep) and
/// `metrics.online_loss_mean` (a legend) with extreme values.
#[test]
fn extreme_run_json_metrics_are_drawn_or_noted() {
    let cases: [(&str, Value, Value); 6] = [
        ("huge", json!([1e308, 1e308, 1e308]), json!(1e308)),
        ("neg huge", json!([-1e308, -1e308, null]), json!(-1e308)),
        ("tiny", json!([1e-308, 5e-324, 1e-308]), json!(1e-308)),
        ("mixed", json!([1e308, -1e308, 1e-308]), json!(f64::MAX)),
        ("max", json!([f64::MAX, -f64::MAX, 0.5]), json!(-f64::MAX)),
        ("one huge", json!([0.2, 1e308, 0.5]), json!(1.5)),
    ];
    for (name, rs, olm) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let d = |n: &str| tmp.path().join(n);
        write_run(&d("s0"), "toy", 0, false, &[], &[]);
        write_run(&d("s1"), "toy", 1, false, &[], &[]);
        write_run(&d("shuf"), "toy", 0, true, &[], &[]);
        write_run(&d("n20"), "toy", 0, false, &[("input-dim", json!(20))], &[]);
        for r in ["s0", "s1", "n20"] {
            edit_json(&d(r), |v| {
                v["metrics"]["recovery_score"] = rs.clone();
                v["metrics"]["online_loss_mean"] = olm.clone();
            });
        }
        let dirs = ["s0", "s1", "shuf", "n20"].map(d);
        let done = render_bounded(&dirs, &d("fig"));
        let case = format!("run.json metrics {name}");
        assert!(done.skipped.is_empty(), "{case}: {:?}", done.skipped);
        for fig in [
            "toy-recovery-score-by-epoch.svg",
            "toy-recovery-score-vs-input-dim.svg",
            "toy-online-loss.svg",
        ] {
            check_outcome(&done, fig, &case);
        }
    }
}

/// A sweep over a config value with extreme numbers (the x axis of the RS sweep).
#[test]
fn extreme_sweep_values_are_drawn_or_noted() {
    for (a, b) in [
        (1e308, -1e308),
        (1e-308, 5e-324),
        (f64::MAX, 1.0),
        (1e20, 1e20 + 16384.0),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let d = |n: &str| tmp.path().join(n);
        write_run(&d("base"), "toy", 0, false, &[("lr", json!(a))], &[]);
        write_run(&d("other"), "toy", 0, false, &[("lr", json!(b))], &[]);
        let done = render_bounded(&[d("base"), d("other")], &d("fig"));
        check_outcome(
            &done,
            "toy-recovery-score-vs-lr.svg",
            &format!("lr {a:e} vs {b:e}"),
        );
    }
}

// ---------------------------------------------------------------------------------
// Shapes that disagree with the record: the run or the figure is skipped with a note
// naming the file and the mismatch.

fn llm_record(dir: &Path, seed: u64) {
    write_run(dir, "llm", seed, false, &[], LLM_ARRAYS);
    write_llm_arrays(dir);
}

fn note_with<'a>(done: &'a Rendered, needles: &[&str]) -> &'a str {
    done.notes
        .iter()
        .find(|n| needles.iter().all(|s| n.contains(s)))
        .unwrap_or_else(|| panic!("no note with {needles:?}: {:?}", done.notes))
}

#[test]
fn losses_with_other_task_count_than_config_skip_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("toy");
    write_run(&d, "toy", 0, false, &[], &[]);
    // 7 task columns; order.npy (tasks 0..5) still fits them.
    let l = Array2::<f32>::from_elem((T * E + 1, T + 2), 1.0);
    write_npy(d.join("losses.npy"), &l).unwrap();
    let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig"));
    assert!(done.files.is_empty(), "{:?}", done.files);
    assert_eq!(done.skipped.len(), 1);
    let why = &done.skipped[0].1;
    assert!(
        why.contains("losses.npy")
            && why.contains(&format!("({}, {})", T * E + 1, T + 2))
            && why.contains(&format!("config.tasks = {T}")),
        "{why}"
    );
    assert!(!why.contains('\n'), "{why}");
}

#[test]
fn losses_with_other_episode_count_than_run_json_skip_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("llm");
    write_run(&d, "llm", 0, false, &[], &[]);
    edit_json(&d, |v| v["episodes_done"] = json!(T * E + 5));
    let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig"));
    assert!(done.files.is_empty());
    let why = &done.skipped[0].1;
    assert!(
        why.contains("losses.npy") && why.contains(&format!("episodes_done = {}", T * E + 5)),
        "{why}"
    );
    // A toy run whose config has another number of epochs than its episodes show.
    let d = tmp.path().join("toy");
    write_run(&d, "toy", 0, false, &[("epochs", json!(E + 1))], &[]);
    let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig2"));
    assert!(done.files.is_empty());
    let why = &done.skipped[0].1;
    assert!(
        why.contains("losses.npy") && why.contains(&format!("{T} × {}", E + 1)),
        "{why}"
    );
}

#[test]
fn heatmaps_of_another_shape_than_the_record_are_noted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("llm");
    llm_record(&d, 0);
    let n = T * E + 1;
    write_npy(
        d.join("pairwise.npy"),
        &Array2::<f32>::zeros((T + 2, T + 2)),
    )
    .unwrap();
    write_npy(
        d.join("acts_cosine.npy"),
        &Array2::<f64>::zeros((n - 1, n - 1)),
    )
    .unwrap();
    write_npy(d.join("grad_cosine.npy"), &Array1::<f32>::zeros(T * T)).unwrap();
    let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig"));
    let got = file_names(&done);
    for fig in [
        "llm-heatmap-pairwise-recovery.svg",
        "llm-heatmap-activation-similarity.svg",
        "llm-heatmap-gradient-similarity.svg",
    ] {
        assert!(!got.contains(&fig.to_string()), "{fig} drawn: {got:?}");
    }
    let note = note_with(
        &done,
        &["llm-heatmap-pairwise-recovery.svg", "pairwise.npy"],
    );
    assert!(
        note.contains(&format!("({0}, {0})", T + 2))
            && note.contains(&format!("(T, T) = ({T}, {T})")),
        "{note}"
    );
    let note = note_with(&done, &["acts_cosine.npy"]);
    assert!(
        note.contains(&format!("(episodes+1, episodes+1) = ({n}, {n})")),
        "{note}"
    );
    let note = note_with(&done, &["grad_cosine.npy"]);
    assert!(note.contains(&format!("({},)", T * T)), "{note}");
    // One line per figure, no "no run has it" on top.
    assert_eq!(
        done.notes
            .iter()
            .filter(|n| n.contains("pairwise.npy"))
            .count(),
        1,
        "{:?}",
        done.notes
    );
    // The heatmap whose array fits is still drawn.
    assert!(got.contains(&"llm-heatmap-weight-residual-similarity.svg".to_string()));
    for f in &done.files {
        check_svg(f);
    }
}

#[test]
fn trajectories_and_norms_of_another_length_are_noted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("llm");
    llm_record(&d, 0);
    let n = T * E + 1;
    write_npy(d.join("weights_pca.npy"), &Array2::<f64>::zeros((n, 2))).unwrap();
    // episodes + 1 values instead of one per episode.
    write_npy(d.join("weights_update_norm.npy"), &Array1::<f32>::ones(n)).unwrap();
    let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig"));
    let got = file_names(&done);
    assert!(!got.contains(&"llm-weights-pca-trajectory.svg".to_string()));
    let note = note_with(
        &done,
        &["llm-weights-pca-trajectory.svg", "weights_pca.npy"],
    );
    assert!(
        note.contains(&format!("({n}, 2)")) && note.contains(&format!("= ({n}, 3)")),
        "{note}"
    );
    let note = note_with(&done, &["llm-update-norms.svg", "weights_update_norm.npy"]);
    assert!(
        note.contains(&format!("({n},)")) && note.contains(&format!("(episodes,) = ({},)", n - 1)),
        "{note}"
    );
    // The activation panel alone is drawn.
    assert!(got.contains(&"llm-update-norms.svg".to_string()));
    let svg = std::fs::read_to_string(tmp.path().join("fig/llm-update-norms.svg")).unwrap();
    assert_eq!(
        svg.matches("stroke-width=\"2\"").count(),
        1,
        "one data line"
    );
}

#[test]
fn toy_points_of_another_shape_are_noted() {
    for (shape, needle) in [
        ((E + 2, T, 6), format!("({}, {T}, 6)", E + 2)),
        ((E + 1, T + 1, 6), format!("({}, {}, 6)", E + 1, T + 1)),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("toy");
        write_run(&d, "toy", 0, false, &[], &["points.npy"]);
        write_npy(d.join("points.npy"), &Array3::<f32>::ones(shape)).unwrap();
        let done = render_bounded(std::slice::from_ref(&d), &tmp.path().join("fig"));
        assert!(!file_names(&done).contains(&"toy-ring-by-epoch.svg".to_string()));
        let note = note_with(&done, &["toy-ring-by-epoch.svg", "points.npy"]);
        assert!(
            note.contains(&needle) && note.contains(&format!("(E+1, T, M) = ({}, {T}, M)", E + 1)),
            "{note}"
        );
        assert!(!done.files.is_empty());
    }
}

/// A misshapen array of the first seed is noted; the next seed's array is drawn.
#[test]
fn a_misshapen_array_falls_back_to_the_next_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("s0"), tmp.path().join("s1"));
    llm_record(&a, 0);
    llm_record(&b, 1);
    write_npy(a.join("pairwise.npy"), &Array2::<f32>::zeros((T, T + 1))).unwrap();
    let done = render_bounded(&[a, b], &tmp.path().join("fig"));
    note_with(
        &done,
        &["llm-heatmap-pairwise-recovery.svg", "pairwise.npy"],
    );
    let svg =
        std::fs::read_to_string(tmp.path().join("fig/llm-heatmap-pairwise-recovery.svg")).unwrap();
    assert!(svg.contains("(seed 1)"));
}

/// Block-averaging a large heatmap of values near f64::MAX does not overflow the means.
#[test]
fn block_means_of_huge_values_stay_finite() {
    let k = reawaken_figures::plot::MAX_HEATMAP_CELLS * 2;
    let values = vec![1.5e308; k * k];
    let (v, r, c, b) = reawaken_figures::plot::downsample(&values, k, k, k / 2);
    assert_eq!((r, c, b), (k / 2, k / 2, 2));
    assert!(v.iter().all(|m| *m == 1.5e308), "{:?}", &v[..4]);
}

/// The fixtures' own values keep their shapes (guards the helpers above).
#[test]
fn value_sets_keep_shapes() {
    let a = ArrayD::<f64>::zeros(IxDyn(&[3, 4]));
    for set in SETS {
        assert_eq!(apply(&a, set).shape(), &[3, 4]);
    }
}

//! `render` from small, hand-made run records (toy- and LLM-shaped): which figures are
//! written, their elements (one line, band, marker or cell each), and the reasons given
//! for runs and figures that cannot be used.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{write_llm_arrays, write_run, E, LLM_ARRAYS, T};
use ndarray::Array2;
use ndarray_npy::write_npy;
use quick_xml::events::Event;
use reawaken_figures::plot::{self, COLORBAR_STEPS};
use reawaken_figures::render;
use serde_json::json;

/// Element counts of an SVG, after checking it is well-formed XML whose numeric
/// coordinates are all finite.
#[derive(Debug, Default)]
struct Svg {
    counts: BTreeMap<String, usize>,
    texts: Vec<String>,
}

impl Svg {
    fn n(&self, tag: &str) -> usize {
        self.counts.get(tag).copied().unwrap_or(0)
    }
}

fn parse_svg(text: &str) -> Svg {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut svg = Svg::default();
    loop {
        match reader.read_event().expect("SVG must be well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                // Data lines are 2 px wide; axes and ticks 1 px.
                let data_line = name == "polyline"
                    && e.attributes()
                        .flatten()
                        .any(|a| a.key.as_ref() == b"stroke-width" && a.value.as_ref() == b"2");
                if data_line {
                    *svg.counts.entry("data-line".into()).or_default() += 1;
                }
                *svg.counts.entry(name).or_default() += 1;
                for a in e.attributes() {
                    let a = a.expect("valid attribute");
                    let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
                    let val = a.unescape_value().unwrap().to_string();
                    if common::NUMERIC_ATTRIBUTES.contains(&key.as_str()) {
                        for tok in val.split([' ', ',']).filter(|t| !t.is_empty()) {
                            let v: f64 = tok
                                .parse()
                                .unwrap_or_else(|_| panic!("{key}={val:?} is not numeric"));
                            assert!(v.is_finite(), "{key}={val} not finite");
                        }
                    }
                }
            }
            Event::Text(t) => svg.texts.push(t.unescape().unwrap().to_string()),
            Event::Eof => break,
            _ => {}
        }
    }
    svg
}

fn read_svg(path: &Path) -> Svg {
    parse_svg(&std::fs::read_to_string(path).unwrap())
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn toy_runs_give_every_toy_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n);
    common::write_toy_set(tmp.path());
    write_run(&d("n40"), "toy", 0, false, &[("input-dim", json!(40))], &[]);
    let dirs = ["s0", "s1", "shuf", "n20", "n40"].map(d);
    let out = tmp.path().join("fig");
    let done = render(&dirs, &out).unwrap();
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    let got = names(&done.files);
    for want in [
        "toy-task1-loss.svg",
        "toy-loss-task1-cyclic-vs-shuffled.svg",
        "toy-shift-averaged-loss.svg",
        "toy-online-loss.svg",
        "toy-recovery-score-by-epoch.svg",
        "toy-ring-by-epoch.svg",
        "toy-recovery-score-vs-input-dim.svg",
        "toy-shift-averaged-loss-by-input-dim.svg",
    ] {
        assert!(
            got.contains(&want.to_string()),
            "{want} missing from {got:?}"
        );
    }
    for f in &done.files {
        let svg = read_svg(f);
        assert!(
            svg.texts.iter().any(|t| !t.trim().is_empty()),
            "{f:?} has no text"
        );
    }

    // Task 1 alone: one line, a band (2 seeds), a marker before each of its E trainings.
    let s = read_svg(&out.join("toy-task1-loss.svg"));
    assert_eq!(s.n("data-line"), 1);
    assert_eq!(s.n("polygon"), 1);
    assert_eq!(s.n("circle"), E + 1, "E markers + one legend marker");
    assert!(s
        .texts
        .iter()
        .any(|t| t.contains("Toy model: loss of task 1")));
    assert!(s.texts.iter().any(|t| t.trim() == "episodes trained"));

    // Cyclic vs shuffled: two lines, band only for the two-seed cyclic condition.
    let s = read_svg(&out.join("toy-loss-task1-cyclic-vs-shuffled.svg"));
    assert_eq!(s.n("data-line"), 2);
    assert_eq!(s.n("polygon"), 1);
    assert!(
        s.texts.iter().any(|t| t.trim() == "cyclic")
            && s.texts.iter().any(|t| t.trim() == "shuffled")
    );

    // Shift-averaged: length T(E−1)+2, markers at multiples of T.
    let s = read_svg(&out.join("toy-shift-averaged-loss.svg"));
    assert_eq!(s.n("data-line"), 1);
    let len = T * (E - 1) + 2;
    assert_eq!(s.n("circle"), (len - 1) / T + 1);

    // Ring: one closed polyline per epoch panel (E+1), one dot per task per panel.
    let s = read_svg(&out.join("toy-ring-by-epoch.svg"));
    assert_eq!(s.n("data-line"), E + 1);
    assert_eq!(s.n("circle"), (E + 1) * T);

    // Sweep over input-dim: 3 values (10 from the base, 20, 40), bars from the 2-seed base.
    let s = read_svg(&out.join("toy-recovery-score-vs-input-dim.svg"));
    assert_eq!(s.n("circle"), 3);
    assert_eq!(s.n("data-line"), 1 + 1, "one line + one error bar");
    let s = read_svg(&out.join("toy-shift-averaged-loss-by-input-dim.svg"));
    assert_eq!(s.n("data-line"), 3);
}

/// Two sweeps whose names would be the same (one of `input-dim` and `lr` first, taking
/// `input-dim`, then one of `input-dim` alone) get figures of different names: no file is
/// written twice.
#[test]
fn sweeps_that_would_share_a_name_get_figures_of_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n);
    common::write_toy_set(tmp.path());
    for (name, dim, lr) in [("b40", 40, 0.5), ("b60", 60, 0.7)] {
        write_run(
            &d(name),
            "toy",
            0,
            false,
            &[("input-dim", json!(dim)), ("lr", json!(lr))],
            &[],
        );
    }
    write_run(&d("n40"), "toy", 0, false, &[("input-dim", json!(40))], &[]);
    let dirs = ["s0", "s1", "shuf", "b40", "b60", "n20", "n40"].map(d);
    let done = render(&dirs, &tmp.path().join("fig")).unwrap();
    let got = names(&done.files);
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "a file written twice: {got:?}");
    let sweeps = got
        .iter()
        .filter(|n| n.starts_with("toy-recovery-score-vs-"))
        .count();
    assert_eq!(sweeps, 2, "{got:?}");
}

/// A figure that cannot be written (its name is taken by a non-empty directory) fails
/// the render with that file named, after every other write has finished: no temporary
/// file is left behind and every figure written is whole.
#[test]
fn a_figure_that_cannot_be_written_fails_the_render_and_leaves_no_temporary() {
    let tmp = tempfile::tempdir().unwrap();
    common::write_toy_set(tmp.path());
    let dirs = ["s0", "s1", "shuf"].map(|n| tmp.path().join(n));
    let out = tmp.path().join("fig");
    let blocked = out.join("toy-online-loss.svg");
    std::fs::create_dir_all(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), b"x").unwrap();
    let err = render(&dirs, &out).unwrap_err().to_string();
    assert!(err.contains("toy-online-loss.svg"), "{err}");
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!left.iter().any(|n| n.contains(".tmp-")), "{left:?}");
    let written: Vec<&String> = left.iter().filter(|n| n.ends_with(".svg")).collect();
    assert!(written.len() > 1, "{left:?}");
    for n in written
        .iter()
        .filter(|n| n.as_str() != "toy-online-loss.svg")
    {
        let text = std::fs::read_to_string(out.join(n)).unwrap();
        parse_svg(&text);
        assert!(text.trim_end().ends_with("</svg>"), "{n} is not whole");
    }
    assert!(blocked.join("keep").is_file());
}

#[test]
fn llm_runs_give_heatmaps_with_one_cell_per_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("llm");
    write_run(
        &d,
        "llm",
        0,
        false,
        &[("preset", json!("pythia-14m"))],
        LLM_ARRAYS,
    );
    write_llm_arrays(&d);
    let out = tmp.path().join("fig");
    let done = render(std::slice::from_ref(&d), &out).unwrap();
    let got = names(&done.files);
    let n = T * E + 1;
    for (file, cells) in [
        ("llm-heatmap-gradient-similarity.svg", T * T),
        ("llm-heatmap-pairwise-recovery.svg", T * T),
        ("llm-heatmap-weight-residual-similarity.svg", n * n),
        ("llm-heatmap-activation-similarity.svg", n * n),
    ] {
        assert!(
            got.contains(&file.to_string()),
            "{file} missing from {got:?}"
        );
        let s = read_svg(&out.join(file));
        // Cells + colour bar + the white background.
        assert_eq!(s.n("rect"), cells + COLORBAR_STEPS + 1, "{file}");
    }
    let s = read_svg(&out.join("llm-weights-pca-trajectory.svg"));
    // One line per epoch; epochs share their boundary point, which is drawn twice.
    assert_eq!(s.n("data-line"), E);
    assert_eq!(s.n("circle"), n + E - 1);
    let s = read_svg(&out.join("llm-update-norms.svg"));
    assert_eq!(s.n("data-line"), 2);
    assert!(got.contains(&"llm-task1-loss.svg".to_string()));
}

#[test]
fn heatmap_larger_than_limit_is_block_averaged() {
    let k = plot::MAX_HEATMAP_CELLS + 40;
    let values: Vec<f64> = (0..k * k).map(|i| (i % 17) as f64).collect();
    let (v, r, c, b) = plot::downsample(&values, k, k, plot::MAX_HEATMAP_CELLS);
    assert_eq!(b, 2);
    assert_eq!((r, c), (k.div_ceil(2), k.div_ceil(2)));
    assert_eq!(v.len(), r * c);
    assert!((v[0] - (values[0] + values[1] + values[k] + values[k + 1]) / 4.0).abs() < 1e-12);
}

#[test]
fn missing_arrays_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("llm");
    write_run(&d, "llm", 0, false, &[], LLM_ARRAYS);
    write_llm_arrays(&d);
    std::fs::remove_file(d.join("grad_cosine.npy")).unwrap();
    let done = render(std::slice::from_ref(&d), &tmp.path().join("fig")).unwrap();
    assert!(
        done.notes
            .iter()
            .any(|n| n.contains("grad_cosine.npy") && n.contains("missing")),
        "{:?}",
        done.notes
    );
    assert!(!names(&done.files).contains(&"llm-heatmap-gradient-similarity.svg".to_string()));

    // Without losses.npy the run cannot be used, and the reason names the file.
    std::fs::remove_file(d.join("losses.npy")).unwrap();
    let done = render(std::slice::from_ref(&d), &tmp.path().join("fig2")).unwrap();
    assert!(done.files.is_empty());
    assert_eq!(done.skipped.len(), 1);
    assert!(
        done.skipped[0].1.contains("losses.npy"),
        "{:?}",
        done.skipped
    );
}

#[test]
fn unfinished_and_duplicate_runs_are_skipped_with_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let c = tmp.path().join("c");
    write_run(&a, "toy", 0, false, &[], &[]);
    write_run(&b, "toy", 0, false, &[], &[]);
    write_run(&c, "toy", 1, false, &[], &[]);
    let json = std::fs::read_to_string(c.join("run.json")).unwrap();
    std::fs::write(
        c.join("run.json"),
        json.replace("\"complete\"", "\"running\""),
    )
    .unwrap();
    let done = render(&[a, b.clone(), c.clone()], &tmp.path().join("fig")).unwrap();
    assert!(!done.files.is_empty());
    let reasons: BTreeMap<_, _> = done.skipped.iter().cloned().collect();
    assert!(reasons[&b].contains("same config and seed"));
    assert!(reasons[&c].contains("running"));
}

#[test]
fn non_finite_losses_give_notes_not_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("nan");
    write_run(&d, "toy", 0, false, &[], &[]);
    let nan = Array2::<f32>::from_elem((T * E + 1, T), f32::NAN);
    write_npy(d.join("losses.npy"), &nan).unwrap();
    let done = render(std::slice::from_ref(&d), &tmp.path().join("fig")).unwrap();
    assert!(
        done.notes
            .iter()
            .any(|n| n.starts_with("toy-task1-loss.svg not drawn")),
        "{:?}",
        done.notes
    );
    // The recovery score comes from run.json and is finite, so that figure is still drawn.
    assert!(names(&done.files).contains(&"toy-recovery-score-by-epoch.svg".to_string()));
}

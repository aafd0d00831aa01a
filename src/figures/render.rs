//! Which figures a set of runs supports, and drawing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::input::{load_run, RunInput};
use super::plot::{self, Heatmap, LineChart, RingPanel, Series, Trajectory3};
use super::FigureError;

/// What [`render`] did.
#[derive(Debug, Default, Clone)]
pub struct Rendered {
    /// Files written, in order.
    pub files: Vec<PathBuf>,
    /// Runs that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Figures that the runs could not support, with the reason.
    pub notes: Vec<String>,
}

/// Runs with the same config apart from seed (and other non-condition keys).
#[derive(Debug)]
struct Condition {
    kind: String,
    key: BTreeMap<String, Value>,
    runs: Vec<RunInput>,
}

impl Condition {
    fn first(&self) -> &RunInput {
        &self.runs[0]
    }
    fn seeds_note(&self) -> String {
        match self.runs.len() {
            1 => format!("seed {}", self.first().seed),
            n => format!("mean ± 1 sd over {n} seeds"),
        }
    }
}

/// Renders every figure the runs in `dirs` support into `out`.
///
/// A missing run directory is an error; a directory that is not a usable run
/// record is listed in [`Rendered::skipped`] with the reason.
pub fn render(dirs: &[PathBuf], out: &Path) -> Result<Rendered, FigureError> {
    for d in dirs {
        if !d.is_dir() {
            return Err(FigureError::NoRunDir(d.clone()));
        }
    }
    let mut done = Rendered::default();
    let mut conds: Vec<Condition> = Vec::new();
    for d in dirs {
        let run = match load_run(d) {
            Ok(r) => r,
            Err(e) => {
                done.skipped.push((d.clone(), e.to_string()));
                continue;
            }
        };
        let key = run.condition();
        match conds
            .iter_mut()
            .find(|c| c.kind == run.kind && c.key == key)
        {
            Some(c) => {
                let f = c.first();
                if let Some(dup) = c.runs.iter().find(|r| r.seed == run.seed) {
                    let reason = format!(
                        "same config and seed as {} (pass each seed once)",
                        dup.dir.display()
                    );
                    done.skipped.push((d.clone(), reason));
                } else if f.losses.dim() != run.losses.dim() {
                    let reason = format!(
                        "losses.npy shape {:?} differs from {:?} of {} although the config is the same",
                        run.losses.dim(),
                        f.losses.dim(),
                        f.dir.display()
                    );
                    done.skipped.push((d.clone(), reason));
                } else {
                    c.runs.push(run);
                }
            }
            None => conds.push(Condition {
                kind: run.kind.clone(),
                key,
                runs: vec![run],
            }),
        }
    }
    if conds.is_empty() {
        return Ok(done);
    }
    std::fs::create_dir_all(out).map_err(|e| FigureError::Write {
        path: out.to_path_buf(),
        source: e,
    })?;
    let mut kinds: Vec<String> = Vec::new();
    for c in &conds {
        if !kinds.contains(&c.kind) {
            kinds.push(c.kind.clone());
        }
    }
    for kind in kinds {
        let group: Vec<&Condition> = conds.iter().filter(|c| c.kind == kind).collect();
        render_kind(&group, out, &mut done)?;
    }
    Ok(done)
}

/// Writes a figure, or turns a drawing failure (e.g. nothing finite to draw) into a
/// note so that one bad figure does not stop the others.
fn emit(
    out: &Path,
    name: &str,
    svg: Result<String, FigureError>,
    done: &mut Rendered,
) -> Result<(), FigureError> {
    match svg {
        Ok(svg) => write_svg(out, name, &svg, done),
        Err(e @ (FigureError::Empty(_) | FigureError::Draw(_))) => {
            done.notes.push(format!("{name} not drawn: {e}"));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn write_svg(out: &Path, name: &str, svg: &str, done: &mut Rendered) -> Result<(), FigureError> {
    let path = out.join(name);
    write_atomic(&path, svg.as_bytes()).map_err(|e| FigureError::Write {
        path: path.clone(),
        source: e,
    })?;
    done.files.push(path);
    Ok(())
}

/// Temp file in the same directory, fsync, rename: a crash never leaves half a figure.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("figure");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

fn diff_keys(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort_by_key(|k| (key_priority(k), k.clone()));
    keys.dedup();
    keys
}

/// Preferred x-axis key when several config values vary together.
fn key_priority(k: &str) -> usize {
    const ORDER: &[&str] = &[
        "preset",
        "model",
        "width",
        "depth",
        "heads",
        "tasks",
        "steps",
        "context",
        "epochs",
        "input-dim",
        "embed-dim",
        "mask",
        "shift",
        "freeze",
        "lr",
    ];
    ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len())
}

fn value_label(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "(unset)".into(),
    }
}

/// Numeric value of a swept config value: numbers, or model sizes like "160m", "1.4b".
fn value_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            let s = s.rsplit('-').next().unwrap_or(&s).to_string();
            let (num, mult) = if let Some(p) = s.strip_suffix('b') {
                (p, 1e9)
            } else if let Some(p) = s.strip_suffix('m') {
                (p, 1e6)
            } else if let Some(p) = s.strip_suffix('k') {
                (p, 1e3)
            } else {
                (s.as_str(), 1.0)
            };
            num.parse::<f64>().ok().map(|x| x * mult)
        }
        _ => None,
    }
}

fn describe(c: &Condition) -> String {
    describe_with(c, true, true)
}

/// Short description of a condition: the config values a reader needs, then the
/// order and the seeds (each optional).
fn describe_with(c: &Condition, order: bool, seeds: bool) -> String {
    let g = |k: &str| c.key.get(k).map(|v| value_label(Some(v)));
    let mut parts = Vec::new();
    if c.kind == "toy" {
        if let Some(v) = g("tasks") {
            parts.push(format!("T={v}"));
        }
        match (g("input-dim"), g("embed-dim")) {
            (Some(n), Some(m)) if n == m => parts.push(format!("N=M={n}")),
            (Some(n), Some(m)) => parts.push(format!("N={n}, M={m}")),
            _ => {}
        }
        if let Some(v) = g("lr") {
            parts.push(format!("α={v}"));
        }
        if let Some(v) = g("mapping") {
            parts.push(v);
        }
    } else {
        if let Some(v) = g("preset").or_else(|| g("model")) {
            parts.push(v);
        }
        if let Some(v) = g("tasks") {
            parts.push(format!("T={v}"));
        }
        if let Some(v) = g("steps") {
            parts.push(format!("M={v}"));
        }
        if let Some(v) = g("lr") {
            parts.push(format!("lr={v}"));
        }
    }
    if order {
        parts.push(c.first().order_name());
    }
    if seeds {
        parts.push(c.seeds_note());
    }
    parts.join(", ")
}

fn loss_label(kind: &str) -> &'static str {
    if kind == "toy" {
        "loss ½‖Px − f(w)‖²"
    } else {
        "loss (nats)"
    }
}

/// Mean and sample sd (ddof 1) over equally long rows, NaN-aware; sd is None for one row.
fn mean_sd(rows: &[Vec<f64>]) -> (Vec<f64>, Option<Vec<f64>>) {
    let len = rows.iter().map(Vec::len).min().unwrap_or(0);
    let mut mean = vec![f64::NAN; len];
    let mut sd = vec![0.0; len];
    for i in 0..len {
        let v: Vec<f64> = rows
            .iter()
            .map(|r| r[i])
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            continue;
        }
        let m = v.iter().sum::<f64>() / v.len() as f64;
        mean[i] = m;
        if v.len() > 1 {
            sd[i] = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        }
    }
    (mean, (rows.len() > 1).then_some(sd))
}

/// Loss of `task` over all rows, averaged over seeds, with markers just before each
/// episode that trains `task` (from the first run's order).
fn task_series(c: &Condition, task: usize, name: String) -> Series {
    let rows: Vec<Vec<f64>> = c
        .runs
        .iter()
        .map(|r| r.losses.column(task).to_vec())
        .collect();
    let (y, sd) = mean_sd(&rows);
    let x: Vec<f64> = (0..y.len()).map(|s| s as f64).collect();
    let markers = c
        .first()
        .order
        .iter()
        .enumerate()
        .filter(|(_, &o)| o == task as i64)
        .filter_map(|(s, _)| y.get(s).map(|v| (s as f64, *v)))
        .collect();
    Series {
        name,
        x,
        y,
        sd,
        markers,
        ..Default::default()
    }
}

/// Per-task loss curves re-aligned so that offset 0 is the row just before each
/// task's first training (SPEC §6, [`reawaken_analysis::metrics::shift_averaged_loss`]), pooled
/// over tasks and seeds and cut to the shortest.
fn shift_curves(c: &Condition) -> Vec<Vec<f64>> {
    let mut curves: Vec<Vec<f64>> = Vec::new();
    for r in &c.runs {
        let order = r.order.to_vec();
        if let Ok(sa) = reawaken_analysis::metrics::shift_averaged_loss(&r.losses, &order) {
            curves.extend(sa.curves.rows().into_iter().map(|row| row.to_vec()));
        }
    }
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    curves.iter_mut().for_each(|v| v.truncate(len));
    curves
}

fn shift_series(c: &Condition, name: String, band: bool) -> Option<Series> {
    let curves = shift_curves(c);
    if curves.is_empty() || curves[0].is_empty() {
        return None;
    }
    let (y, sd) = mean_sd(&curves);
    let t = c.first().tasks();
    let markers = if c.first().order_name() == "cyclic" {
        (1..)
            .map(|k| k * t)
            .take_while(|&s| s < y.len())
            .map(|s| (s as f64, y[s]))
            .collect()
    } else {
        Vec::new()
    };
    Some(Series {
        name,
        x: (0..y.len()).map(|s| s as f64).collect(),
        y,
        sd: if band { sd } else { None },
        markers: if band { markers } else { Vec::new() },
        ..Default::default()
    })
}

/// Prequential loss ([`reawaken_analysis::metrics::online_loss`]): the loss of the task about
/// to be trained, per episode.
fn online_series(c: &Condition, name: String) -> Series {
    let rows: Vec<Vec<f64>> = c
        .runs
        .iter()
        .map(|r| {
            let order = r.order.to_vec();
            match reawaken_analysis::metrics::online_loss(&r.losses, &order) {
                Ok(o) => o
                    .per_episode
                    .iter()
                    .map(|v| v.unwrap_or(f64::NAN))
                    .collect(),
                Err(_) => vec![f64::NAN; order.len()],
            }
        })
        .collect();
    let (y, sd) = mean_sd(&rows);
    let means: Vec<f64> = c.runs.iter().filter_map(|r| r.online_loss_mean).collect();
    let name = if means.len() == c.runs.len() && !means.is_empty() {
        let m = means.iter().sum::<f64>() / means.len() as f64;
        format!("{name} (mean epochs 2..E: {m:.3})")
    } else {
        name
    };
    Series {
        name,
        x: (1..=y.len()).map(|s| s as f64).collect(),
        y,
        sd,
        ..Default::default()
    }
}

fn rs_series(c: &Condition, name: String) -> Option<Series> {
    let n = c
        .runs
        .iter()
        .map(|r| r.recovery_score.len())
        .max()
        .unwrap_or(0);
    if n == 0 {
        return None;
    }
    let rows: Vec<Vec<f64>> = c
        .runs
        .iter()
        .map(|r| {
            (0..n)
                .map(|i| {
                    r.recovery_score
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect();
    let (y, sd) = mean_sd(&rows);
    if y.iter().all(|v| !v.is_finite()) {
        return None;
    }
    Some(Series {
        name,
        x: (1..=n).map(|i| i as f64).collect(),
        y,
        sd,
        dots: true,
        ..Default::default()
    })
}

fn render_kind(group: &[&Condition], out: &Path, done: &mut Rendered) -> Result<(), FigureError> {
    let base = group[0];
    let k = base.kind.as_str();
    let label = if k == "toy" { "Toy model" } else { "LLM" };
    let desc = describe(base);
    let twin = group[1..]
        .iter()
        .copied()
        .find(|c| diff_keys(&base.key, &c.key) == ["order"]);

    // Task-1 loss (Fig. 10 for the toy, Fig. 1a without the comparison).
    let chart = LineChart {
        title: format!("{label}: loss of task 1"),
        subtitle: desc.clone(),
        x_label: "episodes trained".into(),
        y_label: loss_label(k).into(),
        series: vec![task_series(base, 0, base.first().order_name())],
        marker_label: Some("just before training task 1".into()),
        ..Default::default()
    };
    emit(
        out,
        &format!("{k}-task1-loss.svg"),
        plot::line_chart(&chart),
        done,
    )?;

    if let Some(tw) = twin {
        let chart = LineChart {
            title: format!(
                "{label}: task 1 loss, {} vs {}",
                base.first().order_name(),
                tw.first().order_name()
            ),
            subtitle: describe_with(base, false, true),
            x_label: "episodes trained".into(),
            y_label: loss_label(k).into(),
            series: vec![
                task_series(base, 0, base.first().order_name()),
                task_series(tw, 0, tw.first().order_name()),
            ],
            marker_label: Some("just before training task 1".into()),
            ..Default::default()
        };
        emit(
            out,
            &format!(
                "{k}-loss-task1-{}-vs-{}.svg",
                base.first().order_name(),
                tw.first().order_name()
            ),
            plot::line_chart(&chart),
            done,
        )?;
    } else {
        done.notes.push(format!(
            "{k}-loss-task1-cyclic-vs-shuffled.svg not drawn: no {k} run that differs from {} only in --order",
            base.first().dir.display()
        ));
    }

    // Shift-averaged loss (Fig. 1b).
    if let Some(s) = shift_series(base, "mean over tasks and seeds".into(), true) {
        let chart = LineChart {
            title: format!("{label}: shift-averaged loss"),
            subtitle: format!(
                "{}; band ±1 sd over tasks × {} seed(s)",
                describe_with(base, true, false),
                base.runs.len()
            ),
            x_label: "episodes since just before first training".into(),
            y_label: loss_label(k).into(),
            series: vec![s],
            marker_label: Some("just before a revisit".into()),
            ..Default::default()
        };
        emit(
            out,
            &format!("{k}-shift-averaged-loss.svg"),
            plot::line_chart(&chart),
            done,
        )?;
    }

    // Online (prequential) loss (Fig. 1c).
    let mut series = vec![online_series(base, base.first().order_name())];
    if let Some(tw) = twin {
        series.push(online_series(tw, tw.first().order_name()));
    }
    let chart = LineChart {
        title: format!("{label}: online (prequential) loss"),
        subtitle: describe_with(base, twin.is_none(), true),
        x_label: "episode (loss just before training it)".into(),
        y_label: loss_label(k).into(),
        series,
        ..Default::default()
    };
    emit(
        out,
        &format!("{k}-online-loss.svg"),
        plot::line_chart(&chart),
        done,
    )?;

    // Recovery score by epoch.
    let mut series: Vec<Series> = rs_series(base, base.first().order_name())
        .into_iter()
        .collect();
    if let Some(tw) = twin {
        series.extend(rs_series(tw, tw.first().order_name()));
    }
    if series.is_empty() {
        done.notes.push(format!(
            "{k}-recovery-score-by-epoch.svg not drawn: run.json of {} has no metrics.recovery_score values",
            base.first().dir.display()
        ));
    } else {
        let chart = LineChart {
            title: format!("{label}: recovery score by epoch"),
            subtitle: describe_with(base, twin.is_none(), true),
            x_label: "n (epochs completed)".into(),
            y_label: "recovery score RS(n)".into(),
            series,
            hlines: vec![0.0, 1.0],
            legend_lower: true,
            ..Default::default()
        };
        emit(
            out,
            &format!("{k}-recovery-score-by-epoch.svg"),
            plot::line_chart(&chart),
            done,
        )?;
    }

    if k == "toy" {
        toy_ring(base, out, done)?;
    } else {
        recorder_figures(base, out, done)?;
    }

    // Sweeps (Fig. 2–5): other conditions grouped by the keys in which they differ.
    let mut families: Vec<(Vec<String>, Vec<&Condition>)> = Vec::new();
    for c in group[1..].iter().copied() {
        if twin.is_some_and(|t| std::ptr::eq(t, c)) {
            continue;
        }
        let keys = diff_keys(&base.key, &c.key);
        if keys.iter().any(|k| k == "order") {
            for r in &c.runs {
                done.skipped.push((
                    r.dir.clone(),
                    format!(
                        "differs from the first {k} run {} in order and in {}: a sweep must keep --order fixed",
                        base.first().dir.display(),
                        keys.iter().filter(|k| *k != "order").cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            continue;
        }
        match families.iter_mut().find(|f| f.0 == keys) {
            Some(f) => f.1.push(c),
            None => families.push((keys, vec![c])),
        }
    }
    let mut slugs: Vec<String> = Vec::new();
    for (keys, members) in families {
        // Name after the x-axis key; all keys when another sweep already took that name.
        let slug = if slugs.contains(&keys[0]) {
            keys.join("-and-")
        } else {
            keys[0].clone()
        };
        slugs.push(slug.clone());
        sweep(base, &keys, &members, &slug, out, done)?;
    }
    Ok(())
}

fn sweep(
    base: &Condition,
    keys: &[String],
    members: &[&Condition],
    slug: &str,
    out: &Path,
    done: &mut Rendered,
) -> Result<(), FigureError> {
    let k = base.kind.as_str();
    let label = if k == "toy" { "Toy model" } else { "LLM" };
    let key = keys[0].as_str();
    let mut conds: Vec<&Condition> = std::iter::once(base)
        .chain(members.iter().copied())
        .collect();
    let numeric = conds.iter().all(|c| value_number(c.key.get(key)).is_some());
    if numeric {
        conds.sort_by(|a, b| {
            let x = value_number(a.key.get(key)).unwrap_or(0.0);
            let y = value_number(b.key.get(key)).unwrap_or(0.0);
            x.total_cmp(&y)
        });
    }
    let plain_numbers = conds
        .iter()
        .all(|c| matches!(c.key.get(key), Some(Value::Number(_))));
    let others: Vec<String> = keys[1..].to_vec();
    let co_vary_equal = others
        .iter()
        .all(|o| conds.iter().all(|c| c.key.get(o) == c.key.get(key)));
    let x_label = if others.is_empty() {
        key.to_string()
    } else if co_vary_equal {
        format!("{key} (= {})", others.join(" = "))
    } else {
        format!("{key} ({} vary too)", others.join(", "))
    };

    // Recovery score at the last defined n, ± sd over seeds.
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut bars = Vec::new();
    let mut cats = Vec::new();
    for (i, c) in conds.iter().enumerate() {
        let vals: Vec<f64> = c
            .runs
            .iter()
            .filter_map(|r| r.recovery_score.iter().rev().find_map(|v| *v))
            .filter(|v| v.is_finite())
            .collect();
        cats.push(value_label(c.key.get(key)));
        if vals.is_empty() {
            done.notes.push(format!(
                "{}: no defined recovery score, left out of {k}-recovery-score-vs-{slug}.svg",
                c.first().dir.display()
            ));
            continue;
        }
        let x = if plain_numbers {
            value_number(c.key.get(key)).unwrap_or(i as f64)
        } else {
            i as f64
        };
        let (m, sd) = mean_sd(&vals.iter().map(|v| vec![*v]).collect::<Vec<_>>());
        let m = m[0];
        xs.push(x);
        ys.push(m);
        if let Some(sd) = sd {
            bars.push((x, m - sd[0], m + sd[0]));
        }
    }
    if !xs.is_empty() {
        let seeds = conds.iter().map(|c| c.runs.len()).max().unwrap_or(1);
        let chart = LineChart {
            title: format!("{label}: recovery score vs {key}"),
            subtitle: format!(
                "RS at the last epoch; {}",
                if seeds > 1 {
                    "error bars ±1 sd over seeds"
                } else {
                    "one seed each"
                }
            ),
            x_label,
            y_label: "recovery score".into(),
            series: vec![Series {
                name: "recovery score".into(),
                x: xs,
                y: ys,
                error_bars: bars,
                dots: true,
                ..Default::default()
            }],
            x_categories: (!plain_numbers).then_some(cats),
            ..Default::default()
        };
        emit(
            out,
            &format!("{k}-recovery-score-vs-{slug}.svg"),
            plot::line_chart(&chart),
            done,
        )?;
    }

    // Shift-averaged loss per value (left panels of Fig. 2–5).
    let series: Vec<Series> = conds
        .iter()
        .filter_map(|c| shift_series(c, format!("{key} = {}", value_label(c.key.get(key))), false))
        .collect();
    if !series.is_empty() {
        let chart = LineChart {
            title: format!("{label}: shift-averaged loss by {key}"),
            subtitle: "mean over tasks and seeds".into(),
            x_label: "episodes since just before first training".into(),
            y_label: loss_label(k).into(),
            series,
            ..Default::default()
        };
        emit(
            out,
            &format!("{k}-shift-averaged-loss-by-{slug}.svg"),
            plot::line_chart(&chart),
            done,
        )?;
    }
    Ok(())
}

/// Top-2 PCA of the rows of a (T × M) matrix: coordinates and explained variance fraction.
fn pca2(rows: &[Vec<f64>]) -> Option<(Vec<(f64, f64)>, f64)> {
    let t = rows.len();
    let m = rows.first()?.len();
    if t < 2 || m < 2 {
        return None;
    }
    let x = ndarray::Array2::from_shape_fn((t, m), |(i, j)| rows[i][j]);
    let p = reawaken_analysis::pca::pca(&x, 2).ok()?;
    if p.scores.ncols() < 2 {
        return None;
    }
    let frac = p.explained_variance_ratio.iter().take(2).sum::<f64>();
    let mut p1 = p.scores.column(0).to_vec();
    let mut p2 = p.scores.column(1).to_vec();
    // Fix signs so panels are comparable: task 1 on the positive PC1 side, task ⌊T/4⌋+1 on positive PC2.
    if p1[0] < 0.0 {
        p1.iter_mut().for_each(|v| *v = -*v);
    }
    if p2[t / 4] < 0.0 {
        p2.iter_mut().for_each(|v| *v = -*v);
    }
    Some((p1.into_iter().zip(p2).collect(), frac))
}

fn toy_ring(base: &Condition, out: &Path, done: &mut Rendered) -> Result<(), FigureError> {
    let mut points = None;
    for r in &base.runs {
        match r.optional3("points.npy") {
            Ok(Some(p)) => {
                points = Some((r, p));
                break;
            }
            Ok(None) => {}
            Err(e) => done.notes.push(format!("toy-ring-by-epoch.svg: {e}")),
        }
    }
    let Some((run, p)) = points else {
        done.notes.push(format!(
            "toy-ring-by-epoch.svg not drawn: no run of {} has points.npy",
            base.first().dir.display()
        ));
        return Ok(());
    };
    let (e1, t, _) = p.dim();
    let picks: Vec<usize> = if e1 <= 12 {
        (0..e1).collect()
    } else {
        let mut v: Vec<usize> = (0..12).map(|i| i * (e1 - 1) / 11).collect();
        v.dedup();
        v
    };
    let mut panels = Vec::new();
    for e in picks {
        let rows: Vec<Vec<f64>> = (0..t)
            .map(|i| p.slice(ndarray::s![e, i, ..]).to_vec())
            .collect();
        if let Some((pts, frac)) = pca2(&rows) {
            panels.push(RingPanel {
                caption: format!("epoch {e} ({:.0}% var.)", frac * 100.0),
                points: pts,
            });
        }
    }
    if panels.is_empty() {
        done.notes.push(format!(
            "toy-ring-by-epoch.svg not drawn: points.npy of {} has no finite epoch",
            run.dir.display()
        ));
        return Ok(());
    }
    let title = format!(
        "Toy model: f⁻¹(Px) in top-2 PCA, by epoch (seed {})",
        run.seed
    );
    emit(
        out,
        "toy-ring-by-epoch.svg",
        plot::ring_grid(&title, &panels, t),
        done,
    )
}

fn first_array2(
    base: &Condition,
    name: &str,
    done: &mut Rendered,
) -> Option<(u64, ndarray::Array2<f64>)> {
    for r in &base.runs {
        match r.optional2(name) {
            Ok(Some(a)) => return Some((r.seed, a)),
            Ok(None) => {}
            Err(e) => done.notes.push(e.to_string()),
        }
    }
    None
}

fn first_array1(base: &Condition, name: &str, done: &mut Rendered) -> Option<ndarray::Array1<f64>> {
    for r in &base.runs {
        match r.optional1(name) {
            Ok(Some(a)) => return Some(a),
            Ok(None) => {}
            Err(e) => done.notes.push(e.to_string()),
        }
    }
    None
}

/// Recorder heatmap: array file, figure file, title, x label, y label, colour-bar label,
/// first index, `--record` name.
struct HeatmapSpec(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    usize,
    &'static str,
);

fn recorder_figures(base: &Condition, out: &Path, done: &mut Rendered) -> Result<(), FigureError> {
    let maps: [HeatmapSpec; 4] = [
        HeatmapSpec(
            "grad_cosine.npy",
            "llm-heatmap-gradient-similarity.svg",
            "Gradient cosine similarity between tasks",
            "task j",
            "task i",
            "cosine similarity",
            1,
            "grads",
        ),
        HeatmapSpec(
            "pairwise.npy",
            "llm-heatmap-pairwise-recovery.svg",
            "Loss recovery: train on task i, evaluate task j",
            "evaluated task j",
            "trained task i",
            "loss before − after (nats)",
            1,
            "pairwise",
        ),
        HeatmapSpec(
            "weights_residual_cosine.npy",
            "llm-heatmap-weight-residual-similarity.svg",
            "Cosine similarity of weight residuals",
            "episode",
            "episode",
            "cosine similarity",
            0,
            "weights",
        ),
        HeatmapSpec(
            "acts_cosine.npy",
            "llm-heatmap-activation-similarity.svg",
            "Cosine similarity of last-layer activations (doc 1)",
            "episode",
            "episode",
            "cosine similarity",
            0,
            "acts",
        ),
    ];
    for HeatmapSpec(file, name, title, xl, yl, vl, index_base, rec) in maps {
        match first_array2(base, file, done) {
            Some((seed, a)) => {
                let h = Heatmap {
                    title: format!("{title} (seed {seed})"),
                    x_label: xl.into(),
                    y_label: yl.into(),
                    value_label: vl.into(),
                    values: a.iter().copied().collect(),
                    rows: a.nrows(),
                    cols: a.ncols(),
                    index_base,
                };
                emit(out, name, plot::heatmap(&h), done)?;
            }
            None => done.notes.push(format!(
                "{name} not drawn: no run of {} has {file} (record it with --record {rec})",
                base.first().dir.display()
            )),
        }
    }

    // 3-D PCA of the weight residual trajectory (Fig. 9), one colour per epoch.
    match first_array2(base, "weights_pca.npy", done) {
        Some((seed, a)) if a.ncols() >= 3 && a.nrows() > 1 => {
            let t = base.first().tasks().max(1);
            let n = a.nrows();
            let mut segments = Vec::new();
            let mut start = 0;
            let mut epoch = 1;
            while start + 1 < n {
                let end = (start + t).min(n - 1);
                let pts = (start..=end).map(|i| (a[[i, 0]], a[[i, 1]], a[[i, 2]])).collect();
                segments.push(plot::Segment3 {
                    name: format!("epoch {epoch}"),
                    points: pts,
                });
                start = end;
                epoch += 1;
            }
            let tr = Trajectory3 {
                title: format!("Weight residuals: top-3 PCA trajectory (seed {seed})"),
                axis_names: ["PC1".into(), "PC2".into(), "PC3".into()],
                segments,
            };
            emit(out, "llm-weights-pca-trajectory.svg", plot::trajectory3(&tr), done)?;
        }
        Some(_) => done.notes.push("llm-weights-pca-trajectory.svg not drawn: weights_pca.npy needs shape (n ≥ 2, 3)".into()),
        None => done.notes.push(format!(
            "llm-weights-pca-trajectory.svg not drawn: no run of {} has weights_pca.npy (record it with --record weights)",
            base.first().dir.display()
        )),
    }

    // Update norms (Fig. 22).
    let mut panels = Vec::new();
    for (file, what) in [
        ("acts_change_norm.npy", "(a) activation change ‖Δh‖"),
        ("weights_update_norm.npy", "(b) weight update ‖Δw‖"),
    ] {
        if let Some(a) = first_array1(base, file, done) {
            panels.push(LineChart {
                title: what.into(),
                x_label: "episode".into(),
                y_label: "L2 norm".into(),
                series: vec![Series {
                    name: what.into(),
                    x: (1..=a.len()).map(|i| i as f64).collect(),
                    y: a.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    if panels.is_empty() {
        done.notes.push(
            "llm-update-norms.svg not drawn: no acts_change_norm.npy or weights_update_norm.npy (record with --record acts,weights)".into(),
        );
    } else {
        let w = 560 * panels.len() as u32;
        let title = format!(
            "Magnitude of updates through {} training (seed {})",
            base.first().order_name(),
            base.first().seed
        );
        let svg = plot::line_panels(&title, &panels, (w, 420));
        emit(out, "llm-update-norms.svg", svg, done)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_sizes_parse_as_numbers() {
        assert_eq!(value_number(Some(&Value::from(64))), Some(64.0));
        assert_eq!(value_number(Some(&Value::from("pythia-160m"))), Some(160e6));
        assert_eq!(value_number(Some(&Value::from("1.4b"))), Some(1.4e9));
        assert_eq!(value_number(Some(&Value::from("adam"))), None);
    }

    #[test]
    fn mean_sd_is_nan_aware_with_sample_sd() {
        let (m, sd) = mean_sd(&[vec![1.0, f64::NAN], vec![3.0, 2.0]]);
        assert_eq!(m, vec![2.0, 2.0]);
        let sd = sd.unwrap();
        assert!((sd[0] - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(sd[1], 0.0);
        let (_, sd) = mean_sd(&[vec![1.0]]);
        assert!(sd.is_none());
    }

    #[test]
    fn diff_keys_sorts_by_axis_priority() {
        let a: BTreeMap<String, Value> = [("lr", 0.01), ("input-dim", 100.0), ("embed-dim", 100.0)]
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        let mut b = a.clone();
        b.insert("lr".into(), Value::from(0.05));
        b.insert("input-dim".into(), Value::from(20.0));
        b.insert("embed-dim".into(), Value::from(20.0));
        assert_eq!(diff_keys(&a, &b), ["input-dim", "embed-dim", "lr"]);
    }
}

//! Sweeps (Fig. 2–5): the conditions that differ from the reference in other config
//! values than `order`, grouped by the set of keys in which they differ. Each family
//! gives the recovery score against the swept value and one shift-averaged curve per
//! value.

use serde_json::Value;

use crate::condition::{
    differing_keys, kind_label, loss_label, value_label, value_number, Condition,
};
use crate::plot::{self, LineChart, Series};
use crate::FigureError;

use super::shift_averaged::shift_series;
use super::{mean_sd, Output};

/// Every sweep of the conditions `others` against the reference `base`; the twin (if
/// any) is not one. Conditions that also differ in `order` are skipped with a reason.
pub(crate) fn sweeps(
    base: &Condition,
    twin: Option<&Condition>,
    others: &[&Condition],
    out: &mut Output<'_>,
) -> Result<(), FigureError> {
    let mut families: Vec<(Vec<String>, Vec<&Condition>)> = Vec::new();
    for c in others.iter().copied() {
        if twin.is_some_and(|t| std::ptr::eq(t, c)) {
            continue;
        }
        let keys = differing_keys(&base.key, &c.key);
        if keys.iter().any(|k| k == "order") {
            skip_order_sweep(base, c, &keys, out);
            continue;
        }
        match families.iter_mut().find(|f| f.0 == keys) {
            Some(f) => f.1.push(c),
            None => families.push((keys, vec![c])),
        }
    }
    let mut slugs: Vec<String> = Vec::new();
    for (keys, members) in families {
        // Name after the x-axis key; all keys when another sweep already took that name,
        // then a number (a sweep of `lr` after one of `lr` and `width` took `lr`).
        let named = if slugs.contains(&keys[0]) {
            keys.join("-and-")
        } else {
            keys[0].clone()
        };
        let mut slug = named.clone();
        for n in 2.. {
            if !slugs.contains(&slug) {
                break;
            }
            slug = format!("{named}-{n}");
        }
        slugs.push(slug.clone());
        let sweep = Sweep::new(base, &keys, &members);
        sweep.recovery_score(&slug, out)?;
        sweep.shift_averaged(&slug, out)?;
    }
    Ok(())
}

/// Skips every run of `c`, which differs from the reference in `order` and in other keys.
fn skip_order_sweep(base: &Condition, c: &Condition, keys: &[String], out: &mut Output<'_>) {
    let others: Vec<String> = keys.iter().filter(|k| *k != "order").cloned().collect();
    for r in &c.runs {
        out.done.skipped.push((
            r.dir.clone(),
            format!(
                "differs from the first {} run {} in order and in {}: a sweep must keep --order fixed",
                base.kind.as_str(),
                base.first().dir.display(),
                others.join(", ")
            ),
        ));
    }
}

/// One sweep: the reference and the members of a family, ordered by the swept value
/// when every value is a number (or a model size).
struct Sweep<'a> {
    base: &'a Condition,
    /// The swept key (the x axis).
    key: &'a str,
    conds: Vec<&'a Condition>,
    /// Every value is a JSON number: the x axis is numeric, else categorical.
    plain_numbers: bool,
    x_label: String,
}

impl<'a> Sweep<'a> {
    fn new(base: &'a Condition, keys: &'a [String], members: &[&'a Condition]) -> Self {
        let key = keys[0].as_str();
        let mut conds: Vec<&Condition> = std::iter::once(base)
            .chain(members.iter().copied())
            .collect();
        let numeric = conds.iter().all(|c| value_number(c.value(key)).is_some());
        if numeric {
            conds.sort_by(|a, b| {
                let x = value_number(a.value(key)).unwrap_or(0.0);
                let y = value_number(b.value(key)).unwrap_or(0.0);
                x.total_cmp(&y)
            });
        }
        let plain_numbers = conds
            .iter()
            .all(|c| matches!(c.value(key), Some(Value::Number(_))));
        let others: Vec<String> = keys[1..].to_vec();
        let co_vary_equal = others
            .iter()
            .all(|o| conds.iter().all(|c| c.value(o) == c.value(key)));
        let x_label = if others.is_empty() {
            key.to_string()
        } else if co_vary_equal {
            format!("{key} (= {})", others.join(" = "))
        } else {
            format!("{key} ({} vary too)", others.join(", "))
        };
        Self {
            base,
            key,
            conds,
            plain_numbers,
            x_label,
        }
    }

    /// `<kind>-recovery-score-vs-<slug>.svg`: RS at the last defined n against the swept
    /// value, ± sd over seeds. Conditions without a defined RS are left out with a note.
    fn recovery_score(&self, slug: &str, out: &mut Output<'_>) -> Result<(), FigureError> {
        let k = self.base.kind.as_str();
        let name = format!("{k}-recovery-score-vs-{slug}.svg");
        let (mut xs, mut ys, mut bars, mut cats) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, c) in self.conds.iter().enumerate() {
            let vals: Vec<f64> = c
                .runs
                .iter()
                .filter_map(|r| r.recovery_score().iter().rev().find_map(|v| *v))
                .filter(|v| v.is_finite())
                .collect();
            cats.push(value_label(c.value(self.key)));
            if vals.is_empty() {
                out.note(format!(
                    "{}: no defined recovery score, left out of {name}",
                    c.first().dir.display()
                ));
                continue;
            }
            let x = if self.plain_numbers {
                value_number(c.value(self.key)).unwrap_or(i as f64)
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
        if xs.is_empty() {
            return Ok(());
        }
        let seeds = self.conds.iter().map(|c| c.runs.len()).max().unwrap_or(1);
        let chart = LineChart {
            title: format!(
                "{}: recovery score vs {}",
                kind_label(self.base.kind),
                self.key
            ),
            subtitle: format!(
                "RS at the last epoch; {}",
                if seeds > 1 {
                    "error bars ±1 sd over seeds"
                } else {
                    "one seed each"
                }
            ),
            x_label: self.x_label.clone(),
            y_label: "recovery score".into(),
            series: vec![Series {
                name: "recovery score".into(),
                x: xs,
                y: ys,
                error_bars: bars,
                dots: true,
                ..Default::default()
            }],
            x_categories: (!self.plain_numbers).then_some(cats),
            ..Default::default()
        };
        out.emit(&name, plot::line_chart(&chart))
    }

    /// `<kind>-shift-averaged-loss-by-<slug>.svg`: one shift-averaged curve per value
    /// (left panels of Fig. 2–5).
    fn shift_averaged(&self, slug: &str, out: &mut Output<'_>) -> Result<(), FigureError> {
        let key = self.key;
        let series: Vec<Series> = self
            .conds
            .iter()
            .filter_map(|c| {
                shift_series(c, format!("{key} = {}", value_label(c.value(key))), false)
            })
            .collect();
        if series.is_empty() {
            return Ok(());
        }
        let chart = LineChart {
            title: format!(
                "{}: shift-averaged loss by {key}",
                kind_label(self.base.kind)
            ),
            subtitle: "mean over tasks and seeds".into(),
            x_label: "episodes since just before first training".into(),
            y_label: loss_label(self.base.kind).into(),
            series,
            ..Default::default()
        };
        out.emit(
            &format!(
                "{}-shift-averaged-loss-by-{slug}.svg",
                self.base.kind.as_str()
            ),
            plot::line_chart(&chart),
        )
    }
}

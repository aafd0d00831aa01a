//! Which figures a set of runs supports: the runs are grouped into conditions by kind,
//! and every figure family draws what the reference condition of each kind (and its
//! twin and sweeps) supports. How runs are combined: docs/figures.md.

use std::path::{Path, PathBuf};

use reawaken_analysis::record::RunKind;

use crate::condition::{differing_keys, Condition};
use crate::figure::{
    heatmaps, online_loss, recovery_score, shift_averaged, sweep, task_loss, toy_ring,
    update_norms, weights_pca, Output,
};
use crate::input::{load_run, RunInput};
use crate::FigureError;

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
    let conds = group_runs(dirs, &mut done);
    if conds.is_empty() {
        return Ok(done);
    }
    std::fs::create_dir_all(out).map_err(|e| FigureError::Write {
        path: out.to_path_buf(),
        source: e,
    })?;
    let mut kinds: Vec<RunKind> = Vec::new();
    for c in &conds {
        if !kinds.contains(&c.kind) {
            kinds.push(c.kind);
        }
    }
    let mut output = Output {
        dir: out,
        done: &mut done,
    };
    for kind in kinds {
        let group: Vec<&Condition> = conds.iter().filter(|c| c.kind == kind).collect();
        render_kind(&group, &mut output)?;
    }
    Ok(done)
}

/// Loads the runs and groups them into conditions, in the order given (the first run
/// of a condition is its first). Runs that cannot be used are skipped with the reason.
fn group_runs(dirs: &[PathBuf], done: &mut Rendered) -> Vec<Condition> {
    let mut conds: Vec<Condition> = Vec::new();
    for d in dirs {
        match load_run(d) {
            Ok(run) => {
                if let Err(reason) = add_run(&mut conds, run) {
                    tracing::debug!("skipped {}: {reason}", d.display());
                    done.skipped.push((d.clone(), reason));
                }
            }
            Err(e) => done.skipped.push((d.clone(), e.to_string())),
        }
    }
    conds
}

/// Adds a run to its condition (a new one when none matches). Refused, with the reason:
/// a seed given twice, or a loss matrix of another shape than the condition's.
fn add_run(conds: &mut Vec<Condition>, run: RunInput) -> Result<(), String> {
    let key = run.condition();
    let Some(c) = conds
        .iter_mut()
        .find(|c| c.kind == run.kind() && c.key == key)
    else {
        conds.push(Condition {
            kind: run.kind(),
            key,
            runs: vec![run],
        });
        return Ok(());
    };
    let f = c.first();
    if let Some(dup) = c.runs.iter().find(|r| r.seed() == run.seed()) {
        return Err(format!(
            "same config and seed as {} (pass each seed once)",
            dup.dir.display()
        ));
    }
    if f.losses.dim() != run.losses.dim() {
        return Err(format!(
            "losses.npy shape {:?} differs from {:?} of {} although the config is the same",
            run.losses.dim(),
            f.losses.dim(),
            f.dir.display()
        ));
    }
    c.runs.push(run);
    Ok(())
}

/// Every figure of one kind of run: the reference condition (`group[0]`), its
/// cyclic-vs-shuffled twin (the first condition differing from it only in `order`) and
/// the sweeps of the other conditions.
fn render_kind(group: &[&Condition], out: &mut Output<'_>) -> Result<(), FigureError> {
    let base = group[0];
    let twin = group[1..]
        .iter()
        .copied()
        .find(|c| differing_keys(&base.key, &c.key) == ["order"]);
    task_loss::task1(base, out)?;
    task_loss::task1_vs_twin(base, twin, out)?;
    shift_averaged::shift_averaged(base, out)?;
    online_loss::online_loss(base, twin, out)?;
    recovery_score::by_epoch(base, twin, out)?;
    match base.kind {
        RunKind::Toy => toy_ring::toy_ring(base, out)?,
        RunKind::Llm => {
            heatmaps::heatmaps(base, out)?;
            weights_pca::weights_pca(base, out)?;
            update_norms::update_norms(base, out)?;
        }
    }
    sweep::sweeps(base, twin, &group[1..], out)
}

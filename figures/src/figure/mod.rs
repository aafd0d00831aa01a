//! The figure families, one module each, and what they share: [`Output`] (where figures
//! go and what became of them) and [`mean_sd`] (averaging over seeds).
//!
//! Every family takes the reference [`Condition`] of a kind (and, where it has one, its
//! cyclic-vs-shuffled twin) and writes its figures, or a note saying why it could not.

pub(crate) mod heatmaps;
pub(crate) mod online_loss;
pub(crate) mod recovery_score;
pub(crate) mod shift_averaged;
pub(crate) mod sweep;
pub(crate) mod task_loss;
pub(crate) mod toy_ring;
pub(crate) mod update_norms;
pub(crate) mod weights_pca;

use std::path::Path;

use reawaken_analysis::record::write_atomic;

use crate::condition::Condition;
use crate::input::RunInput;
use crate::render::Rendered;
use crate::FigureError;

/// The output directory and the account of what was written, skipped and not drawn.
pub(crate) struct Output<'a> {
    pub dir: &'a Path,
    pub done: &'a mut Rendered,
}

impl Output<'_> {
    /// Writes a figure, or turns a drawing failure (e.g. nothing finite to draw) into a
    /// note so that one bad figure does not stop the others.
    pub fn emit(
        &mut self,
        name: &str,
        svg: Result<String, FigureError>,
    ) -> Result<(), FigureError> {
        match svg {
            Ok(svg) => self.write_svg(name, &svg),
            Err(e @ (FigureError::Empty(_) | FigureError::Draw(_))) => {
                self.note(format!("{name} not drawn: {e}"));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `svg` atomically (temporary file, fsync, rename: a crash never leaves half
    /// a figure) and lists it.
    fn write_svg(&mut self, name: &str, svg: &str) -> Result<(), FigureError> {
        let path = self.dir.join(name);
        write_atomic(&path, svg.as_bytes())?;
        tracing::debug!("wrote {}", path.display());
        self.done.files.push(path);
        Ok(())
    }

    /// Records a figure that the runs could not support, with the reason.
    pub fn note(&mut self, note: String) {
        self.done.notes.push(note);
    }
}

/// Mean and sample sd (ddof 1) over equally long rows, NaN-aware; sd is None for one row.
pub(crate) fn mean_sd(rows: &[Vec<f64>]) -> (Vec<f64>, Option<Vec<f64>>) {
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

/// The first run of `base` (in the order given) that has the 2-D array `name`, with its
/// seed; unreadable arrays become notes.
pub(crate) fn first_array2(
    base: &Condition,
    name: &str,
    out: &mut Output<'_>,
) -> Option<(u64, ndarray::Array2<f64>)> {
    first_with(base, out, None, |r| {
        Ok(r.optional2(name)?.map(|a| (r.seed(), a)))
    })
}

/// Like [`first_array2`] for 1-D arrays (without the seed).
pub(crate) fn first_array1(
    base: &Condition,
    name: &str,
    out: &mut Output<'_>,
) -> Option<ndarray::Array1<f64>> {
    first_with(base, out, None, |r| r.optional1(name))
}

/// The first `Some` that `read` gives for the runs of `base`, in order. A run whose read
/// fails adds a note (the error, after `"{figure}: "` when a figure is named).
pub(crate) fn first_with<'r, T>(
    base: &'r Condition,
    out: &mut Output<'_>,
    figure: Option<&str>,
    read: impl Fn(&'r RunInput) -> Result<Option<T>, FigureError>,
) -> Option<T> {
    for r in &base.runs {
        match read(r) {
            Ok(Some(a)) => return Some(a),
            Ok(None) => {}
            Err(e) => out.note(match figure {
                Some(f) => format!("{f}: {e}"),
                None => e.to_string(),
            }),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

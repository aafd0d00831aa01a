//! A vector recorded after every episode (weights, activations): its rows (exact or
//! sketched) and the exact norm of each episode's change. Shared by the `weights` and
//! `acts` recorders.

use ndarray::{Array1, Array2};
use reawaken_analysis::record::RunDir;
use tch::Tensor;

use super::sketch::TrajectoryRecorder;
use super::{read_rows, read_vec, storage_kind, to_array2};
use crate::probe::error::Result;

/// Rows 0..=done of one recorded vector and the norms of its changes.
pub struct Series {
    traj: TrajectoryRecorder,
    rows: Vec<Vec<f32>>,
    change_norm: Vec<f32>,
    /// File of the rows, e.g. `weights.npy`.
    rows_file: &'static str,
    /// File of the change norms, e.g. `weights_update_norm.npy`.
    norm_file: &'static str,
    sketch_dim: usize,
}

impl Series {
    pub fn new(
        traj: TrajectoryRecorder,
        rows_file: &'static str,
        norm_file: &'static str,
        sketch_dim: usize,
    ) -> Self {
        Series {
            traj,
            rows: Vec::new(),
            change_norm: Vec::new(),
            rows_file,
            norm_file,
            sketch_dim,
        }
    }

    /// "exact" or "CountSketch of dimension k".
    pub fn storage(&self) -> String {
        storage_kind(self.traj.sketch.is_some(), self.sketch_dim)
    }

    /// Records the vector made of `parts` as the next row.
    pub fn push(&mut self, parts: &[Tensor]) -> Result<()> {
        let (row, change) = self.traj.record(parts)?;
        self.rows.push(row);
        if let Some(c) = change {
            self.change_norm.push(c);
        } else if self.rows.len() > 1 {
            self.change_norm.push(f32::NAN);
        }
        Ok(())
    }

    /// Reloads rows 0..=done and primes the change norm with the current vector.
    pub fn resume(&mut self, dir: &RunDir, done: usize, current: &[Tensor]) -> Result<()> {
        self.rows = read_rows(dir, self.rows_file, done + 1)?;
        self.change_norm = read_vec(dir, self.norm_file, done)?;
        self.traj.prime(current);
        Ok(())
    }

    /// Writes the rows and the change norms.
    pub fn save(&self, dir: &RunDir) -> Result<()> {
        dir.write_npy(self.rows_file, &self.matrix())?;
        dir.write_npy(self.norm_file, &Array1::from(self.change_norm.clone()))?;
        Ok(())
    }

    /// The rows as a matrix (episodes+1, D).
    pub fn matrix(&self) -> Array2<f32> {
        to_array2(&self.rows, self.traj.row_len())
    }

    /// Number of rows recorded.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }
}

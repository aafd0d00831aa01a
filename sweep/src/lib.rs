//! `reawaken sweep`: the paper's comparisons as one command. A TOML spec names the
//! command and its settings — shared ones, a grid crossed in full, keys that vary together
//! — and the seeds ([`spec`]); [`plan`](manifest::plan) checks every run through the
//! command's own settings and writes the sweep directory ([`manifest`]); runs go on this
//! machine, `jobs` at a time with the cores divided between them ([`runner`]), or as a
//! Slurm job array ([`slurm`]); their state is read from their records ([`status`]) and
//! their results gathered into `summary.csv` ([`summary`]).
//!
//! The crate runs each run as a `reawaken` process and knows no command's settings
//! struct: the binary passes the check ([`manifest::Validate`]) in. Guide: docs/sweeps.md.

pub mod error;
pub mod manifest;
pub mod runner;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod summary;

pub use error::{Result, SweepError};
pub use manifest::{plan, Manifest, RunEntry, Sweep};
pub use spec::{SweepCommand, SweepSpec};
pub use status::RunState;

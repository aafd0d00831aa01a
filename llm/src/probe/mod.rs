//! `llm probe`: the paper's cyclic fine-tuning protocol (paper §2–4), in the order the
//! data flows:
//!
//! settings ([`config`]) → documents ([`documents`], [`corpus`]) → schedule of episodes
//! ([`schedule`]) → a checked plan ([`setup`]) → trainer ([`trainer`]) → recorders
//! ([`recorders`]) → run record, safe points and resume ([`checkpoint`], [`run`]).
//!
//! [`run_probe`] is the whole run; docs/llm-probe.md describes the protocol and the
//! record, docs/architecture.md how to add a recorder.

pub mod budget;
pub mod checkpoint;
pub mod config;
pub mod corpus;
pub mod documents;
pub mod error;
pub mod progress;
pub mod recorders;
pub mod run;
pub mod schedule;
pub mod setup;
pub mod trainer;

pub use config::{ProbeConfig, Recorders};
pub use error::ProbeError;
pub use run::{run_probe, ProbeSummary, StartMode};

//! The command-line edge: argument structs and `run` functions of each subcommand.
//! Libraries return typed errors (`thiserror`); here they become `anyhow` messages.

pub mod config;
pub mod figures;
#[cfg(feature = "llm")]
pub mod llm;
pub mod toy;

use std::process::ExitCode;

/// Sets up `tracing` to stderr. `RUST_LOG` wins over `--log`.
pub fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Prints an error as one plain message (with its causes) and maps it to an exit status.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("error: {err}");
            for cause in err.chain().skip(1) {
                eprint!(": {cause}");
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}

//! The command-line edge: argument structs and `run` functions of each subcommand.
//! Libraries return typed errors (`thiserror`); here they become `anyhow` messages.
//!
//! Every command has one typed settings struct in its library (`ToyConfig`,
//! `ProbeConfig`) that derives both clap's `Args` (flags, help, defaults) and serde (TOML
//! files, `run.json`). [`resolve_settings`] is the one mechanism that turns the parsed
//! flags into the resolved settings: defaults ← `--config` file ← flags given on the
//! command line.

pub mod figures;
pub mod llm;
pub mod sweep;
pub mod toy;

use std::path::Path;
use std::process::ExitCode;

use clap::parser::ValueSource;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The settings keys (kebab-case) whose flags were given on the command line.
pub fn given_keys(matches: &clap::ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().replace('_', "-"))
        .collect()
}

/// Defaults ← `config` file ← the flags given on the command line (`flags` holds every
/// flag's value, defaults included; `matches` tells which were given).
pub fn resolve_settings<C>(
    config: Option<&Path>,
    flags: &C,
    matches: &clap::ArgMatches,
) -> anyhow::Result<C>
where
    C: Serialize + DeserializeOwned + Default,
{
    Ok(reawaken_analysis::settings::resolve(
        config,
        flags,
        &given_keys(matches),
    )?)
}

/// Sets up `tracing` to stderr. `RUST_LOG` wins over `--log`; a `--log` that is not a
/// level or filter is an error.
pub fn init_logging(level: &str) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let given = EnvFilter::try_new(level).map_err(|_| {
        anyhow::anyhow!(
            "--log `{level}` is not a log level or filter (error, warn, info, debug, trace, or a filter such as reawaken=debug)"
        )
    })?;
    let filter = EnvFilter::try_from_default_env().unwrap_or(given);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    Ok(())
}

/// An error and its causes as one line; a cause already spelt out in the message (a
/// library error that quotes its source) is not repeated.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Prints an error as one plain message (with its causes) and maps it to an exit status.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The flags every command of both executables takes.
#[derive(clap::Args, Debug)]
pub struct GlobalArgs {
    /// Log verbosity (also RUST_LOG), e.g. `info`, `debug`.
    #[arg(long, global = true, default_value = "warn")]
    pub log: String,
}

/// The command line as `C`, and the matches that tell which flags were given; a usage
/// error is printed as [`plain_parse_error`] does, and the process exits.
pub fn parse_command_line<C: clap::CommandFactory + clap::FromArgMatches>() -> (C, clap::ArgMatches)
{
    let matches = C::command()
        .try_get_matches()
        .unwrap_or_else(|e| plain_parse_error(e));
    let parsed = C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (parsed, matches)
}

/// A value clap could not parse (`--optimizer rmsprop`) is one plain line, like every
/// other error; help, version and usage errors are shown as clap renders them.
pub fn plain_parse_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        let text = e.to_string();
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("error");
        eprintln!("{first}");
        std::process::exit(2);
    }
    e.exit()
}

/// The matches of the innermost subcommand (`toy simulate`, `llm probe`, …).
pub fn leaf(matches: &clap::ArgMatches) -> &clap::ArgMatches {
    match matches.subcommand() {
        Some((_, sub)) => leaf(sub),
        None => matches,
    }
}

/// A settings table (a `--config` file's, or a sweep run's) as the command's typed
/// settings; the error is one line naming the key.
pub fn typed_table<C: DeserializeOwned>(table: &toml::Table) -> Result<C, String> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| e.message().split_whitespace().collect::<Vec<_>>().join(" "))
}

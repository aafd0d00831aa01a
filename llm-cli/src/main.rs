//! `reawaken-llm`: the LLM half of the command line, the only executable that links
//! libtorch. Users reach it as `reawaken llm …` (the `reawaken` executable runs this one
//! in its place); `reawaken sweep plan` asks it to check the settings of `llm probe`
//! points (`check-settings`, not meant for users). See docs/architecture.md.
mod probe;

use std::io::Read;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reawaken llm",
    bin_name = "reawaken llm",
    version,
    about = "Cyclic fine-tuning of language models (GPT-NeoX / Pythia, GPT-2, Llama, Qwen2, Mistral) \
             and Image GPT, recording the loss matrix and the network's internals.",
    long_about = None
)]
struct Cli {
    #[command(flatten)]
    global: reawaken::cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fine-tune a model on T documents in a repeating order, recording the loss matrix.
    Probe(Box<probe::ProbeArgs>),
    /// Check `llm probe` settings for `reawaken sweep plan`: a JSON array of settings
    /// tables on stdin, a JSON array of `{"ok": resolved}` / `{"error": why}` on stdout.
    #[command(hide = true)]
    CheckSettings,
}

/// `check-settings`: every table through `ProbeConfig`, as `llm probe --config` would.
fn check_settings() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let tables: Vec<toml::Table> = serde_json::from_str(&input)?;
    let checked: Vec<serde_json::Value> = tables
        .iter()
        .map(|table| {
            let resolved = reawaken::cli::typed_table::<reawaken_llm::probe::ProbeConfig>(table)
                .and_then(|cfg| {
                    cfg.validate().map_err(|e| e.to_string())?;
                    serde_json::to_value(&cfg).map_err(|e| e.to_string())
                });
            match resolved {
                Ok(v) => serde_json::json!({ "ok": v }),
                Err(e) => serde_json::json!({ "error": e }),
            }
        })
        .collect();
    println!("{}", serde_json::Value::Array(checked));
    Ok(())
}

fn main() -> std::process::ExitCode {
    reawaken::cli::llm::ensure_openmp_wait_setting();
    let (cli, matches) = reawaken::cli::parse_command_line::<Cli>();
    if let Err(e) = reawaken::cli::init_logging(&cli.global.log) {
        return reawaken::cli::exit_code(Err(e));
    }
    let result = match cli.command {
        Command::Probe(args) => probe::run(*args, reawaken::cli::leaf(&matches)),
        Command::CheckSettings => check_settings(),
    };
    reawaken::cli::exit_code(result)
}

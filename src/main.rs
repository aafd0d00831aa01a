//! `reawaken`: the command-line edge. Each subcommand lives in `reawaken::cli::*`.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reawaken",
    version,
    about = "Study anticipatory recovery: networks trained on documents in a fixed repeating order \
             forget a document and recover it before it comes back.",
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
    /// The paper's toy model (slow embedding P, fast vector w; paper §4.4, App. A.5).
    #[command(subcommand)]
    Toy(ToyCommand),
    /// Cyclic fine-tuning of language models (Pythia / GPT-NeoX, GPT-2, Llama, Qwen2,
    /// Mistral) and Image GPT (paper §2–4): `reawaken llm probe --help`.
    ///
    /// Runs the LLM executable `reawaken-llm` (the one part that loads libtorch) in
    /// place of this one, with the same arguments.
    #[command(disable_help_flag = true)]
    Llm {
        /// `probe [FLAGS]`, passed to reawaken-llm.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<std::ffi::OsString>,
    },
    /// Render the paper's figures as SVG from run records.
    #[command(subcommand)]
    Figures(FiguresCommand),
    /// The paper's comparisons: settings x seeds, run here or as a Slurm job array.
    #[command(subcommand)]
    Sweep(SweepCommand),
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Check every point of a sweep spec and write the sweep directory (manifest, configs, Slurm script).
    Plan(reawaken::cli::sweep::PlanArgs),
    /// Run the runs that have work left on this machine, N at a time.
    Run(reawaken::cli::sweep::RunArgs),
    /// Submit the runs that have work left as a Slurm job array.
    Submit(reawaken::cli::sweep::SubmitArgs),
    /// The state of every run (pending, running, complete, diverged, failed, interrupted).
    Status(reawaken::cli::sweep::StatusArgs),
    /// Write summary.csv and print mean ± sd over seeds per condition.
    Summary(reawaken::cli::sweep::SummaryArgs),
}

#[derive(Subcommand)]
enum ToyCommand {
    /// Simulate cyclic (or shuffled) training of the toy model and write a run record.
    Simulate(reawaken::cli::toy::SimulateArgs),
}

#[derive(Subcommand)]
enum FiguresCommand {
    /// Render every figure the given run records support.
    Render(reawaken::cli::figures::RenderArgs),
}

fn main() -> std::process::ExitCode {
    let (cli, matches) = reawaken::cli::parse_command_line::<Cli>();
    if let Err(e) = reawaken::cli::init_logging(&cli.global.log) {
        return reawaken::cli::exit_code(Err(e));
    }
    let given = reawaken::cli::leaf(&matches);
    let result = match cli.command {
        Command::Toy(ToyCommand::Simulate(args)) => reawaken::cli::toy::run(args, given),
        Command::Llm { args } => {
            let log = (matches.value_source("log") == Some(clap::parser::ValueSource::CommandLine))
                .then_some(cli.global.log.as_str());
            reawaken::cli::llm::run_llm_executable(log, &args)
        }
        Command::Figures(FiguresCommand::Render(args)) => reawaken::cli::figures::run(args),
        Command::Sweep(cmd) => {
            use reawaken::cli::sweep;
            match cmd {
                SweepCommand::Plan(a) => sweep::plan(a),
                SweepCommand::Run(a) => sweep::run(a),
                SweepCommand::Submit(a) => sweep::submit(a),
                SweepCommand::Status(a) => sweep::status(a),
                SweepCommand::Summary(a) => sweep::summary(a),
            }
        }
    };
    reawaken::cli::exit_code(result)
}

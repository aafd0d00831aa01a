//! `reawaken`: the command-line edge. Each subcommand lives in `reawaken::cli::*`.
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reawaken",
    version,
    about = "Study anticipatory recovery: networks trained on documents in a fixed repeating order \
             forget a document and recover it before it comes back.",
    long_about = None
)]
struct Cli {
    /// Log verbosity (also RUST_LOG), e.g. `info`, `debug`.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The paper's toy model (slow embedding P, fast vector w; paper §4.4, App. A.5).
    #[command(subcommand)]
    Toy(ToyCommand),
    /// Cyclic fine-tuning of Pythia / GPT-NeoX models (paper §2–4).
    #[cfg(feature = "llm")]
    #[command(subcommand)]
    Llm(LlmCommand),
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

#[cfg(feature = "llm")]
#[derive(Subcommand)]
enum LlmCommand {
    /// Fine-tune a GPT-NeoX model on T documents in a repeating order, recording the loss matrix.
    Probe(Box<reawaken::cli::llm::ProbeArgs>),
}

#[derive(Subcommand)]
enum FiguresCommand {
    /// Render every figure the given run records support.
    Render(reawaken::cli::figures::RenderArgs),
}

/// A value clap could not parse (`--optimizer rmsprop`) is one plain line, like every
/// other error; help, version and usage errors are shown as clap renders them.
fn plain_parse_error(e: clap::Error) -> ! {
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
fn leaf(matches: &clap::ArgMatches) -> &clap::ArgMatches {
    match matches.subcommand() {
        Some((_, sub)) => leaf(sub),
        None => matches,
    }
}

fn main() -> std::process::ExitCode {
    let matches = Cli::command()
        .try_get_matches()
        .unwrap_or_else(|e| plain_parse_error(e));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = reawaken::cli::init_logging(&cli.log) {
        return reawaken::cli::exit_code(Err(e));
    }
    let given = leaf(&matches);
    let result = match cli.command {
        Command::Toy(ToyCommand::Simulate(args)) => reawaken::cli::toy::run(args, given),
        #[cfg(feature = "llm")]
        Command::Llm(LlmCommand::Probe(args)) => reawaken::cli::llm::run(*args, given),
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

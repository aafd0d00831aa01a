//! `reawaken llm` subcommand (skeleton; owned by the llm work).
#[derive(clap::Args, Debug)]
pub struct ProbeArgs {}
pub fn run(_args: ProbeArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

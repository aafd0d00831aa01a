//! `reawaken toy` subcommand (skeleton; owned by the toy work).
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {}
pub fn run(_args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

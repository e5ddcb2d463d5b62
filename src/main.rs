//! The `nfp-node` binary: parses the arguments and dispatches to the CLI.
#![forbid(unsafe_code)]

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = nfp_node::cli::Cli::parse();
    std::process::ExitCode::from(nfp_node::cli::run(cli))
}

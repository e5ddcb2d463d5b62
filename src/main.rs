//! The `nfp-node` binary: parses the arguments and dispatches to the CLI.
#![forbid(unsafe_code)]

use clap::Parser as _;

/// mimalloc instead of the C library's allocator: the message path
/// allocates many small, short-lived buffers (CBOR, COSE, sled pages), and
/// glibc's malloc cost about 15 % of the CPU per envelope under load
/// (`docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = nfp_node::cli::Cli::parse();
    std::process::ExitCode::from(nfp_node::cli::run(cli))
}

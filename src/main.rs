//! `parachute`: the server (`serve`) and the commands that talk to it over HTTP.

/// mimalloc rather than the C library's allocator: the store thread allocates what the actors'
/// thread frees (and the other way round), which glibc's arenas serialize behind a lock; with
/// mimalloc the message pipeline answers about twice as many messages per second
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod chat_client;
mod cli;
mod client;
mod connectors;
mod matrix_account;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// `parachute format`: markdown on stdin, the platform's form on stdout.
fn format_stdin(to: parachute_core::format::Target, split: bool) -> anyhow::Result<()> {
    use std::io::Read;
    let mut markdown = String::new();
    std::io::stdin().read_to_string(&mut markdown).map_err(|e| anyhow::anyhow!("cannot read stdin: {e}"))?;
    println!("{}", parachute_core::format::cli_output(to, split, &markdown));
    Ok(())
}

fn main() -> ExitCode {
    // No transparent huge pages for this process. mimalloc asks the kernel for them on its
    // heaps, so every thread's first allocation pulled in a 2 MiB page: the idle server held
    // 23 MiB of anonymous memory instead of 6 (docs/benchmarks.md), with no measurable gain in
    // the message pipeline. Set before any thread starts. The flag is inherited by the programs a
    // command brain runs (a local model runner gets no huge pages either).
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    // One TLS crypto provider for the whole process, chosen before any client is built:
    // matrix-sdk 0.18 also compiles in aws-lc-rs and would use it for Matrix unless another
    // connector happened to install ring first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Config(cli::ConfigCommand::Check { file, vault }) => client::config_check(file, vault),
        Command::Format { to, split } => format_stdin(to, split),
        Command::Matrix(command) => matrix_account::run(command),
        other => actix_web::rt::System::new().block_on(client::run(cli.url, cli.token, cli.json, other)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

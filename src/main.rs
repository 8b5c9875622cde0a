//! `parachute`: the server (`serve`) and the commands that talk to it over HTTP.

mod cli;
mod client;
mod connectors;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Config(cli::ConfigCommand::Check { file, vault }) => client::config_check(file, vault),
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

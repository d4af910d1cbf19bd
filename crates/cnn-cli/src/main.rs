//! `cnn`: build, train, inspect and run convolutional networks on the CPU.
//!
//! Exit codes: 0 success, 2 bad input (files, flags), 1 other failures.

mod error;
mod matrix;
mod ops_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cnn",
    version,
    about = "Convolutional neural networks on the CPU, with Keras semantics",
    long_about = "Convolutional neural networks on the CPU, with Keras semantics.\n\n\
                  Example: the classic vertical-edge detector\n  \
                  cnn ops conv2d --input examples/edge-8x8.txt --kernel examples/vertical-edge-3x3.txt --explain"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Worked examples: convolution and pooling of plain-text matrices.
    #[command(subcommand)]
    Ops(ops_cmd::OpsCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Ops(cmd) => ops_cmd::run(cmd),
    };
    match result {
        Ok(text) => {
            // A closed pipe (`cnn ... | head`) is not an error worth reporting.
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
            ExitCode::from(2)
        }
    }
}

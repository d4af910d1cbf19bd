//! Workspace automation. `cargo xtask test` is the gate CI runs: formatting, lints, then the
//! whole test suite. Later subcommands (fetch-data, exercises, bench) grow here.

use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Workspace automation for the cnn project"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check formatting, run clippy with warnings as errors, then run every test.
    Test {
        /// Skip `cargo fmt --check` and clippy (tests only).
        #[arg(long)]
        no_lint: bool,
    },
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Test { no_lint } => {
            if !no_lint {
                cargo(&["fmt", "--all", "--", "--check"])?;
                cargo(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])?;
            }
            cargo(&["test", "--workspace"])?;
        }
    }
    Ok(())
}

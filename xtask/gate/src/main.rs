//! `cargo xtask`. `cargo xtask test` is the gate CI runs — formatting, clippy with warnings as
//! errors, then the whole test suite — and runs here, in a binary with no dependencies, so the
//! gate never builds the workspace in release. Every other command (`fetch-data`, `exercise`,
//! `bench`, `make-digit-images`, `--help`) goes to the `xtask-tasks` binary (`xtask/`), built in
//! release because the exercises train real networks.
#![forbid(unsafe_code)]

use std::process::{Command, ExitCode};

/// Runs `cargo args…`, saying so; false (after saying why) if it fails.
fn cargo(args: &[&str]) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    match Command::new(&cargo).args(args).status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("error: `cargo {}` failed ({s})", args.join(" "));
            false
        }
        Err(e) => {
            eprintln!("error: running {cargo}: {e}");
            false
        }
    }
}

const TEST_HELP: &str = "\
cargo xtask test [--no-lint]

Check formatting, run clippy with warnings as errors, then run every test (the CI gate).
Where MPI is installed (`mpicc`; Debian: openmpi-bin libopenmpi-dev libclang-dev) the
workspace is built and tested with the `mpi` feature (multi-rank tests under mpirun), then
the command's tests once more without it (a build without MPI refuses an MPI launch). Under
CI=true MPI is required.

  --no-lint   skip `cargo fmt --check` and clippy (tests only)";

/// Whether the system's MPI can be built against (what the `mpi` crate's build looks for).
fn mpi_installed() -> bool {
    Command::new("mpicc")
        .arg("-show")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("test") {
        let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
        let no_lint = match rest[..] {
            [] => false,
            ["--no-lint"] => true,
            ["-h" | "--help"] => {
                println!("{TEST_HELP}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("error: unexpected arguments {rest:?}\n\n{TEST_HELP}");
                return ExitCode::from(2);
            }
        };
        let mpi = mpi_installed();
        if !mpi {
            if std::env::var_os("CI").is_some() {
                eprintln!(
                    "error: CI needs MPI for the data-parallel tests (apt-get install openmpi-bin \
                     libopenmpi-dev libclang-dev; .ci/run does)"
                );
                return ExitCode::FAILURE;
            }
            eprintln!("xtask: no MPI here (mpicc): the multi-rank tests are skipped");
        }
        let features: &[&str] = if mpi {
            &["--features", "cnn-cli/mpi"]
        } else {
            &[]
        };
        let with = |base: &[&'static str], tail: &[&'static str]| -> Vec<&'static str> {
            let mut v = base.to_vec();
            v.extend_from_slice(features);
            v.extend_from_slice(tail);
            v
        };
        let ok = (no_lint
            || (cargo(&["fmt", "--all", "--", "--check"])
                && cargo(&with(
                    &["clippy", "--workspace", "--all-targets"],
                    &["--", "-D", "warnings"],
                ))))
            && cargo(&with(&["test", "--workspace"], &[]))
            // Without the feature (a build that refuses an MPI launch); --workspace keeps the
            // other crates' features as above, so only the MPI crates are rebuilt.
            && (!mpi || cargo(&["test", "--workspace", "--test", "mpi"]));
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    // Everything else: the tasks binary says what went wrong itself; pass its exit code on.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args([
            "run",
            "--quiet",
            "--release",
            "--package",
            "xtask-tasks",
            "--",
        ])
        .args(&args)
        .status();
    match status {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("error: running {cargo}: {e}");
            ExitCode::FAILURE
        }
    }
}

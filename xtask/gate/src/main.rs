//! `cargo xtask`. `cargo xtask test` is the gate CI runs — formatting, clippy with warnings as
//! errors, then the whole test suite — and runs here, in a binary with no dependencies, so the
//! gate never builds the workspace in release. Every other command (`fetch-data`, `exercise`,
//! `bench`, `make-digit-images`, `--help`) goes to the `xtask-tasks` binary (`xtask/`), built in
//! release because the exercises train real networks.
#![forbid(unsafe_code)]

use std::process::{Command, ExitCode};

/// Runs `cargo args…` with the extra environment `env`, saying so; false (after saying why) if
/// it fails.
fn cargo(args: &[&str], env: &[(&str, String)]) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    match Command::new(&cargo)
        .args(args)
        .envs(env.iter().cloned())
        .status()
    {
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

/// The environment that makes the test build itself run clippy on the workspace's crates, with
/// warnings as errors: `clippy-driver` as the workspace's rustc wrapper (it lints, then compiles
/// as rustc does; dependencies, built with `--cap-lints allow`, are compiled plainly) and
/// `-D warnings` passed the way `cargo clippy` passes its arguments to it. One build instead of
/// a separate `cargo clippy` pass that type-checks every dependency again (7 of CI's 25 minutes).
fn lint_env() -> Result<Vec<(&'static str, String)>, String> {
    let driver = Command::new("rustup")
        .args(["which", "clippy-driver"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "clippy-driver".into());
    match Command::new(&driver).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(vec![
            ("RUSTC_WORKSPACE_WRAPPER", driver),
            (
                "CLIPPY_ARGS",
                "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__".into(),
            ),
        ]),
        _ => Err(format!(
            "clippy-driver not found ({driver}): `rustup component add clippy`, or --no-lint"
        )),
    }
}

const TEST_HELP: &str = "\
cargo xtask test [--no-lint]

Check formatting, then build every target (lib, bins, tests, examples, benches) with clippy's
lints as errors and run every test (the CI gate). The lints run inside the test build
(clippy-driver as the workspace's rustc wrapper): the same lints as
`cargo clippy --workspace --all-targets -- -D warnings`, without a second build.
Where MPI is installed (`mpicc`; Debian: openmpi-bin libopenmpi-dev libclang-dev) the
workspace is built and tested with the `mpi` feature (multi-rank tests under mpirun), then
the command's tests once more without it (a build without MPI refuses an MPI launch). Under
CI=true MPI is required.

  --no-lint   skip `cargo fmt --check` and clippy's lints (tests only)";

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
        let env = if no_lint {
            Vec::new()
        } else {
            match lint_env() {
                Ok(env) => env,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        };
        let ok = (no_lint || cargo(&["fmt", "--all", "--", "--check"], &[]))
            // Every target, benches included, is built (and linted) first; the test run then
            // reuses those builds (the same environment, so nothing is rebuilt).
            && cargo(&with(&["test", "--workspace", "--all-targets"], &["--no-run"]), &env)
            && cargo(&with(&["test", "--workspace"], &[]), &env)
            // Without the feature (a build that refuses an MPI launch); --workspace keeps the
            // other crates' features as above, so only the MPI crates are rebuilt.
            && (!mpi || cargo(&["test", "--workspace", "--test", "mpi"], &env));
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

//! What the CLI tests share: running `cnn` and reading its output.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cnn` with `dir` as its working directory.
pub fn cnn_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnn"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run cnn")
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

//! The `cnn ops` commands run as a user would run them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn cnn(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cnn"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cnn");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn vertical_edge_example_from_the_lecture() {
    let out = cnn(
        &[
            "ops",
            "conv2d",
            "--input",
            "examples/edge-8x8.txt",
            "--kernel",
            "examples/vertical-edge-3x3.txt",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = " 0  0 27 27  0  0\n".repeat(6);
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn explain_shows_the_products_of_the_first_cell() {
    let out = cnn(
        &[
            "ops",
            "conv2d",
            "-i",
            "-",
            "-k",
            "examples/vertical-edge-3x3.txt",
            "--explain",
        ],
        Some("1 2 3\n4 5 6\n7 8 9\n"),
    );
    let s = text(&out.stdout);
    assert!(s.starts_with("-6\n"), "{s}");
    assert!(s.contains("1×1  2×0  3×(-1)"), "{s}");
    assert!(
        s.contains("= 1 + 0 + (-3) + 4 + 0 + (-6) + 7 + 0 + (-9) = -6"),
        "{s}"
    );
}

#[test]
fn same_padding_and_stride() {
    // 5x5 of ones, 3x3 ones kernel, same padding, stride 2 → 3x3 (ceil(5/2)), pad 1 each side.
    let ones = "1 1 1 1 1\n".repeat(5);
    let k = "1,1,1\n1,1,1\n1,1,1\n";
    let dir = tempfile::tempdir().unwrap();
    let kp = dir.path().join("ones-k.txt");
    std::fs::write(&kp, k).unwrap();
    let out = cnn(
        &[
            "ops",
            "conv2d",
            "-i",
            "-",
            "-k",
            kp.to_str().unwrap(),
            "--padding",
            "same",
            "--stride",
            "2",
        ],
        Some(&ones),
    );
    assert_eq!(
        text(&out.stdout),
        "4 6 4\n6 9 6\n4 6 4\n",
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pooling_examples() {
    let out = cnn(
        &[
            "ops",
            "maxpool",
            "--input",
            "examples/pool-4x4.txt",
            "--size",
            "2",
        ],
        None,
    );
    assert_eq!(text(&out.stdout), "9 2\n6 3\n");
    let out = cnn(
        &[
            "ops",
            "avgpool",
            "--input",
            "examples/pool-4x4.txt",
            "--explain",
        ],
        None,
    );
    assert_eq!(text(&out.stdout).lines().next(), Some("3.75 1.25"));
    assert!(text(&out.stdout).contains("(1 + 3 + 2 + 9) / 4 = 3.75"));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for (args, stdin, needle) in [
        (
            vec!["ops", "maxpool", "-i", "-"],
            "1 2\n3\n",
            "error: bad matrix (stdin:2): ragged rows",
        ),
        (
            vec!["ops", "maxpool", "-i", "-"],
            "1 two\n",
            "`two` is not a number",
        ),
        (
            vec!["ops", "conv2d", "-i", "-", "-k", "examples/edge-8x8.txt"],
            "1 2\n3 4\n",
            "larger than the padded input",
        ),
        (
            vec!["ops", "maxpool", "-i", "no-such-file.txt"],
            "",
            "error: cannot read matrix (no-such-file.txt)",
        ),
        (
            vec![
                "ops",
                "conv2d",
                "-i",
                "-",
                "-k",
                "examples/vertical-edge-3x3.txt",
                "--padding",
                "lots",
            ],
            "1\n",
            "--padding",
        ),
    ] {
        let out = cnn(&args, Some(stdin));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

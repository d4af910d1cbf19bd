//! Faults a user's machine really has, done for real to the real `cnn` binary: SIGKILL at random
//! moments (mid-step and mid-checkpoint), two trainings writing one file, a full filesystem and
//! a read-only one. Nothing may be torn or lost, and every failure must be a clear error.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};

fn cnn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cnn"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `cnn train` of `model` on the bundled sample into `out`, quiet, 2 threads, seed 3.
fn train_args(model: &str, out: &Path, epochs: usize, limit: usize) -> Vec<String> {
    [
        "--threads",
        "2",
        "train",
        "-m",
        model,
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        &epochs.to_string(),
        "--limit",
        &limit.to_string(),
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--quiet",
        "--resume",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[String]) -> Output {
    cnn().args(args).output().expect("run cnn")
}

fn spawn(args: &[String]) -> Child {
    cnn()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cnn")
}

/// Temporary files `write_atomic` leaves beside `out` when killed mid-write.
fn temps(out: &Path) -> Vec<PathBuf> {
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            f.starts_with(&format!(".{name}.")) && f.ends_with(".tmp")
        })
        .collect()
}

fn weights(path: &Path) -> Vec<Vec<f32>> {
    let saved = cnn_nn::load_model(path).unwrap();
    let mut w: Vec<Vec<f32>> = saved
        .model
        .params()
        .iter()
        .map(|t| t.data().to_vec())
        .collect();
    w.extend(saved.model.state().iter().map(|t| t.data().to_vec()));
    w
}

#[test]
fn sigkill_at_random_moments_never_tears_the_checkpoint_and_resume_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (epochs, limit) = (8, 384);
    // mnist-cnn: 1.2 M parameters, a 14 MB checkpoint with Adam's moments, so kills also land
    // while a checkpoint is being written.
    let reference = dir.path().join("reference.cnn");
    let started = Instant::now();
    let o = run(&train_args("mnist-cnn", &reference, epochs, limit));
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Random kills land within about three epochs of a run's start, however fast the machine is
    // today (on a loaded machine fixed 0.1-1.8 s windows all fell before the first checkpoint).
    let per_epoch = started.elapsed().as_millis() as u64 / epochs as u64;
    let latest = (3 * per_epoch).max(1800);

    let out = dir.path().join("killed.cnn");
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let (mut kills, mut mid_write, mut last_epoch) = (0, 0, 0usize);
    let mut epochs_seen = Vec::new();
    while kills < 20 {
        let mut child = spawn(&train_args("mnist-cnn", &out, epochs, limit));
        // Odd kills at a random moment (mostly mid-step); even ones the moment a checkpoint's
        // temporary file appears, i.e. mid-write.
        let at_write = kills % 2 == 1;
        let wait = Duration::from_millis(rng.random_range(100..latest));
        let t = Instant::now();
        let mut finished = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            if at_write {
                if !temps(&out).is_empty() || t.elapsed() > Duration::from_secs(30) {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            } else {
                if t.elapsed() >= wait {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if finished {
            // It ran to the end before the kill: start over from nothing to keep killing.
            assert!(child.wait().unwrap().success());
            std::fs::remove_file(&out).unwrap();
            last_epoch = 0;
            continue;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if !temps(&out).is_empty() {
            mid_write += 1;
        }
        if out.exists() {
            // Either the previous checkpoint or a newer one: it loads, whole.
            let saved = cnn_nn::load_model(&out)
                .unwrap_or_else(|e| panic!("torn checkpoint after kill {kills}: {e}"));
            assert!(
                saved.epoch >= last_epoch,
                "went back from {last_epoch} to {}",
                saved.epoch
            );
            assert!(saved.optimizer.is_some());
            last_epoch = saved.epoch;
        }
        epochs_seen.push(last_epoch);
    }
    println!("20 kills; checkpoint epochs after each: {epochs_seen:?}; {mid_write} during a write");
    // The test proves what it names only if kills did land mid-write, and between checkpoints
    // (a run killed before it wrote anything leaves the epoch where it was).
    assert!(
        mid_write >= 5,
        "only {mid_write} of 20 kills landed while a checkpoint was being written"
    );
    assert!(
        epochs_seen.windows(2).any(|w| w[0] == w[1] && w[0] > 0),
        "no kill landed between two checkpoints: {epochs_seen:?}"
    );
    // Resume to the end: the same weights, to the bit, as the run never interrupted.
    let o = run(&train_args("mnist-cnn", &out, epochs, limit));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(weights(&out), weights(&reference));
    assert!(
        temps(&out).is_empty(),
        "stale temporary files: {:?}",
        temps(&out)
    );
}

#[test]
fn two_trainings_cannot_write_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.cnn");
    let mut first = spawn(&train_args("mnist-cnn", &out, 50, 3000));
    // Wait until the first run holds the lock (it claims --out before loading data).
    let lock = dir.path().join(".m.cnn.lock");
    let t = Instant::now();
    while !lock.exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let second = run(&train_args("mnist-cnn", &out, 1, 100));
    let err = text(&second.stderr);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: output in use"), "{err}");
    assert!(err.contains("m.cnn"), "{err}");
    // Once the first is gone, the output is free again.
    let again = run(&train_args(
        "dense-mnist",
        &dir.path().join("m.cnn"),
        1,
        100,
    ));
    assert!(again.status.success(), "{}", text(&again.stderr));
}

/// A tmpfs of `kb` KiB mounted on a fresh directory, unmounted on drop; `None` where this
/// process may not mount.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(kb: usize) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kb}k"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallFs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount_read_only(&self) {
        let s = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(s.success());
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem holding `dir` until a write fails.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![7u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

fn tiny_spec(dir: &Path) -> String {
    let spec = dir.join("tiny.json");
    std::fs::write(
        &spec,
        r#"{"name": "tiny", "input_shape": [28, 28, 1], "layers": [
          {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
          {"type": "MaxPooling2D", "pool_size": 2},
          {"type": "Flatten"},
          {"type": "Dense", "units": 10, "activation": "softmax"}]}"#,
    )
    .unwrap();
    spec.to_str().unwrap().to_string()
}

#[test]
fn a_full_disk_reports_the_error_and_keeps_the_previous_files() {
    let work = tempfile::tempdir().unwrap();
    let spec = tiny_spec(work.path());
    let fs = SmallFs::mount(512);
    let dir = match &fs {
        Some(fs) => fs.path().to_path_buf(),
        None => work.path().join("out"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("m.cnn");
    let report = dir.join("report.json");
    let mut args = train_args(&spec, &out, 1, 200);
    args.extend(["--report".to_string(), report.to_str().unwrap().to_string()]);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let model_before = std::fs::read(&out).unwrap();
    let curves = dir.join("curves.png");
    let o = run(&[
        "plot".into(),
        report.to_str().unwrap().into(),
        "--out".into(),
        curves.to_str().unwrap().into(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let curves_before = std::fs::read(&curves).unwrap();

    // Now the disk is full (or, where this process cannot mount, files are capped at 8 KiB).
    let mut second = cnn();
    second.args(train_args(&spec, &out, 2, 200));
    let mut plot = cnn();
    plot.args([
        "plot",
        report.to_str().unwrap(),
        "--out",
        curves.to_str().unwrap(),
    ]);
    if fs.is_some() {
        fill(&dir);
    } else {
        for c in [&mut second, &mut plot] {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe libc calls between fork and exec.
            unsafe {
                c.pre_exec(|| {
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    let lim = libc::rlimit {
                        rlim_cur: 8192,
                        rlim_max: 8192,
                    };
                    libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
                    Ok(())
                });
            }
        }
    }
    for (what, cmd, file, before) in [
        ("train", &mut second, &out, &model_before),
        ("plot", &mut plot, &curves, &curves_before),
    ] {
        let o = cmd.output().unwrap();
        let err = text(&o.stderr);
        println!(
            "{what} on a full disk: {}",
            err.lines().last().unwrap_or_default()
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.lines().any(|l| l.starts_with("error: ")),
            "{what}: {err}"
        );
        assert!(
            err.contains(file.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(
            err.contains("No space left") || err.contains("too large"),
            "{what}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            &std::fs::read(file).unwrap(),
            before,
            "{what}: previous file changed"
        );
        assert!(temps(file).is_empty(), "{what} left {:?}", temps(file));
    }
    // The model is still the complete one-epoch model.
    assert_eq!(cnn_nn::load_model(&out).unwrap().epoch, 1);
}

#[test]
fn a_read_only_directory_is_refused_before_training() {
    let work = tempfile::tempdir().unwrap();
    let spec = tiny_spec(work.path());
    let fs = SmallFs::mount(1024);
    let dir = match &fs {
        Some(fs) => fs.path().to_path_buf(),
        None => work.path().join("ro"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("m.cnn");
    let o = run(&train_args(&spec, &out, 1, 200));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let before = std::fs::read(&out).unwrap();
    let mut cmd = cnn();
    cmd.args(train_args(&spec, &out, 3, 200));
    match &fs {
        Some(fs) => fs.remount_read_only(),
        None => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
            // Root ignores permissions: run as nobody then.
            if unsafe { libc::geteuid() } == 0 {
                use std::os::unix::process::CommandExt;
                cmd.uid(65534);
            }
        }
    }
    let t = Instant::now();
    let o = cmd.output().unwrap();
    let err = text(&o.stderr);
    println!("read-only: {}", err.trim());
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: cannot write"), "{err}");
    assert!(err.contains("m.cnn"), "{err}");
    assert!(
        err.contains("Read-only") || err.contains("ermission denied"),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "refused before training"
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

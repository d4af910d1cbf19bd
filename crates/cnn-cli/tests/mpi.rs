//! `mpirun -np N cnn train …` (the `mpi` feature): N ranks give bit for bit the weights of one
//! process computing the same N parts in turn (`--parts N`), resume with another rank count,
//! refuse mismatched arguments, and a killed rank ends the job with the checkpoint intact.
//! Without the feature, a launch under MPI is refused with the way to rebuild.
#![cfg_attr(not(feature = "mpi"), allow(dead_code, unused_imports))]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::text;

const CNN: &str = env!("CARGO_BIN_EXE_cnn");

/// A short run: 320 bundled Fashion-MNIST images, batches of 50 (the last one 20, shared
/// unevenly by 3 ranks), a validation split, augmentation (each rank augments its own part).
fn train_args(out: &Path, epochs: usize) -> Vec<String> {
    [
        "train",
        "-m",
        "mnist-cnn",
        "-d",
        "fashion-mnist-sample",
        "--limit",
        "320",
        "--validation-split",
        "0.125",
        "--batch-size",
        "50",
        "--width-shift",
        "0.1",
        "--horizontal-flip",
        "--quiet",
        "--epochs",
        &epochs.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Every tensor of a saved model (weights and optimizer slots), as bytes, by name, and its
/// epoch.
fn bits(path: &Path) -> (Vec<(String, Vec<u8>)>, usize) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort();
    (v, cnn_nn::load_model(path).unwrap().epoch)
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_refuses_an_mpi_launch() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(CNN)
        .args(train_args(&dir.path().join("m.cnn"), 1))
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("built without MPI") && err.contains("--features mpi"),
        "{err}"
    );
    assert!(!dir.path().join("m.cnn").exists());
}

/// `srun` with several tasks but no MPI process manager: every task would train alone and
/// write the same file; refused (either build).
#[test]
fn srun_tasks_without_a_process_manager_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(CNN)
        .args(train_args(&dir.path().join("m.cnn"), 1))
        .env("SLURM_STEP_NUM_TASKS", "4")
        .env("SLURM_PROCID", "2")
        .env_remove("OMPI_COMM_WORLD_SIZE")
        .env_remove("PMIX_RANK")
        .env_remove("PMI_SIZE")
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("srun --mpi=pmix"), "{err}");
    assert!(!dir.path().join("m.cnn").exists());
}

/// `mpirun`, or `None` (the test is skipped) when MPI is not installed outside CI.
#[cfg(feature = "mpi")]
fn mpirun() -> Option<&'static str> {
    let found = Command::new("mpirun").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install MPI (openmpi-bin) for the mpi feature's tests"
        );
        eprintln!("mpirun not found: MPI tests skipped");
        return None;
    }
    Some("mpirun")
}

/// `mpirun -np n cnn --threads 1 <args>`.
#[cfg(feature = "mpi")]
fn mpi_cmd(n: usize, args: &[String]) -> Command {
    let mut c = Command::new(mpirun().unwrap());
    c.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        &n.to_string(),
        CNN,
    ])
    .args(["--threads", "1"])
    .args(args);
    c
}

#[cfg(feature = "mpi")]
fn run_ok(mut c: Command) -> Output {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?} failed: {}", text(&o.stderr));
    o
}

#[cfg(feature = "mpi")]
fn one_process(args: &[String], parts: usize) -> Output {
    let mut c = Command::new(CNN);
    c.args(args).args(["--parts", &parts.to_string()]);
    run_ok(c)
}

#[cfg(feature = "mpi")]
#[test]
fn ranks_train_to_the_weights_of_one_process_computing_their_parts() {
    if mpirun().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for n in [2, 3] {
        let ranks = dir.path().join(format!("ranks{n}.cnn"));
        let single = dir.path().join(format!("parts{n}.cnn"));
        let o = run_ok(mpi_cmd(n, &train_args(&ranks, 2)));
        let out = text(&o.stdout);
        // Rank 0 alone prints and writes.
        assert_eq!(out.matches("saved ").count(), 1, "{out}");
        let err = text(&o.stderr);
        assert!(err.contains(&format!("on {n} MPI ranks")), "{err}");
        one_process(&train_args(&single, 2), n);
        assert_eq!(bits(&ranks), bits(&single), "{n} ranks");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| !f.ends_with(".cnn"))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
    // Parts change the arithmetic's grouping, not the training: 2 ranks against plain whole
    // batches end within rounding of each other's loss.
    let plain = dir.path().join("plain.cnn");
    run_ok({
        let mut c = Command::new(CNN);
        c.args(train_args(&plain, 2));
        c
    });
    let (a, b) = (
        cnn_nn::load_model(&plain).unwrap(),
        cnn_nn::load_model(&dir.path().join("ranks2.cnn")).unwrap(),
    );
    let (ha, hb) = (a.history.unwrap(), b.history.unwrap());
    assert_ne!(bits(&plain), bits(&dir.path().join("ranks2.cnn")));
    for (x, y) in ha.loss.iter().zip(&hb.loss) {
        assert!(
            (x - y).abs() < 2e-3,
            "loss {x} (one process) vs {y} (2 ranks)"
        );
    }
}

#[cfg(feature = "mpi")]
#[test]
fn a_run_resumes_on_another_number_of_ranks() {
    if mpirun().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ranks = dir.path().join("ranks.cnn");
    let single = dir.path().join("single.cnn");
    run_ok(mpi_cmd(2, &train_args(&ranks, 1)));
    let mut resume = train_args(&ranks, 2);
    resume.push("--resume".into());
    run_ok(mpi_cmd(3, &resume));
    one_process(&train_args(&single, 1), 2);
    let mut resume = train_args(&single, 2);
    resume.push("--resume".into());
    one_process(&resume, 3);
    assert_eq!(bits(&ranks), bits(&single));
    assert_eq!(cnn_nn::load_model(&ranks).unwrap().epoch, 2);
}

#[cfg(feature = "mpi")]
#[test]
fn ranks_started_with_different_arguments_are_refused() {
    if mpirun().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.cnn");
    let a = train_args(&out, 1);
    let mut b = a.clone();
    b.push("--seed".into());
    b.push("7".into());
    let o = Command::new(mpirun().unwrap())
        .args(["--allow-run-as-root", "--oversubscribe", "-np", "1", CNN])
        .args(&a)
        .arg(":")
        .args(["-np", "1", CNN])
        .args(&b)
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("rank(s) 1 differ from rank 0's") && err.contains("error (rank"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists());
}

#[cfg(feature = "mpi")]
#[test]
fn a_killed_rank_ends_the_job_and_the_checkpoint_resumes() {
    if mpirun().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.cnn");
    let job = mpi_cmd(2, &train_args(&out, 1000))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !out.exists() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(out.exists(), "no checkpoint after 120 s");
    // Rank 1: the `cnn` child of mpirun that is not rank 0 — the one whose environment says 1.
    let ps = Command::new("pgrep")
        .args(["-P", &job.id().to_string()])
        .output()
        .unwrap();
    let pids: Vec<String> = text(&ps.stdout).lines().map(String::from).collect();
    let rank1 = pids
        .iter()
        .find(|p| {
            std::fs::read(format!("/proc/{p}/environ"))
                .map(|e| e.split(|&b| b == 0).any(|v| v == b"OMPI_COMM_WORLD_RANK=1"))
                .unwrap_or(false)
        })
        .expect("rank 1's process")
        .clone();
    assert!(
        Command::new("kill")
            .args(["-KILL", &rank1])
            .status()
            .unwrap()
            .success()
    );
    let killed = std::time::Instant::now();
    let o = job.wait_with_output().unwrap();
    let took = killed.elapsed().as_secs_f64();
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(took < 10.0, "the job took {took:.1} s to end");
    assert!(err.contains("rank 1"), "{err}");
    // The checkpoint is whole and resumes.
    let saved = cnn_nn::load_model(&out).unwrap();
    assert!(saved.epoch >= 1);
    let mut resume = train_args(&out, saved.epoch + 1);
    resume.push("--resume".into());
    run_ok(mpi_cmd(2, &resume));
    assert_eq!(cnn_nn::load_model(&out).unwrap().epoch, saved.epoch + 1);
}

/// Every tensor of a saved model as floats, by name (weights only).
#[cfg(feature = "mpi")]
fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let s = cnn_nn::load_model(path).unwrap();
    s.model
        .named_weights()
        .map(|(n, t)| (n.to_string(), t.data().to_vec()))
        .collect()
}

/// Largest difference relative to each tensor's largest value.
#[cfg(feature = "mpi")]
fn drift(a: &Path, b: &Path) -> f32 {
    weights(a)
        .iter()
        .zip(weights(b))
        .map(|((_, p), (_, q))| {
            let scale = p.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            p.iter()
                .zip(&q)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
                / scale
        })
        .fold(0f32, f32::max)
}

#[cfg(feature = "mpi")]
#[test]
fn synchronised_batch_norm_on_ranks_trains_like_one_process() {
    use cnn_nn::spec::layers::*;
    if mpirun().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Conv (no bias: a batch norm follows) → BN → ReLU → pool → softmax; no dropout, so
    // whole batches in one process are the reference.
    let mut conv = cnn_nn::layers::Conv2D::new(8, 3, "linear");
    conv.use_bias = false;
    let spec = cnn_nn::ModelSpec::new("bn-net", [28, 28, 1])
        .add(conv)
        .add(batch_norm())
        .add(activation("relu"))
        .add(max_pool(2))
        .add(flatten())
        .add(dense(10, "softmax"));
    let spec_file = dir.path().join("bn.json");
    std::fs::write(&spec_file, serde_json::to_string(&spec).unwrap()).unwrap();
    let args = |out: &str| -> Vec<String> {
        let mut a = train_args(&dir.path().join(out), 2);
        a[2] = spec_file.to_str().unwrap().into();
        a
    };
    let one = dir.path().join("one.cnn");
    run_ok({
        let mut c = Command::new(CNN);
        c.args(args("one.cnn"));
        c
    });
    let mut synced = args("synced.cnn");
    synced.push("--sync-batchnorm".into());
    run_ok(mpi_cmd(2, &synced));
    run_ok(mpi_cmd(2, &args("own.cnn")));
    let with = drift(&one, &dir.path().join("synced.cnn"));
    let without = drift(&one, &dir.path().join("own.cnn"));
    assert!(with < 1e-4, "synchronised: {with}");
    assert!(
        without > 100.0 * with,
        "per rank {without} vs synchronised {with}"
    );
    // Parts computed in turn cannot share statistics.
    let mut parts = args("p.cnn");
    parts.extend(["--sync-batchnorm".into(), "--parts".into(), "2".into()]);
    let o = Command::new(CNN).args(&parts).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--sync-batchnorm"));
}

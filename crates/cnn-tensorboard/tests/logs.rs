//! The TensorBoard callback during a real `fit`: the logs hold what the History holds, read back
//! by our reader (checksums checked) and — with `CNN_VERIFY_PYTHON` (required under `CI=true`)
//! — by TensorBoard's own `EventAccumulator` (`scripts/tensorboard/read_logs.py`).

use std::path::{Path, PathBuf};

use cnn_nn::spec::layers::*;
use cnn_nn::{ArrayData, FitOptions, History, Loss, Model, ModelSpec, Optimizer, Targets};
use cnn_tensor::Tensor;
use cnn_tensorboard::proto::tensorboard::{Event, event, summary};
use cnn_tensorboard::{TensorBoard, read_events};

const EPOCHS: usize = 3;
const STEPS: usize = 6;

/// Trains a small convnet for three epochs (6 steps each) with the callback logging into `dir`.
fn train(dir: &Path) -> (History, Model) {
    let spec = ModelSpec::new("tb", [8, 8, 1])
        .add(conv2d(4, 3, "relu"))
        .add(max_pool(2))
        .add(flatten())
        .add(dense(3, "softmax"));
    let mut model = Model::new(&spec, 1).unwrap();
    // Three classes by brightness, with a pattern so the convolution has something to see.
    let n = 48;
    let data: Vec<f32> = (0..n * 64)
        .map(|i| ((i / 64) % 3) as f32 * 0.4 + ((i % 64) as f32 * 0.7).sin() * 0.1)
        .collect();
    let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
    let x = Tensor::new([n, 8, 8, 1], data).unwrap();
    let split = 36;
    let xt = Tensor::new([split, 8, 8, 1], x.data()[..split * 64].to_vec()).unwrap();
    let xv = Tensor::new([n - split, 8, 8, 1], x.data()[split * 64..].to_vec()).unwrap();
    let yt = Targets::Sparse(labels[..split].to_vec());
    let yv = labels[split..].to_vec();
    let mut train = ArrayData::new(&xt, &yt, 6, true, 0).unwrap();
    let yv_targets = Targets::Sparse(yv.clone());
    let mut val = ArrayData::new(&xv, &yv_targets, 12, false, 0).unwrap();
    let names = vec!["dark".to_string(), "middle".into(), "bright".into()];
    let mut tb = TensorBoard::new(dir)
        .update_freq(2)
        .with_images(xv.clone(), yv, names);
    let history = model
        .fit(
            &mut Optimizer::adam(0.01),
            Loss::SparseCategoricalCrossentropy,
            &mut train,
            Some(&mut val),
            &FitOptions {
                epochs: EPOCHS,
                ..Default::default()
            },
            &mut [&mut tb],
        )
        .unwrap();
    (history, model)
}

/// The one event file in `dir`.
fn events(dir: &Path) -> Vec<Event> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    read_events(&std::fs::read(&files[0]).unwrap()).unwrap()
}

/// `(tag, step, value)` of every summary value in `events`.
fn values(events: &[Event]) -> Vec<(String, i64, summary::value::Value)> {
    events
        .iter()
        .filter_map(|e| match &e.what {
            Some(event::What::Summary(s)) => Some((e.step, s)),
            _ => None,
        })
        .flat_map(|(step, s)| {
            s.value
                .iter()
                .map(move |v| (v.tag.clone(), step, v.value.clone().unwrap()))
        })
        .collect()
}

fn scalars(vals: &[(String, i64, summary::value::Value)], tag: &str) -> Vec<(i64, f32)> {
    vals.iter()
        .filter(|(t, _, _)| t == tag)
        .map(|(_, s, v)| match v {
            summary::value::Value::SimpleValue(x) => (*s, *x),
            other => panic!("{tag}: {other:?}"),
        })
        .collect()
}

#[test]
fn the_logs_hold_the_history_histograms_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let (history, model) = train(dir.path());
    let train = values(&events(&dir.path().join("train")));
    let val = values(&events(&dir.path().join("validation")));
    let steps: Vec<i64> = (0..EPOCHS as i64).collect();
    let per_epoch = |v: &[(i64, f32)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
    for (tag, want) in [
        ("epoch_loss", &history.loss),
        ("epoch_accuracy", &history.accuracy),
        ("epoch_learning_rate", &history.learning_rate),
    ] {
        let got = scalars(&train, tag);
        assert_eq!(per_epoch(&got), steps, "{tag}");
        assert_eq!(got.iter().map(|p| p.1).collect::<Vec<_>>(), *want, "{tag}");
    }
    for (tag, want) in [
        ("epoch_loss", &history.val_loss),
        ("epoch_accuracy", &history.val_accuracy),
    ] {
        let got = scalars(&val, tag);
        assert_eq!(
            got.iter().map(|p| p.1).collect::<Vec<_>>(),
            *want,
            "val {tag}"
        );
    }
    // Every second batch, numbered across epochs.
    let batch = scalars(&train, "batch_loss");
    let want: Vec<i64> = (1..=(EPOCHS * STEPS) as i64)
        .filter(|s| s % 2 == 0)
        .collect();
    assert_eq!(per_epoch(&batch), want);
    // A histogram of every weight each epoch, counting all of its values.
    for (name, t) in model.named_weights() {
        let h: Vec<_> = train
            .iter()
            .filter(|(tag, _, _)| tag == name)
            .map(|(_, s, v)| match v {
                summary::value::Value::Histo(h) => (*s, h.num),
                other => panic!("{name}: {other:?}"),
            })
            .collect();
        assert_eq!(h.len(), EPOCHS, "{name}");
        assert!(h.iter().all(|&(_, num)| num == t.len() as f64), "{name}");
    }
    // The confusion matrix and the first convolution's activations, as PNGs.
    for tag in ["confusion_matrix", "activations/conv2d"] {
        let imgs: Vec<_> = val
            .iter()
            .filter(|(t, _, _)| t == tag)
            .map(|(_, _, v)| match v {
                summary::value::Value::Image(i) => i.clone(),
                other => panic!("{tag}: {other:?}"),
            })
            .collect();
        assert_eq!(imgs.len(), EPOCHS, "{tag}");
        let png = &imgs[0].encoded_image_string;
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{tag}");
        // The PNG's own header says the size the summary says.
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!(
            (imgs[0].width as u32, imgs[0].height as u32),
            (w, h),
            "{tag}"
        );
        assert!(w > 100 && h > 50, "{tag}: {w}x{h}");
    }
}

#[test]
fn tensorboard_itself_reads_the_logs() {
    let python = match std::env::var("CNN_VERIFY_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must set CNN_VERIFY_PYTHON to a Python with tensorboard"
            );
            eprintln!("CNN_VERIFY_PYTHON is not set: TensorBoard's reader not run");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (history, model) = train(dir.path());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/tensorboard/read_logs.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let scalar = |run: &str, tag: &str| -> Vec<f32> {
        runs[run]["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("{run}/{tag} missing: {runs}"))
            .iter()
            .map(|p| p[1].as_f64().unwrap() as f32)
            .collect()
    };
    assert_eq!(scalar("train", "epoch_loss"), history.loss);
    assert_eq!(scalar("train", "epoch_accuracy"), history.accuracy);
    assert_eq!(
        scalar("train", "epoch_learning_rate"),
        history.learning_rate
    );
    assert_eq!(scalar("validation", "epoch_loss"), history.val_loss);
    assert_eq!(scalar("train", "batch_loss").len(), EPOCHS * STEPS / 2);
    for (name, t) in model.named_weights() {
        let h = runs["train"]["histograms"][name].as_array().unwrap();
        assert_eq!(h.len(), EPOCHS, "{name}");
        assert_eq!(h[0][1].as_f64().unwrap(), t.len() as f64, "{name}");
    }
    for tag in ["confusion_matrix", "activations/conv2d"] {
        let imgs = runs["validation"]["images"][tag].as_array().unwrap();
        assert_eq!(imgs.len(), EPOCHS, "{tag}");
        assert!(imgs[0][1].as_u64().unwrap() > 100, "{tag}: {imgs:?}");
    }
}

#[test]
fn an_empty_image_set_draws_nothing_and_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ModelSpec::new("tb", [8, 8, 1])
        .add(conv2d(2, 3, "relu"))
        .add(flatten())
        .add(dense(2, "softmax"));
    let mut model = Model::new(&spec, 1).unwrap();
    let x = Tensor::new([4, 8, 8, 1], vec![0.5; 256]).unwrap();
    let y = Targets::Sparse(vec![0, 1, 0, 1]);
    let mut train = ArrayData::new(&x, &y, 2, true, 0).unwrap();
    let empty = Tensor::new([0, 8, 8, 1], vec![]).unwrap();
    let mut tb = TensorBoard::new(dir.path()).with_images(empty, vec![], vec![]);
    let fitted = model.fit(
        &mut Optimizer::adam(0.01),
        Loss::SparseCategoricalCrossentropy,
        &mut train,
        None,
        &FitOptions {
            epochs: 1,
            ..Default::default()
        },
        &mut [&mut tb],
    );
    // No first image, so no activations (before the guard: an index panic mid-training).
    fitted.unwrap();
    let val = values(&events(&dir.path().join("validation")));
    assert!(!val.iter().any(|(t, _, _)| t.starts_with("activations/")));
}

//! `cnn train`: train a model on a dataset, with checkpoints every epoch and `--resume`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use clap::Args;
use cnn_nn::{
    ArrayData, Callback, EarlyStopping, FitOptions, Loss, Model, ModelCheckpoint, Monitor,
    Optimizer, ProgressBar, Targets, save_model_with,
};
use serde_json::json;

use crate::data_arg::{DataFlags, load};
use crate::error::{CliError, CliResult, UserError, bad_input};
use crate::model_arg::{ModelSource, resolve};
use cnn_nn::{Collective, Preprocess};
use cnn_tensor::Tensor;

/// Train a model (Keras's `fit`) and save it, checkpointing after every epoch.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A zoo name, a JSON spec file, or a saved model to keep training.
    #[arg(long, short)]
    model: String,
    /// fashion-mnist, fashion-mnist-sample (bundled), mnist, cifar10, cifar100, a directory of
    /// IDX files or of image folders (train/<class>/…, test/<class>/…), or a .zip of those.
    #[arg(long, short)]
    dataset: String,
    #[command(flatten)]
    data: DataFlags,
    #[command(flatten)]
    augment: crate::augment_cmd::AugmentFlags,
    /// Train until this epoch (counting epochs already done when resuming).
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// sgd, momentum, nesterov, rmsprop, adam, amsgrad, adamw, adagrad, adadelta or nadam
    /// (Keras 3's update rules and defaults).
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate (default: Keras's for the optimizer).
    #[arg(long)]
    lr: Option<f32>,
    /// Seed for weights, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fraction of the training set held out for validation (the last samples, like Keras).
    #[arg(long, default_value_t = 0.0)]
    validation_split: f32,
    /// Use only the first N training samples.
    #[arg(long)]
    limit: Option<usize>,
    /// Stop when validation loss (training loss without validation) has not improved for N
    /// epochs, restoring the best weights.
    #[arg(long)]
    early_stopping: Option<usize>,
    /// The model file to write (a checkpoint after every epoch, atomically).
    #[arg(long, short, default_value = "model.cnn")]
    out: PathBuf,
    /// Continue from the checkpoint in --out (weights, optimizer state, epoch). The settings
    /// that decide the batches and dropout masks (dataset, --limit, --validation-split,
    /// --batch-size, --seed, augmentation) must be those of the run that wrote it.
    #[arg(long)]
    resume: bool,
    /// With --resume: continue even if those settings differ (the result is then no longer
    /// the run the checkpoint came from).
    #[arg(long, requires = "resume")]
    force: bool,
    /// Also write a JSON report (history, test metrics, timing).
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Write TensorBoard logs to this directory (train/ and validation/: loss, accuracy and
    /// learning rate per epoch, weight histograms, a confusion matrix and activations of
    /// validation images); view them with `tensorboard --logdir DIR`.
    #[arg(long)]
    tensorboard: Option<PathBuf>,
    /// With --tensorboard: also log the running loss and accuracy every N batches (0: per
    /// epoch only, Keras's default).
    #[arg(long, default_value_t = 0, requires = "tensorboard")]
    tensorboard_update_freq: usize,
    /// Transfer learning: freeze this layer of the model and every layer before it (their
    /// weights never change; frozen batch normalisation runs in inference mode), as Keras's
    /// `layer.trainable = False`; every layer after it trains (fine-tuning unfreezes a top
    /// block this way). Use with a pretrained --model (a .cnn, .keras or .h5 file).
    #[arg(long)]
    freeze_until: Option<String>,
    /// Compute every batch as N parts in turn, as N MPI ranks would (`mpirun -np N cnn train
    /// …`): the weights of that run, bit for bit. Also gradient accumulation: a large
    /// --batch-size in N smaller pieces, each part's batch norm on its own samples.
    #[arg(long, value_name = "N")]
    parts: Option<usize>,
    /// Under MPI: batch normalisation with the statistics of the whole global batch (summed
    /// over the ranks, as PyTorch's SyncBatchNorm) instead of each rank's part.
    #[arg(long)]
    sync_batchnorm: bool,
    /// Transfer learning: replace the model's classifier (its last Dense layer) with a fresh
    /// Dense layer with one output per class of --dataset, named `new_head`.
    #[arg(long)]
    new_head: bool,
}

/// Images the TensorBoard callback draws each epoch: up to 256 of the validation set, else of
/// the test set.
const TENSORBOARD_IMAGES: usize = 256;

/// Locks `out` for this process (creating its directory) and removes temporary files that an
/// earlier, killed run left beside it.
fn claim_output(out: &std::path::Path) -> CliResult<cnn_tensor::OutputLock> {
    let name = out.display().to_string();
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| bad_input("cannot write", dir.display().to_string(), e))?;
    }
    let lock = cnn_tensor::OutputLock::try_acquire(out).map_err(|e| match e {
        cnn_tensor::TensorError::Busy { .. } => {
            UserError::new("output in use", name.clone(), e.to_string())
        }
        _ => bad_input("cannot write", &name, e).with_hint("choose a writable --out"),
    })?;
    let stale = lock
        .remove_stale_temps()
        .map_err(|e| bad_input("cannot write", &name, e))?;
    if stale > 0 {
        eprintln!("removed {stale} temporary file(s) left beside {name} by an interrupted save");
    }
    Ok(lock)
}

/// The settings that decide which batches and dropout masks a run draws, as stored in its
/// checkpoints (`user.run_settings`) and compared on `--resume`.
fn run_settings(a: &TrainArgs) -> Vec<(&'static str, String)> {
    vec![
        ("dataset", a.dataset.clone()),
        ("--limit", a.limit.map_or("none".into(), |n| n.to_string())),
        ("--validation-split", a.validation_split.to_string()),
        ("--batch-size", a.batch_size.to_string()),
        ("--seed", a.seed.to_string()),
        ("augmentation", format!("{:?}", a.augment)),
    ]
}

const RUN_SETTINGS: &str = "run_settings";

/// Metadata of a checkpoint saved mid-epoch (Ctrl-C): the steps of the next epoch it holds.
const RESUME_STEP: &str = "resume_step";

/// Refuses to resume a checkpoint written with other settings, naming each difference.
fn check_resume(a: &TrainArgs, saved: &HashMap<String, String>) -> CliResult<()> {
    let Some(stored) = saved.get(RUN_SETTINGS) else {
        eprintln!(
            "note: {} does not record the settings it was trained with (written by an older \
             cnn); resuming without checking them",
            a.out.display()
        );
        return Ok(());
    };
    let stored: HashMap<String, String> = serde_json::from_str(stored)
        .map_err(|e| bad_input("cannot resume", a.out.display().to_string(), e))?;
    let differ: Vec<String> = run_settings(a)
        .into_iter()
        .filter_map(|(k, now)| {
            let was = stored
                .get(k)
                .cloned()
                .unwrap_or_else(|| "unrecorded".into());
            (was != now).then(|| format!("{k} was {was}, now {now}"))
        })
        .collect();
    if differ.is_empty() || a.force {
        if !differ.is_empty() {
            eprintln!(
                "resuming with other settings (--force): {}",
                differ.join("; ")
            );
        }
        return Ok(());
    }
    Err(UserError::new(
        "cannot resume",
        a.out.display().to_string(),
        format!(
            "the checkpoint was trained with other settings: {}; resuming would not continue \
             the same run",
            differ.join("; ")
        ),
    )
    .with_hint("repeat the settings of the run that wrote it, or add --force")
    .into())
}

/// Runs the command; `mpi` is this process's place in an MPI job (`mpirun -np N cnn train`),
/// where every rank trains on its part of each batch and rank 0 alone writes files and prints.
pub fn run(a: &TrainArgs, mut mpi: Option<&mut cnn_mpi::Mpi>) -> CliResult<String> {
    if a.batch_size == 0 || a.epochs == 0 || a.parts == Some(0) {
        return Err(UserError::new(
            "bad option",
            "--batch-size/--epochs/--parts".into(),
            "must be at least 1".into(),
        )
        .into());
    }
    let (rank, ranks) = mpi.as_deref().map_or((0, 1), |m| (m.rank(), m.size()));
    let root = rank == 0;
    if ranks > 1 && a.parts.is_some() {
        return Err(UserError::new(
            "bad option",
            "--parts".into(),
            format!("under MPI the {ranks} ranks are the parts"),
        )
        .with_hint("drop --parts (it makes one process compute N ranks' parts in turn)")
        .into());
    }
    if a.sync_batchnorm && a.parts.is_some() {
        return Err(UserError::new(
            "bad option",
            "--sync-batchnorm".into(),
            "parts computed in turn cannot share their batch statistics".into(),
        )
        .with_hint("synchronised batch norm is for ranks under mpirun")
        .into());
    }
    if let Some(m) = mpi.as_deref_mut() {
        cnn_nn::check_same(m, "command-line arguments", format!("{a:?}").as_bytes())
            .map_err(|e| UserError::new("ranks disagree", "mpirun".into(), e.to_string()))?;
    }
    // Check the cheap flags before loading any data.
    let augment_cfg = a.augment.any().then(|| a.augment.config()).transpose()?;
    let fresh_opt = Optimizer::from_name(&a.optimizer, a.lr)
        .map_err(|e| bad_input("bad option", "--optimizer/--lr", e))?;
    // Claim --out before any work: a second `cnn train` on the same file, or a directory that
    // cannot be written, fails now rather than after an epoch.
    let _lock = if root {
        Some(claim_output(&a.out)?)
    } else {
        None
    };
    let loaded = load(&a.dataset, &a.data)?;
    for n in &loaded.notes {
        eprintln!("{n}");
    }
    let ds = loaded.dataset;
    let mut train = ds.train.clone();
    if let Some(n) = a.limit {
        train = train.take(n);
    }
    let classes = ds.class_names.len();
    let input = [train.height, train.width, train.channels];
    let mut resumed_settings = None;
    let mut initial_step = 0;
    let mut preprocess = Preprocess::default();
    // Under MPI rank 0 reads the checkpoint and sends it to the others (no shared disk needed).
    let mut checkpoint_bytes = if root && a.resume && a.out.exists() {
        std::fs::read(&a.out)
            .map_err(|e| bad_input("cannot resume", a.out.display().to_string(), e))?
    } else {
        Vec::new()
    };
    if let Some(m) = mpi.as_deref_mut() {
        m.broadcast(&mut checkpoint_bytes, 0)
            .map_err(|e| anyhow!(e))?;
    }
    let (mut model, mut opt, initial_epoch) = if !checkpoint_bytes.is_empty() {
        let s = cnn_nn::load_model_bytes(&checkpoint_bytes, &a.out)
            .map_err(|e| bad_input("cannot resume", a.out.display().to_string(), e))?;
        let opt = s.optimizer.ok_or_else(|| {
            UserError::new(
                "cannot resume",
                a.out.display().to_string(),
                "the file has no optimizer state".into(),
            )
        })?;
        resumed_settings = Some(s.extra.clone());
        preprocess =
            Preprocess::from_metadata(&s.extra).map_err(|e| bad_input("bad model", &a.model, e))?;
        initial_step = s
            .extra
            .get(RESUME_STEP)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if !root {
        } else if initial_step > 0 {
            eprintln!(
                "resuming from {} in epoch {} after step {initial_step}",
                a.out.display(),
                s.epoch + 1
            );
        } else {
            eprintln!("resuming from {} after epoch {}", a.out.display(), s.epoch);
        }
        (s.model, opt, s.epoch)
    } else {
        let opt = fresh_opt;
        let model = match resolve(&a.model, Some(&input), Some(classes))? {
            ModelSource::Spec(spec) => {
                Model::new(&spec, a.seed).map_err(|e| bad_input("impossible model", &a.model, e))?
            }
            ModelSource::Saved(s) => {
                // A pretrained model keeps the input preprocessing its weights expect.
                preprocess = Preprocess::from_metadata(&s.extra)
                    .map_err(|e| bad_input("bad model", &a.model, e))?;
                s.model
            }
        };
        let model = cnn_nn::transfer(
            model,
            a.new_head,
            a.freeze_until.as_deref(),
            classes,
            a.seed,
        )
        .map_err(|e| bad_input("bad option", "--new-head/--freeze-until", e))?;
        (model, opt, 0)
    };
    if initial_epoch >= a.epochs {
        return Ok(format!(
            "{} already holds {initial_epoch} epochs (--epochs {}); nothing to do\n",
            a.out.display(),
            a.epochs
        ));
    }
    if let Some(saved) = &resumed_settings {
        check_resume(a, saved)?;
    }
    let arch = model.architecture();
    if arch.input_shape != input {
        return Err(UserError::new(
            "model does not fit the data",
            a.model.clone(),
            format!("model input {:?}, images {:?}", arch.input_shape, input),
        )
        .into());
    }
    let out_classes = arch.output_shape().iter().product::<usize>();
    if out_classes < classes {
        return Err(UserError::new(
            "model does not fit the data",
            a.model.clone(),
            format!("{out_classes} outputs for {classes} classes"),
        )
        .into());
    }
    preprocess
        .check_channels(input[2])
        .map_err(|e| bad_input("model does not fit the data", &a.model, e))?;
    let to_xy = |s: &cnn_datasets::ImageSet| -> CliResult<_> {
        let x = match preprocess {
            Preprocess::Rescale(f) => s.images_f32(f).map_err(|e| anyhow!(e))?,
            p => {
                let px: Vec<f32> = s.images.iter().map(|&v| v as f32).collect();
                Tensor::new(
                    [s.len(), s.height, s.width, s.channels],
                    p.apply(&px, s.channels),
                )
                .map_err(|e| anyhow!(e))?
            }
        };
        Ok((
            x,
            Targets::Sparse(s.labels.iter().map(|&l| l as usize).collect()),
        ))
    };
    let (x_all, y_all) = to_xy(&train)?;
    let (train_xy, val_xy) = if a.validation_split > 0.0 {
        let (t, v) = Model::validation_split(&x_all, &y_all, a.validation_split)
            .map_err(|e| bad_input("bad option", "--validation-split", e))?;
        (t, Some(v))
    } else {
        ((x_all, y_all), None)
    };
    let mut data = ArrayData::new(&train_xy.0, &train_xy.1, a.batch_size, true, a.seed)
        .map_err(|e| bad_input("bad data", &a.dataset, e))?;
    // With augmentation, batches come from an ImageDataGenerator flow (pixels 0-255, rescaled
    // after augmenting, as Keras does), prefetched on a worker thread.
    let mut augmented = if let Some(mut cfg) = augment_cfg {
        // The generator works on pixels 0-255: rescaled data is scaled back and rescaled
        // after augmenting (Keras's `rescale`); other preprocessing (caffe, tf, torch) is
        // undone and applied again after augmenting, as Keras's
        // `ImageDataGenerator(preprocessing_function=preprocess_input)` does (Chollet §5.3).
        let x255 = match preprocess {
            Preprocess::Rescale(f) => {
                cfg.rescale = Some(f);
                let mut x = train_xy.0.clone();
                x.map_inplace(|v| v / f);
                x
            }
            p => {
                let c = *train_xy.0.dims().last().unwrap_or(&1);
                cnn_tensor::Tensor::new(train_xy.0.dims().to_vec(), p.invert(train_xy.0.data(), c))
                    .map_err(|e| bad_input("bad data", &a.dataset, e))?
            }
        };
        let mut generator = cnn_augment::ImageDataGenerator::new(cfg);
        if !matches!(preprocess, Preprocess::Rescale(_)) {
            generator = generator.with_preprocessing(move |img| {
                img.data = preprocess.apply(&img.data, img.c);
            });
        }
        let g = std::sync::Arc::new(generator);
        let flow = cnn_augment::Flow::new(
            g,
            std::sync::Arc::new(x255),
            std::sync::Arc::new(train_xy.1.clone()),
            cnn_augment::FlowOptions {
                batch_size: a.batch_size,
                shuffle: true,
                seed: a.seed,
                subset: None,
            },
        )
        .map_err(|e| bad_input("bad option", "augmentation", e))?;
        let mine = match a.parts {
            Some(p) => 0..p,
            None => rank..rank + 1,
        };
        Some(cnn_augment::Prefetch::new(flow, 4).parts(mine))
    } else {
        None
    };
    let mut val = match &val_xy {
        Some((x, y)) => Some(
            ArrayData::new(x, y, 256, false, 0)
                .map_err(|e| bad_input("bad option", "--validation-split", e))?,
        ),
        None => None,
    };
    let mut extra = HashMap::new();
    extra.insert(
        "class_names".to_string(),
        serde_json::to_string(&ds.class_names).unwrap_or_default(),
    );
    let (key, value) = preprocess.metadata();
    extra.insert(key, value);
    extra.insert("dataset".to_string(), ds.name.clone());
    let settings: HashMap<&str, String> = run_settings(a).into_iter().collect();
    extra.insert(
        RUN_SETTINGS.to_string(),
        serde_json::to_string(&settings).unwrap_or_default(),
    );
    if let Some(m) = mpi.as_deref_mut() {
        cnn_nn::broadcast_weights(m, &mut model).map_err(|e| anyhow!(e))?;
    }
    let mut checkpoint = ModelCheckpoint::new(&a.out, Monitor::Loss, false);
    checkpoint.extra = extra.clone();
    let mut progress = ProgressBar::default();
    let monitor = if val.is_some() {
        Monitor::ValLoss
    } else {
        Monitor::Loss
    };
    let mut early = a.early_stopping.map(|p| {
        let mut e = EarlyStopping::new(monitor, p);
        e.restore_best_weights = true;
        e
    });
    // Ctrl-C stops after the current step; the model is then saved (below).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let mut interrupt = cnn_nn::StopFlag(stop);
    // A resumed run continues early stopping where the checkpoint left it (best loss, epochs
    // without improvement).
    if let (Some(saved), Some(e)) = (&resumed_settings, early.as_mut()) {
        let restored = cnn_nn::restore_callbacks(&mut [e as &mut dyn Callback], saved)
            .map_err(|e| bad_input("cannot resume", a.out.display().to_string(), e))?;
        if restored > 0 {
            let (best, wait) = e.progress();
            eprintln!(
                "early stopping resumes at best {} with {wait} epoch(s) without improvement",
                best.map_or("none".into(), |b| format!("{b:.4}"))
            );
        }
    }
    let mut tensorboard = match &a.tensorboard {
        Some(dir) => {
            let mut tb =
                cnn_tensorboard::TensorBoard::new(dir).update_freq(a.tensorboard_update_freq);
            let images = match (&val_xy, &ds.test) {
                (Some((x, Targets::Sparse(y))), _) => Some((x.clone(), y.clone())),
                (_, Some(t)) => match to_xy(t)? {
                    (x, Targets::Sparse(y)) => Some((x, y)),
                    _ => None,
                },
                _ => None,
            };
            if let Some((x, y)) = images {
                let n = y.len().min(TENSORBOARD_IMAGES);
                let per: usize = x.dims()[1..].iter().product();
                let mut dims = x.dims().to_vec();
                dims[0] = n;
                let x = cnn_tensor::Tensor::new(dims, x.data()[..n * per].to_vec())
                    .map_err(|e| anyhow!(e))?;
                tb = tb.with_images(x, y[..n].to_vec(), ds.class_names.clone());
            }
            Some(tb)
        }
        None => None,
    };
    // Early stopping comes before the checkpoint, which saves its state.
    // Rank 0 alone draws the progress bar and writes logs and checkpoints; every rank runs
    // early stopping on the same (summed) logs and so stops at the same epoch.
    let mut callbacks: Vec<&mut dyn Callback> = Vec::new();
    if !a.quiet && root {
        callbacks.push(&mut progress);
    }
    if let Some(tb) = tensorboard.as_mut().filter(|_| root) {
        callbacks.push(tb);
    }
    if let Some(e) = early.as_mut() {
        callbacks.push(e);
    }
    if root {
        callbacks.push(&mut checkpoint);
    }
    callbacks.push(&mut interrupt);
    let sharing = match (ranks, a.parts) {
        (1, None) => String::new(),
        (1, Some(p)) => format!(", each batch as {p} parts in turn"),
        (n, _) => format!(
            ", on {n} MPI ranks ({} samples each)",
            a.batch_size.div_ceil(n)
        ),
    };
    if root {
        eprintln!(
            "training {} ({} params) on {} samples of {}, {}, batch {}{sharing}, {} threads{}",
            model.architecture().name,
            cnn_nn::commas(model.architecture().param_counts().0),
            train_xy.1.len(),
            ds.name,
            opt.describe(),
            a.batch_size,
            rayon::current_num_threads(),
            if ranks > 1 { " per rank" } else { "" }
        );
    }
    let mut dp = match (mpi, a.parts) {
        (Some(m), _) => cnn_nn::DataParallel::ranks(m).with_sync_batch_norm(a.sync_batchnorm),
        (None, Some(p)) => cnn_nn::DataParallel::emulated(p),
        (None, None) => cnn_nn::DataParallel::single(),
    };
    let t0 = Instant::now();
    let fit = FitOptions {
        epochs: a.epochs,
        initial_epoch,
        initial_step,
        seed: a.seed,
        ..Default::default()
    };
    let history = model
        .fit_parallel(
            &mut opt,
            Loss::SparseCategoricalCrossentropy,
            match augmented.as_mut() {
                Some(p) => p as &mut dyn cnn_nn::BatchSource,
                None => &mut data,
            },
            val.as_mut().map(|v| v as &mut dyn cnn_nn::BatchSource),
            &fit,
            &mut callbacks,
            &mut dp,
        )
        .map_err(|e| {
            anyhow!(
                "training failed: {e} (the last checkpoint in {} is intact)",
                a.out.display()
            )
        })?;
    let train_secs = t0.elapsed().as_secs_f64();
    let exchange_secs = dp.exchange_time.as_secs_f64();
    let waited = augmented.as_ref().map(|p| p.waited().as_secs_f64());
    let last_epoch = initial_epoch + history.epoch.len();
    // Interrupted mid-epoch: the checkpoint holds the complete epochs plus that epoch's steps,
    // and says how many, so --resume continues at the next step.
    let mut final_extra = extra.clone();
    if let Some((_, st)) = history.interrupted {
        final_extra.insert(RESUME_STEP.to_string(), st.to_string());
    }
    if root {
        save_model_with(
            &a.out,
            &model,
            Some(&opt),
            last_epoch,
            Some(&history),
            &final_extra,
        )
        .map_err(|e| anyhow!("saving {}: {e}", a.out.display()))?;
    }
    if let Some((e, st)) = history.interrupted {
        return Err(CliError::Interrupted(format!(
            "interrupted during epoch {e} after step {st}: saved {} ({last_epoch} complete epoch(s) and {st} step(s) of \
             epoch {e}). Continue with the same command plus --resume: it goes on from step {} of epoch {e}, and ends \
             with the weights the uninterrupted run would have.",
            a.out.display(),
            st + 1
        )));
    }
    let mut out = String::new();
    let samples_per_s = history.samples_per_second.iter().sum::<f64>()
        / history.samples_per_second.len().max(1) as f64;
    out.push_str(&format!(
        "trained {} epochs in {train_secs:.1} s ({samples_per_s:.0} samples/s); final loss {:.4}, accuracy {:.4}\n",
        history.epoch.len(),
        history.loss.last().unwrap_or(&f32::NAN),
        history.accuracy.last().unwrap_or(&f32::NAN)
    ));
    if ranks > 1 {
        out.push_str(&format!(
            "data parallelism: rank 0 spent {exchange_secs:.2} s ({:.1}% of the training time) \
             exchanging sums with the other {} rank(s) and waiting for them\n",
            100.0 * exchange_secs / train_secs.max(1e-9),
            ranks - 1
        ));
    }
    if let Some(w) = waited {
        out.push_str(&format!(
            "augmentation: the training loop waited {w:.2} s for data ({:.1}% of the training time)\n",
            100.0 * w / train_secs.max(1e-9)
        ));
    }
    let test_eval = match &ds.test {
        Some(t) => {
            let (x, y) = to_xy(t)?;
            let mut test = ArrayData::new(&x, &y, 500, false, 0).map_err(|e| anyhow!(e))?;
            let e = model
                .evaluate_parallel(
                    &mut test,
                    Loss::SparseCategoricalCrossentropy,
                    None,
                    &mut dp,
                )
                .map_err(|e| anyhow!(e))?;
            out.push_str(&format!(
                "test accuracy {:.4}, test loss {:.4} ({} images)\n",
                e.accuracy, e.loss, e.samples
            ));
            Some(e)
        }
        None => None,
    };
    out.push_str(&format!("saved {}\n", a.out.display()));
    if !root {
        return Ok(String::new());
    }
    if let Some(r) = &a.report {
        let report = json!({
            "model": model.architecture().name,
            "params": model.architecture().param_counts().0,
            "dataset": ds.name,
            "train_samples": train_xy.1.len(),
            "optimizer": opt.describe(),
            "batch_size": a.batch_size,
            "seed": a.seed,
            "threads": rayon::current_num_threads(),
            "ranks": ranks,
            "parts": a.parts.unwrap_or(ranks),
            "exchange_seconds": (ranks > 1).then_some(exchange_secs),
            "epochs": last_epoch,
            "seconds": train_secs,
            "samples_per_second": samples_per_s,
            "history": history,
            "test": test_eval,
            "augmentation": a.augment.any().then(|| format!("{:?}", a.augment)),
            "waited_for_data_seconds": waited,
        });
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        cnn_tensor::io::write_atomic(r, text.as_bytes())
            .map_err(|e| anyhow!("writing the report: {e}"))?;
        out.push_str(&format!("report {}\n", r.display()));
    }
    Ok(out)
}

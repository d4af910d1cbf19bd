//! `cargo xtask verify-pretrained`: the full-size equality check of imported models against the
//! frameworks that made them. Keras 3 builds the applications VGG16, ResNet50 and MobileNetV2
//! with random weights and saves them in the layout their ImageNet files are published in
//! (`scripts/keras/applications.py`); PyTorch builds torchvision's vgg16, alexnet and resnet50
//! with random weights and saves their state_dicts as safetensors
//! (`scripts/torchvision/make_fixtures.py --full`). Each file is imported here and run on the
//! images the framework ran; the largest |difference| of the logits must be ≤ 1e-4. The files
//! (about 1.2 GB) go to a temporary directory; the table goes to stdout and
//! `reports/pretrained/equality.md`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cnn_nn::{ForwardMode, Model, Preprocess, Tensor};
use serde_json::Value;

/// The largest |difference| allowed: of the outputs (class probabilities, what the Keras
/// applications return and what `cnn predict` prints), and of the logits relative to the
/// largest one.
pub const TOLERANCE: f32 = 1e-4;

/// Options of `cargo xtask verify-pretrained`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Python with keras 3, tensorflow and h5py (default: $CNN_VERIFY_PYTHON, else python3).
    #[arg(long)]
    pub keras_python: Option<PathBuf>,
    /// Python with torch, torchvision and safetensors (default: as --keras-python).
    #[arg(long)]
    pub torch_python: Option<PathBuf>,
    /// Keep the generated files here instead of a temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Reuse files already in --dir (do not run Python).
    #[arg(long, requires = "dir")]
    pub reuse: bool,
    /// Only these sources.
    #[arg(long, value_parser = ["keras", "torchvision"])]
    pub only: Option<String>,
}

/// One model's result.
#[derive(Clone, Debug)]
pub struct Row {
    /// The model.
    pub name: String,
    /// Where it came from ("Keras 3.15.1 applications, legacy .h5").
    pub source: String,
    /// Parameters.
    pub params: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Seconds to import it.
    pub import_s: f64,
    /// The largest |logit|.
    pub scale: f32,
    /// The largest |difference| of the logits.
    pub max_diff: f32,
    /// The largest |difference| of the class probabilities (softmax of the logits).
    pub prob_diff: f32,
}

impl Row {
    /// Within [`TOLERANCE`]: probabilities absolutely, logits relative to the largest.
    pub fn passes(&self) -> bool {
        self.prob_diff <= TOLERANCE && self.max_diff <= TOLERANCE * self.scale.max(1.0)
    }
}

fn python(p: &Option<PathBuf>, fallback: Option<&PathBuf>) -> PathBuf {
    p.clone()
        .or_else(|| fallback.cloned())
        .or_else(|| std::env::var_os("CNN_VERIFY_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| "python3".into())
}

fn run_script(py: &Path, script: &Path, args: &[&str]) -> Result<()> {
    println!("$ {} {} {}", py.display(), script.display(), args.join(" "));
    let status = Command::new(py)
        .arg(script)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {}", py.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(())
}

fn read_manifest(dir: &Path) -> Result<Value> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The model's logits (its final softmax left out) for `x`.
fn logits(model: &mut Model, x: Tensor) -> Result<Tensor> {
    let mut g = cnn_ops::Graph::inference();
    let xv = g.constant(x);
    let mode = ForwardMode {
        logits: true,
        fused: true,
        ..ForwardMode::inference()
    };
    let f = model.forward(&mut g, xv, mode)?;
    Ok(g.value(f.output).clone())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Softmax of each row of `classes` logits.
fn softmax(logits: &[f32], classes: usize) -> Vec<f32> {
    logits
        .chunks(classes)
        .flat_map(|row| {
            let m = row.iter().fold(f32::MIN, |a, &b| a.max(b));
            let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
            row.iter().map(move |v| (v - m).exp() / z)
        })
        .collect()
}

/// (largest |logit|, max |logit difference|, max |probability difference|).
fn compare(got: &Tensor, want: &[f32]) -> Result<(f32, f32, f32)> {
    if got.len() != want.len() {
        bail!("{} logits, the framework gave {}", got.len(), want.len());
    }
    let classes = *got.dims().last().unwrap_or(&1);
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = max_abs_diff(got.data(), want);
    let p = max_abs_diff(&softmax(got.data(), classes), &softmax(want, classes));
    Ok((scale, d, p))
}

/// One model's row: `model` (imported from `file` in `import_s` seconds) run on `x` against the
/// framework's logits `want`; printed as it is measured.
fn measure(
    name: &str,
    source: String,
    file: &Path,
    model: &mut Model,
    import_s: f64,
    x: Tensor,
    want: &[f32],
) -> Result<Row> {
    let got = logits(model, x)?;
    let (scale, max_diff, prob_diff) = compare(&got, want)?;
    let row = Row {
        name: name.to_string(),
        source,
        params: model.architecture().param_counts().0,
        bytes: std::fs::metadata(file)?.len(),
        import_s,
        scale,
        max_diff,
        prob_diff,
    };
    println!("{}", line(&row));
    Ok(row)
}

fn keras_rows(dir: &Path) -> Result<Vec<Row>> {
    let m = read_manifest(dir)?;
    let version = m["keras"].as_str().unwrap_or("?").to_string();
    let mut rows = Vec::new();
    for (name, e) in m["models"].as_object().context("manifest: no models")? {
        let h5 = dir.join(format!("{name}.h5"));
        let spec = cnn_nn::zoo(name, Some(&[224, 224, 3]), Some(1000))?;
        let t0 = Instant::now();
        let mut imported = cnn_keras::import_h5(&h5, Some(&spec))
            .with_context(|| format!("importing {}", h5.display()))?;
        let import_s = t0.elapsed().as_secs_f64();
        let mode = e["preprocess"].as_str().unwrap_or("none");
        let p = Preprocess::parse(mode).context("preprocess mode")?;
        let pixels: Vec<f32> = std::fs::read(dir.join(format!("{name}.pixels.u8")))?
            .into_iter()
            .map(f32::from)
            .collect();
        let n = pixels.len() / (224 * 224 * 3);
        let x = Tensor::new(vec![n, 224, 224, 3], p.apply(&pixels, 3))?;
        let want = f32s(&std::fs::read(dir.join(format!("{name}.logits.f32")))?);
        let source =
            format!("Keras {version} applications, published .h5 layout, `{mode}` preprocessing");
        rows.push(measure(
            name,
            source,
            &h5,
            &mut imported.model,
            import_s,
            x,
            &want,
        )?);
    }
    Ok(rows)
}

fn torch_rows(dir: &Path) -> Result<Vec<Row>> {
    let m = read_manifest(dir)?;
    let version = m["torchvision"].as_str().unwrap_or("?").to_string();
    let mut rows = Vec::new();
    for (name, e) in m["models"].as_object().context("manifest: no models")? {
        let file = dir.join(format!("{name}.safetensors"));
        let t = cnn_torchvision::Torchvision::new(e["arch"].as_str().unwrap_or(name));
        let t0 = Instant::now();
        let mut imported = cnn_torchvision::import_safetensors(&file, &t)
            .with_context(|| format!("importing {}", file.display()))?;
        let import_s = t0.elapsed().as_secs_f64();
        let io = std::fs::read(dir.join(format!("{name}.io.safetensors")))?;
        let st = safetensors::SafeTensors::deserialize(&io)?;
        let px = st.tensor("pixels")?;
        let x = Tensor::new(
            px.shape().to_vec(),
            px.data().iter().map(|&b| f32::from(b) / 255.0).collect(),
        )?;
        let want = f32s(st.tensor("logits")?.data());
        let source = format!("torchvision {version}, safetensors state_dict");
        rows.push(measure(
            name,
            source,
            &file,
            &mut imported.model,
            import_s,
            x,
            &want,
        )?);
    }
    Ok(rows)
}

fn line(r: &Row) -> String {
    format!(
        "| {} | {} | {} | {:.0} MB | {:.2} s | {:.2} | {:.1e} | {:.1e} | {} |",
        r.name,
        r.source,
        cnn_nn::commas(r.params),
        r.bytes as f64 / 1e6,
        r.import_s,
        r.scale,
        r.max_diff,
        r.prob_diff,
        if r.passes() { "yes" } else { "**no**" }
    )
}

/// Runs the check; fails when a model differs by more than [`TOLERANCE`].
pub fn run(a: &VerifyArgs) -> Result<Vec<Row>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // About 1.2 GB of files: in a temporary directory removed on every way out, errors included.
    let tmp = tempfile::Builder::new()
        .prefix("cnn-verify-pretrained-")
        .tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let keras_py = python(&a.keras_python, None);
    let torch_py = python(&a.torch_python, a.keras_python.as_ref());
    let mut rows = Vec::new();
    let want = |s: &str| a.only.as_deref().is_none_or(|o| o == s);
    if want("keras") {
        let d = dir.join("keras");
        if !a.reuse {
            run_script(
                &keras_py,
                &root.join("scripts/keras/applications.py"),
                &["--out", &d.display().to_string()],
            )?;
        }
        rows.extend(keras_rows(&d)?);
    }
    if want("torchvision") {
        let d = dir.join("torchvision");
        if !a.reuse {
            run_script(
                &torch_py,
                &root.join("scripts/torchvision/make_fixtures.py"),
                &["--out", &d.display().to_string(), "--full"],
            )?;
        }
        rows.extend(torch_rows(&d)?);
    }
    drop(tmp);
    let winograd = if std::env::var("CNN_WINOGRAD").is_ok_and(|v| v == "0") {
        "Run with `CNN_WINOGRAD=0` (every convolution by im2col and GEMM)."
    } else {
        "Run with the default kernels (3x3 stride-1 convolutions by Winograd F(4x4, 3x3), whose \
         transforms round more than a direct sum: `CNN_WINOGRAD=0` for im2col)."
    };
    let mut md = format!(
        "# Imported models against their frameworks, full size\n\n\
         Made by `cargo xtask verify-pretrained`: each framework builds the model with random \
         weights and saves it as its users' files are saved (the Keras applications' published \
         `.h5` layout; torchvision state_dicts as safetensors), runs it on two random 224x224 \
         images, and cnn imports the file and runs the same images. Compared: the class \
         probabilities (the applications' outputs), limit 1e-4, and the logits before the \
         softmax, limit 1e-4 of the largest logit. {winograd}\n\n\
         | model | source | parameters | file | import | largest logit | logits: max difference | \
         probabilities: max difference | within |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in &rows {
        md.push_str(&line(r));
        md.push('\n');
    }
    let out = root.join("reports/pretrained/equality.md");
    std::fs::create_dir_all(out.parent().expect("has a parent"))?;
    cnn_tensor::io::write_atomic(&out, md.as_bytes())?;
    println!("wrote {}", out.display());
    if let Some(bad) = rows.iter().find(|r| !r.passes()) {
        bail!(
            "{} differs by {:.2e} in its logits (largest {:.2}) and {:.2e} in its probabilities",
            bad.name,
            bad.max_diff,
            bad.scale,
            bad.prob_diff
        );
    }
    Ok(rows)
}

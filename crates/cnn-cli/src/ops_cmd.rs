//! `cnn ops`: the lecture's worked examples of convolution and pooling on plain-text matrices.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use cnn_ops::{
    Conv2dOptions, Padding, Pool2dOptions, Window2d, avg_pool2d_forward, conv2d_forward,
    max_pool2d_forward,
};
use cnn_tensor::Tensor;

use crate::error::UserError;
use crate::matrix::{Matrix, fmt_num};

/// Single-channel convolution and pooling on matrices, printed as matrices.
#[derive(Subcommand, Debug)]
pub enum OpsCmd {
    /// Convolve (cross-correlate) a matrix with a kernel, like Conv2D with one filter.
    Conv2d {
        #[command(flatten)]
        input: InputArgs,
        /// The kernel matrix file (`-` for standard input).
        #[arg(long, short)]
        kernel: PathBuf,
        /// `valid` (no padding), `same` (TensorFlow's rule: output size = ceil(input / stride)),
        /// or a number N of zero rows/columns added on every side.
        #[arg(long, short, default_value = "valid")]
        padding: String,
        /// Step between windows, in pixels (both directions).
        #[arg(long, short, default_value_t = 1)]
        stride: usize,
    },
    /// Max pooling: the largest value of each window.
    Maxpool(PoolArgs),
    /// Average pooling: the mean of each window (with `same`, only real pixels count).
    Avgpool(PoolArgs),
}

/// The input matrix and the `--explain` switch.
#[derive(Args, Debug)]
pub struct InputArgs {
    /// The input matrix file: one row a line, numbers separated by spaces, tabs or commas
    /// (`-` for standard input).
    #[arg(long, short)]
    input: PathBuf,
    /// Also show how the first output cell is computed.
    #[arg(long)]
    explain: bool,
}

/// Options of the pooling commands.
#[derive(Args, Debug)]
pub struct PoolArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Window size (square).
    #[arg(long, default_value_t = 2)]
    size: usize,
    /// Step between windows; defaults to the window size, like Keras.
    #[arg(long)]
    stride: Option<usize>,
    /// `valid` or `same`.
    #[arg(long, short, default_value = "valid")]
    padding: String,
}

fn read_matrix(path: &PathBuf) -> Result<Matrix, UserError> {
    let name = path.display().to_string();
    let mut text = String::new();
    if name == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| UserError::new("cannot read matrix", "stdin".into(), e.to_string()))?;
        return Matrix::parse(&text, "stdin");
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| UserError::new("cannot read matrix", name.clone(), e.to_string()))?;
    if meta.len() > 256 << 20 {
        return Err(UserError::new(
            "cannot read matrix",
            name,
            format!("file is {} bytes; the limit is 256 MiB", meta.len()),
        ));
    }
    text = std::fs::read_to_string(path)
        .map_err(|e| UserError::new("cannot read matrix", name.clone(), e.to_string()))?;
    Matrix::parse(&text, &name)
}

fn parse_padding(s: &str, allow_number: bool) -> Result<Padding, UserError> {
    match s {
        "valid" => Ok(Padding::Valid),
        "same" => Ok(Padding::Same),
        n if allow_number => n.parse::<usize>().map(Padding::uniform).map_err(|_| {
            UserError::new(
                "bad option",
                "--padding".into(),
                format!("`{s}` is not valid, same or a number of pixels"),
            )
        }),
        _ => Err(UserError::new(
            "bad option",
            "--padding".into(),
            format!("`{s}` is not valid or same"),
        )),
    }
}

fn image(m: &Matrix) -> Tensor {
    Tensor::new([1, m.rows, m.cols, 1], m.data.clone()).expect("matrix dimensions match its data")
}

fn to_matrix(t: &Tensor) -> Matrix {
    let d = t.dims();
    Matrix {
        rows: d[1],
        cols: d[2],
        data: t.data().to_vec(),
    }
}

fn op_error(e: cnn_ops::OpError, input: &Matrix, what: &str) -> UserError {
    let err = UserError::new(
        "cannot compute",
        what.to_string(),
        format!("{e} (input is {}x{})", input.rows, input.cols),
    );
    if e.to_string().contains("larger than the padded input") {
        err.with_hint("use a smaller kernel/window, or pad the input (--padding same, or --padding N for conv2d)")
    } else {
        err
    }
}

/// Runs an `ops` subcommand and returns what to print.
pub fn run(cmd: &OpsCmd) -> Result<String, UserError> {
    match cmd {
        OpsCmd::Conv2d {
            input,
            kernel,
            padding,
            stride,
        } => {
            let x = read_matrix(&input.input)?;
            let k = read_matrix(kernel)?;
            if *stride == 0 {
                return Err(UserError::new(
                    "bad option",
                    "--stride".into(),
                    "must be at least 1".into(),
                ));
            }
            let opts = Conv2dOptions {
                strides: (*stride, *stride),
                padding: parse_padding(padding, true)?,
                dilation: (1, 1),
            };
            let kt = Tensor::new([k.rows, k.cols, 1, 1], k.data.clone()).expect("kernel dims");
            let y = conv2d_forward(&image(&x), &kt, None, &opts)
                .map_err(|e| op_error(e, &x, "conv2d"))?;
            let mut out = to_matrix(&y).format();
            if input.explain {
                let w = Window2d::new(
                    "conv2d",
                    (x.rows, x.cols),
                    (k.rows, k.cols),
                    opts.strides,
                    (1, 1),
                    opts.padding,
                )
                .map_err(|e| op_error(e, &x, "conv2d"))?;
                out.push_str(&explain_conv(&x, &k, &w));
            }
            Ok(out)
        }
        OpsCmd::Maxpool(p) | OpsCmd::Avgpool(p) => {
            let max = matches!(cmd, OpsCmd::Maxpool(_));
            let x = read_matrix(&p.input.input)?;
            if p.size == 0 || p.stride == Some(0) {
                return Err(UserError::new(
                    "bad option",
                    "--size/--stride".into(),
                    "must be at least 1".into(),
                ));
            }
            let opts = Pool2dOptions {
                pool_size: (p.size, p.size),
                strides: p.stride.map(|s| (s, s)),
                padding: parse_padding(&p.padding, false)?,
            };
            let name = if max { "maxpool" } else { "avgpool" };
            let y = if max {
                max_pool2d_forward(&image(&x), &opts).map(|r| r.0)
            } else {
                avg_pool2d_forward(&image(&x), &opts)
            }
            .map_err(|e| op_error(e, &x, name))?;
            let mut out = to_matrix(&y).format();
            if p.input.explain {
                let (_, _, w) = opts
                    .resolve(name, &[1, x.rows, x.cols, 1])
                    .map_err(|e| op_error(e, &x, name))?;
                out.push_str(&explain_pool(&x, &w, max, y.data()[0]));
            }
            Ok(out)
        }
    }
}

fn paren(v: f32) -> String {
    if v < 0.0 {
        format!("({})", fmt_num(v))
    } else {
        fmt_num(v)
    }
}

/// The element-wise products of the first output cell, laid out like the window.
fn explain_conv(x: &Matrix, k: &Matrix, w: &Window2d) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nout[0][0] = sum of the element-wise products of the top-left window and the kernel:"
    );
    let mut terms = Vec::new();
    let mut total = 0.0f64;
    for kh in 0..k.rows {
        let mut cells = Vec::new();
        for kw in 0..k.cols {
            let kv = k.data[kh * k.cols + kw];
            let xv = match (w.in_row(0, kh), w.in_col(0, kw)) {
                (Some(r), Some(c)) => x.data[r * x.cols + c],
                _ => 0.0, // padding
            };
            let p = xv * kv;
            total += p as f64;
            cells.push(format!("{}×{}", paren(xv), paren(kv)));
            terms.push(paren(p));
        }
        let _ = writeln!(out, "  {}", cells.join("  "));
    }
    if w.pad_top + w.pad_left > 0 {
        let _ = writeln!(out, "  (cells outside the input are zero padding)");
    }
    let _ = writeln!(out, "= {} = {}", terms.join(" + "), fmt_num(total as f32));
    out
}

fn explain_pool(x: &Matrix, w: &Window2d, max: bool, result: f32) -> String {
    let vals: Vec<String> = (0..w.k_h)
        .filter_map(|kh| w.in_row(0, kh))
        .flat_map(|r| {
            (0..w.k_w)
                .filter_map(|kw| w.in_col(0, kw))
                .map(move |c| (r, c))
        })
        .map(|(r, c)| fmt_num(x.data[r * x.cols + c]))
        .collect();
    if max {
        format!(
            "\nout[0][0] = max({}) = {}\n",
            vals.join(", "),
            fmt_num(result)
        )
    } else {
        format!(
            "\nout[0][0] = ({}) / {} = {}\n",
            vals.join(" + "),
            vals.len(),
            fmt_num(result)
        )
    }
}

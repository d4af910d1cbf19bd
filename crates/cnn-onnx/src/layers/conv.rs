//! Conv2D, DepthwiseConv2D (a grouped Conv), SeparableConv2D (grouped Conv, then a 1x1 Conv)
//! and Dense (Gemm), each followed by its activation. Kernels are transposed from Keras's HWIO
//! to ONNX's OIHW.

use cnn_nn::ActivationKind;
use cnn_nn::layers::{Conv2D, Dense, DepthwiseConv2D, SeparableConv2D};
use cnn_nn::spec::{PaddingSpec, Size2};
use cnn_tensor::Tensor;

use super::{LayerCx, activation, image_input, pads};
use crate::error::Result;
use crate::writer::{Attr, GraphWriter, Layout, Value};

/// A Keras kernel `[kh, kw, in, out]` as ONNX `[out, in, kh, kw]`.
fn oihw(k: &Tensor) -> (Vec<usize>, Vec<f32>) {
    let d = k.dims();
    let (kh, kw, ci, co) = (d[0], d[1], d[2], d[3]);
    let src = k.data();
    let mut out = vec![0.0f32; src.len()];
    for y in 0..kh {
        for x in 0..kw {
            for i in 0..ci {
                for o in 0..co {
                    out[((o * ci + i) * kh + y) * kw + x] = src[((y * kw + x) * ci + i) * co + o];
                }
            }
        }
    }
    (vec![co, ci, kh, kw], out)
}

/// A Keras depthwise kernel `[kh, kw, c, m]` as a grouped ONNX kernel `[c·m, 1, kh, kw]`
/// (output channel `c·m + j`, Keras's order).
fn grouped(k: &Tensor) -> (Vec<usize>, Vec<f32>) {
    let d = k.dims();
    let (kh, kw, c, m) = (d[0], d[1], d[2], d[3]);
    let src = k.data();
    let mut out = vec![0.0f32; src.len()];
    for y in 0..kh {
        for x in 0..kw {
            for ch in 0..c {
                for j in 0..m {
                    out[((ch * m + j) * kh + y) * kw + x] = src[((y * kw + x) * c + ch) * m + j];
                }
            }
        }
    }
    (vec![c * m, 1, kh, kw], out)
}

/// The window attributes of a convolution.
fn conv_attrs(
    cx: &LayerCx<'_>,
    kernel: Size2,
    strides: Size2,
    padding: PaddingSpec,
    dilation: Size2,
    group: usize,
) -> Result<Vec<(&'static str, Attr)>> {
    let p = pads(
        cx,
        padding,
        (kernel.0, kernel.1),
        (strides.0, strides.1),
        (dilation.0, dilation.1),
    )?;
    Ok(vec![
        (
            "kernel_shape",
            Attr::Ints(vec![kernel.0 as i64, kernel.1 as i64]),
        ),
        (
            "strides",
            Attr::Ints(vec![strides.0 as i64, strides.1 as i64]),
        ),
        (
            "dilations",
            Attr::Ints(vec![dilation.0 as i64, dilation.1 as i64]),
        ),
        ("pads", Attr::Ints(p)),
        ("group", Attr::Int(group as i64)),
    ])
}

/// The activation named `name`, applied to the layer's `Conv`/`Gemm` output.
fn finish(w: &mut GraphWriter, cx: &LayerCx<'_>, y: String, act: &str) -> Result<Value> {
    let a =
        ActivationKind::parse(act).ok_or_else(|| cx.err(format!("unknown activation `{act}`")))?;
    let v = cx.out(y, cx.x().layout);
    Ok(activation(w, cx.name(), &v, a, cx.opset))
}

/// `Conv2D`.
pub(crate) fn conv2d(w: &mut GraphWriter, cx: &LayerCx<'_>, l: &Conv2D) -> Result<Value> {
    image_input(cx)?;
    let (dims, data) = oihw(cx.weight("kernel")?);
    let name = cx.name();
    let mut inputs = vec![
        cx.x().name.clone(),
        w.f32s(&format!("{name}/kernel"), &dims, &data),
    ];
    if l.use_bias {
        let b = cx.weight("bias")?;
        inputs.push(w.f32s(&format!("{name}/bias"), &[b.len()], b.data()));
    }
    let attrs = conv_attrs(cx, l.kernel_size, l.strides, l.padding, l.dilation_rate, 1)?;
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let y = w.node("Conv", name, &refs, attrs);
    finish(w, cx, y, &l.activation)
}

/// `DepthwiseConv2D`: `Conv` with one group per input channel.
pub(crate) fn depthwise(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    l: &DepthwiseConv2D,
) -> Result<Value> {
    image_input(cx)?;
    let (dims, data) = grouped(cx.weight("depthwise_kernel")?);
    let name = cx.name();
    let channels = cx.x().shape[2];
    let mut inputs = vec![
        cx.x().name.clone(),
        w.f32s(&format!("{name}/depthwise_kernel"), &dims, &data),
    ];
    if l.use_bias {
        let b = cx.weight("bias")?;
        inputs.push(w.f32s(&format!("{name}/bias"), &[b.len()], b.data()));
    }
    let attrs = conv_attrs(
        cx,
        l.kernel_size,
        l.strides,
        l.padding,
        l.dilation_rate,
        channels,
    )?;
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let y = w.node("Conv", name, &refs, attrs);
    finish(w, cx, y, &l.activation)
}

/// `SeparableConv2D`: the depthwise `Conv` (no bias), then a 1x1 `Conv` with the bias.
pub(crate) fn separable(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    l: &SeparableConv2D,
) -> Result<Value> {
    image_input(cx)?;
    let name = cx.name();
    let channels = cx.x().shape[2];
    let (dims, data) = grouped(cx.weight("depthwise_kernel")?);
    let dk = w.f32s(&format!("{name}/depthwise_kernel"), &dims, &data);
    let attrs = conv_attrs(
        cx,
        l.kernel_size,
        l.strides,
        l.padding,
        l.dilation_rate,
        channels,
    )?;
    let d = w.node("Conv", name, &[&cx.x().name, &dk], attrs);
    let (dims, data) = oihw(cx.weight("pointwise_kernel")?);
    let mut inputs = vec![d, w.f32s(&format!("{name}/pointwise_kernel"), &dims, &data)];
    if l.use_bias {
        let b = cx.weight("bias")?;
        inputs.push(w.f32s(&format!("{name}/bias"), &[b.len()], b.data()));
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let y = w.node(
        "Conv",
        name,
        &refs,
        vec![
            ("kernel_shape", Attr::Ints(vec![1, 1])),
            ("strides", Attr::Ints(vec![1, 1])),
            ("pads", Attr::Ints(vec![0; 4])),
        ],
    );
    finish(w, cx, y, &l.activation)
}

/// `Dense`: `Gemm(x, kernel, bias)` (Keras's kernel is `[in, out]`, no transpose needed), or
/// `MatMul` without a bias.
pub(crate) fn dense(w: &mut GraphWriter, cx: &LayerCx<'_>, l: &Dense) -> Result<Value> {
    if cx.x().layout != Layout::Keras || cx.x().shape.len() != 1 {
        return Err(cx.err(format!(
            "needs a flat input (None, features), got {:?}",
            cx.x().shape
        )));
    }
    let name = cx.name();
    let k = cx.weight("kernel")?;
    let kernel = w.f32s(&format!("{name}/kernel"), k.dims(), k.data());
    let y = if l.use_bias {
        let b = cx.weight("bias")?;
        let bias = w.f32s(&format!("{name}/bias"), &[b.len()], b.data());
        w.node("Gemm", name, &[&cx.x().name, &kernel, &bias], vec![])
    } else {
        w.node("MatMul", name, &[&cx.x().name, &kernel], vec![])
    };
    finish(w, cx, y, &l.activation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_transpose_to_oihw_and_groups() {
        // [kh=1, kw=2, in=2, out=3], value = 1000·y + 100·x + 10·i + o.
        let data: Vec<f32> = (0..12)
            .map(|n| {
                let (x, i, o) = (n / 6, n / 3 % 2, n % 3);
                (100 * x + 10 * i + o) as f32
            })
            .collect();
        let k = Tensor::new([1, 2, 2, 3], data).unwrap();
        // Index of element (a, b, c, d) in a row-major [A, B, C, D] tensor.
        let at = |dims: &[usize], i: [usize; 4]| {
            ((i[0] * dims[1] + i[1]) * dims[2] + i[2]) * dims[3] + i[3]
        };
        let (dims, t) = oihw(&k);
        assert_eq!(dims, [3, 2, 1, 2]);
        // t[o][i][y][x] = k[y][x][i][o]
        assert_eq!(t[at(&dims, [2, 1, 0, 1])], 112.0);
        assert_eq!(t[at(&dims, [1, 0, 0, 0])], 1.0);
        // Depthwise [1, 2, c=2, m=3]: output channel c·3 + j.
        let (dims, g) = grouped(&k);
        assert_eq!(dims, [6, 1, 1, 2]);
        assert_eq!(g[at(&dims, [3 + 2, 0, 0, 1])], 112.0);
        assert_eq!(g[at(&dims, [1, 0, 0, 0])], 1.0);
    }
}

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

/// `k`'s values with its axes in the order `axes` (row-major), through `ndarray`'s view.
fn permuted(k: &Tensor, axes: [usize; 4]) -> Vec<f32> {
    k.as_ndarray()
        .permuted_axes(&axes[..])
        .iter()
        .copied()
        .collect()
}

/// A Keras kernel `[kh, kw, in, out]` as ONNX `[out, in, kh, kw]`.
fn oihw(k: &Tensor) -> (Vec<usize>, Vec<f32>) {
    let d = k.dims();
    (vec![d[3], d[2], d[0], d[1]], permuted(k, [3, 2, 0, 1]))
}

/// A Keras depthwise kernel `[kh, kw, c, m]` as a grouped ONNX kernel `[c·m, 1, kh, kw]`
/// (output channel `c·m + j`, Keras's order).
fn grouped(k: &Tensor) -> (Vec<usize>, Vec<f32>) {
    let d = k.dims();
    (vec![d[2] * d[3], 1, d[0], d[1]], permuted(k, [2, 3, 0, 1]))
}

/// A `Conv` of the value `x` with `kernel` (ONNX layout) stored as the layer's `param`, and the
/// layer's bias when `bias`; returns its output.
fn conv_node(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    x: &str,
    (param, (dims, data)): (&str, (Vec<usize>, Vec<f32>)),
    bias: bool,
    attrs: Vec<(&'static str, Attr)>,
) -> Result<String> {
    let name = cx.name();
    let mut inputs = vec![
        x.to_string(),
        w.f32s(&format!("{name}/{param}"), &dims, &data),
    ];
    if bias {
        inputs.push(cx.initializer(w, "bias")?);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    Ok(w.node("Conv", name, &refs, attrs))
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
    let kernel = oihw(cx.weight("kernel")?);
    let attrs = conv_attrs(cx, l.kernel_size, l.strides, l.padding, l.dilation_rate, 1)?;
    let y = conv_node(w, cx, &cx.x().name, ("kernel", kernel), l.use_bias, attrs)?;
    finish(w, cx, y, &l.activation)
}

/// `DepthwiseConv2D`: `Conv` with one group per input channel.
pub(crate) fn depthwise(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    l: &DepthwiseConv2D,
) -> Result<Value> {
    image_input(cx)?;
    let kernel = grouped(cx.weight("depthwise_kernel")?);
    let channels = cx.x().shape[2];
    let attrs = conv_attrs(
        cx,
        l.kernel_size,
        l.strides,
        l.padding,
        l.dilation_rate,
        channels,
    )?;
    let y = conv_node(
        w,
        cx,
        &cx.x().name,
        ("depthwise_kernel", kernel),
        l.use_bias,
        attrs,
    )?;
    finish(w, cx, y, &l.activation)
}

/// `SeparableConv2D`: the depthwise `Conv` (no bias), then a 1x1 `Conv` with the bias.
pub(crate) fn separable(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    l: &SeparableConv2D,
) -> Result<Value> {
    image_input(cx)?;
    let channels = cx.x().shape[2];
    let attrs = conv_attrs(
        cx,
        l.kernel_size,
        l.strides,
        l.padding,
        l.dilation_rate,
        channels,
    )?;
    let depthwise = grouped(cx.weight("depthwise_kernel")?);
    let d = conv_node(
        w,
        cx,
        &cx.x().name,
        ("depthwise_kernel", depthwise),
        false,
        attrs,
    )?;
    let pointwise = oihw(cx.weight("pointwise_kernel")?);
    let one_by_one = vec![
        ("kernel_shape", Attr::Ints(vec![1, 1])),
        ("strides", Attr::Ints(vec![1, 1])),
        ("pads", Attr::Ints(vec![0; 4])),
    ];
    let y = conv_node(
        w,
        cx,
        &d,
        ("pointwise_kernel", pointwise),
        l.use_bias,
        one_by_one,
    )?;
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
    let kernel = cx.initializer(w, "kernel")?;
    let y = if l.use_bias {
        let bias = cx.initializer(w, "bias")?;
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

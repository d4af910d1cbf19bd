//! MobileNetV2 (Sandler et al. 2018) as Keras's `MobileNetV2` application builds it at width
//! multiplier 1: inverted residual blocks (1x1 expansion, 3x3 depthwise, 1x1 linear
//! projection, identity shortcut where shapes allow), ReLU capped at 6, batch norm with
//! epsilon 1e-3 and momentum 0.999, layer names as Keras's (`block_1_expand`, `Conv_1_bn`).

use crate::builder::{GraphBuilder, Node};
use crate::layers::{Add, BatchNormalization, Conv2D, DepthwiseConv2D, ReLU};
use crate::spec::layers::*;
use crate::spec::{LayerSpec, ModelSpec, PaddingSpec};

fn bn(name: String) -> LayerSpec {
    LayerSpec::from(BatchNormalization {
        momentum: 0.999,
        epsilon: 1e-3,
    })
    .named(name)
}

fn relu6(name: String) -> LayerSpec {
    LayerSpec::from(ReLU::capped(6.0)).named(name)
}

/// A 1x1 (or `k`x`k`) convolution without bias, `same` padding.
fn conv(filters: usize, k: usize, stride: usize, name: String) -> LayerSpec {
    let mut c = Conv2D::new(filters, k, "linear");
    c.use_bias = false;
    c.padding = PaddingSpec::Same;
    LayerSpec::from(c).strides(stride).named(name)
}

/// Keras's `imagenet_utils.correct_pad` for a 3x3 window: `((0, 1), (0, 1))` on even sizes,
/// one more row or column above/left on odd ones.
fn correct_pad(h: usize, w: usize) -> ((usize, usize), (usize, usize)) {
    let adjust = |d: usize| 1 - d % 2;
    ((1 - adjust(h), 1), (1 - adjust(w), 1))
}

/// Keras's `_inverted_res_block`; `size` is the input's spatial size, updated.
#[allow(clippy::too_many_arguments)]
fn inverted_residual(
    b: &mut GraphBuilder,
    x: &Node,
    in_channels: usize,
    expansion: usize,
    stride: usize,
    filters: usize,
    id: usize,
    size: &mut (usize, usize),
) -> Node {
    let prefix = if id == 0 {
        "expanded_conv_".to_string()
    } else {
        format!("block_{id}_")
    };
    let mut h = x.clone();
    if id > 0 {
        h = b.chain(
            &h,
            [
                conv(expansion * in_channels, 1, 1, format!("{prefix}expand")),
                bn(format!("{prefix}expand_BN")),
                relu6(format!("{prefix}expand_relu")),
            ],
        );
    }
    let mut dw = DepthwiseConv2D::new(3);
    dw.use_bias = false;
    dw.strides = crate::spec::Size2(stride, stride);
    if stride == 2 {
        let (rows, cols) = correct_pad(size.0, size.1);
        h = b.apply(zero_pad(rows, cols).named(format!("{prefix}pad")), &[&h]);
        // A 3x3 valid window with stride 2 on the padded input.
        let out = |d: usize, p: (usize, usize)| (d + p.0 + p.1 - 3) / 2 + 1;
        *size = (out(size.0, rows), out(size.1, cols));
    } else {
        dw.padding = PaddingSpec::Same;
    }
    h = b.chain(
        &h,
        [
            LayerSpec::from(dw).named(format!("{prefix}depthwise")),
            bn(format!("{prefix}depthwise_BN")),
            relu6(format!("{prefix}depthwise_relu")),
            conv(filters, 1, 1, format!("{prefix}project")),
            bn(format!("{prefix}project_BN")),
        ],
    );
    if in_channels == filters && stride == 1 {
        h = b.apply(
            LayerSpec::from(Add {}).named(format!("{prefix}add")),
            &[x, &h],
        );
    }
    h
}

/// `keras.applications.MobileNetV2(weights=None, input_shape=input, classes=k)` (alpha 1):
/// 3,538,984 parameters at 224x224x3 with 1000 classes.
pub(crate) fn mobilenet_v2(input: Vec<usize>, k: usize) -> ModelSpec {
    let (h, w) = (
        input.first().copied().unwrap_or(1),
        input.get(1).copied().unwrap_or(1),
    );
    let mut b = GraphBuilder::new("mobilenetv2", input);
    let x = b.input();
    let mut x = b.chain(
        &x,
        [
            conv(32, 3, 2, "Conv1".into()),
            bn("bn_Conv1".into()),
            relu6("Conv1_relu".into()),
        ],
    );
    let mut size = (h.div_ceil(2), w.div_ceil(2));
    let mut channels = 32;
    // (filters, stride, expansion) of blocks 0..=16, as Keras lists them.
    let blocks = [
        (16, 1, 1),
        (24, 2, 6),
        (24, 1, 6),
        (32, 2, 6),
        (32, 1, 6),
        (32, 1, 6),
        (64, 2, 6),
        (64, 1, 6),
        (64, 1, 6),
        (64, 1, 6),
        (96, 1, 6),
        (96, 1, 6),
        (96, 1, 6),
        (160, 2, 6),
        (160, 1, 6),
        (160, 1, 6),
        (320, 1, 6),
    ];
    for (id, (filters, stride, expansion)) in blocks.into_iter().enumerate() {
        x = inverted_residual(
            &mut b, &x, channels, expansion, stride, filters, id, &mut size,
        );
        channels = filters;
    }
    let out = b.chain(
        &x,
        [
            conv(1280, 1, 1, "Conv_1".into()),
            bn("Conv_1_bn".into()),
            relu6("out_relu".into()),
            global_avg_pool(),
            dense(k, "softmax").named("predictions"),
        ],
    );
    b.build(&[&out])
}

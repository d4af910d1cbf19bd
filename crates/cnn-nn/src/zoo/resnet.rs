//! Residual networks: Keras's `ResNet50` application (He et al. 2015, layer names as Keras's so
//! its weights map by name) and the CIFAR-10 ResNet v1 of Keras's `cifar10_resnet` example
//! (He et al. 2015, §4.2).

use crate::builder::{GraphBuilder, Node};
use crate::layers::{Add, BatchNormalization, Conv2D};
use crate::spec::layers::*;
use crate::spec::{LayerSpec, ModelSpec};

/// Keras's ResNet batch normalisation: `epsilon=1.001e-5`.
fn bn(name: String) -> LayerSpec {
    LayerSpec::from(BatchNormalization {
        epsilon: 1.001e-5,
        ..BatchNormalization::default()
    })
    .named(name)
}

/// Keras's `block1`: a bottleneck (1x1, 3x3, 1x1 ×4) with a projection shortcut (`conv`) or
/// the identity. Layers are listed in the order Keras's model lists them (by depth), so
/// summaries and weight files line up.
fn bottleneck(
    b: &mut GraphBuilder,
    x: &Node,
    filters: usize,
    stride: usize,
    conv: bool,
    name: &str,
) -> Node {
    let y = b.chain(
        x,
        [
            conv2d(filters, 1, "linear")
                .strides(stride)
                .named(format!("{name}_1_conv")),
            bn(format!("{name}_1_bn")),
            activation("relu").named(format!("{name}_1_relu")),
            conv2d(filters, 3, "linear")
                .same()
                .named(format!("{name}_2_conv")),
            bn(format!("{name}_2_bn")),
            activation("relu").named(format!("{name}_2_relu")),
        ],
    );
    let (shortcut, y) = if conv {
        let s = b.apply(
            conv2d(4 * filters, 1, "linear")
                .strides(stride)
                .named(format!("{name}_0_conv")),
            &[x],
        );
        let y = b.apply(
            conv2d(4 * filters, 1, "linear").named(format!("{name}_3_conv")),
            &[&y],
        );
        let s = b.apply(bn(format!("{name}_0_bn")), &[&s]);
        (s, b.apply(bn(format!("{name}_3_bn")), &[&y]))
    } else {
        let y = b.chain(
            &y,
            [
                conv2d(4 * filters, 1, "linear").named(format!("{name}_3_conv")),
                bn(format!("{name}_3_bn")),
            ],
        );
        (x.clone(), y)
    };
    let s = b.apply(
        LayerSpec::from(Add {}).named(format!("{name}_add")),
        &[&shortcut, &y],
    );
    b.apply(activation("relu").named(format!("{name}_out")), &[&s])
}

/// `keras.applications.ResNet50(weights=None, input_shape=input, classes=k)`: 25,636,712
/// parameters at 224x224x3 with 1000 classes.
pub(crate) fn resnet50(input: Vec<usize>, k: usize) -> ModelSpec {
    let mut b = GraphBuilder::new("resnet50", input);
    let x = b.input();
    let mut x = b.chain(
        &x,
        [
            zero_pad((3, 3), (3, 3)).named("conv1_pad"),
            conv2d(64, 7, "linear").strides(2).named("conv1_conv"),
            bn("conv1_bn".into()),
            activation("relu").named("conv1_relu"),
            zero_pad((1, 1), (1, 1)).named("pool1_pad"),
            max_pool(3).strides(2).named("pool1_pool"),
        ],
    );
    for (stage, (filters, blocks, stride)) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]
        .into_iter()
        .enumerate()
    {
        for i in 1..=blocks {
            let name = format!("conv{}_block{i}", stage + 2);
            let s = if i == 1 { stride } else { 1 };
            x = bottleneck(&mut b, &x, filters, s, i == 1, &name);
        }
    }
    let out = b.chain(
        &x,
        [
            global_avg_pool().named("avg_pool"),
            dense(k, "softmax").named("predictions"),
        ],
    );
    b.build(&[&out])
}

/// Keras's `resnet_layer` convolution: `same` padding, He-normal initialisation.
fn resnet_conv(filters: usize, kernel: usize, stride: usize) -> LayerSpec {
    let mut conv = Conv2D::new(filters, kernel, "linear");
    conv.kernel_initializer = "he_normal".into();
    LayerSpec::from(conv).same().strides(stride)
}

/// ResNet v1 for CIFAR-10 with `depth` = 6n + 2 layers (Keras's `cifar10_resnet.py`
/// `resnet_v1`): three stages of n residual blocks with 16, 32, 64 filters, 1x1 projection
/// shortcuts where the size halves, AveragePooling 8, Dense softmax. ResNet-20: 274,442
/// parameters (without the example's L2 kernel regulariser).
pub(crate) fn resnet_cifar(name: &str, depth: usize, input: Vec<usize>, k: usize) -> ModelSpec {
    let blocks = (depth - 2) / 6;
    let mut b = GraphBuilder::new(name, input);
    let x = b.input();
    let mut x = b.chain(
        &x,
        [resnet_conv(16, 3, 1), batch_norm(), activation("relu")],
    );
    let mut filters = 16;
    for stage in 0..3 {
        for block in 0..blocks {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let y = b.chain(
                &x,
                [
                    resnet_conv(filters, 3, stride),
                    batch_norm(),
                    activation("relu"),
                    resnet_conv(filters, 3, 1),
                ],
            );
            // Keras lists the shortcut's projection (created last) before the batch norm
            // at the same depth; names count per kind, so they are Keras's too.
            if stride == 2 {
                x = b.apply(resnet_conv(filters, 1, stride), &[&x]);
            }
            let y = b.apply(batch_norm(), &[&y]);
            let s = b.apply(Add {}, &[&x, &y]);
            x = b.apply(activation("relu"), &[&s]);
        }
        filters *= 2;
    }
    let mut head = crate::layers::Dense::new(k, "softmax");
    head.kernel_initializer = "he_normal".into();
    let out = b.chain(&x, [avg_pool(8), flatten(), head.into()]);
    b.build(&[&out])
}

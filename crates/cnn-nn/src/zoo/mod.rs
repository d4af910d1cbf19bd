//! The model zoo: the lecture's reference networks by name.
//!
//! | name | layout |
//! |---|---|
//! | `mnist-cnn` | Keras's `mnist_cnn.py` without dropout: Conv 32 3x3 relu → Conv 64 3x3 relu → MaxPool 2 → Flatten → Dense 128 relu → Dense 10 softmax (1,199,882 params on 28x28x1) |
//! | `mnist-cnn-dropout` | the same with Dropout 0.25 after the pool and 0.5 after Dense 128, as in the Keras example |
//! | `fashion-cnn` | the Fashion-MNIST exercise's convnet, the lecture's structure three times: (Conv 3x3 `same` → BatchNorm → relu → MaxPool 2) with 32, 64 and 128 filters → Flatten → Dense 256 relu → Dropout 0.4 → Dense 10 softmax (391,306 params on 28x28x1; 65 % of `mnist-cnn`'s multiply-adds) |
//! | `dense-mnist` | Flatten → Dense 100 relu → Dense 50 relu → Dense 10 softmax |
//! | `lenet5` | LeCun 1998 as Keras tutorials write it: Conv 6 5x5 tanh → AvgPool 2 → Conv 16 5x5 tanh → AvgPool 2 → Flatten → Dense 120 tanh → Dense 84 tanh → Dense 10 softmax (61,706 params). On 28x28 inputs C1 uses `same` padding so the layer sizes match the 32x32 original; the original's partial C3 connections and RBF output are not reproduced |
//! | `alexnet` | Krizhevsky et al. 2012, single tower, 227x227x3: Conv 96 11x11/4 → LRN → MaxPool 3/2 → Conv 256 5x5 same → LRN → MaxPool 3/2 → Conv 384 3x3 → Conv 384 3x3 → Conv 256 3x3 → MaxPool 3/2 → Dense 4096 → Dropout → Dense 4096 → Dropout → Dense 1000 (62,378,344 params) |
//! | `alexnet-cifar` | a CIFAR-sized simplification for 32x32x3: three groups of two 3x3 `same` convolutions with 64, 128, 256 filters, each conv followed by batch norm, each group by MaxPool 2 and dropout (0.2, 0.3, 0.4), then Dense 512 relu, batch norm, dropout 0.5, Dense 10 softmax |
//! | `cifar-cnn` | the CIFAR-10 exercise's network: `alexnet-cifar` at half the width (32, 64, 128 filters; Dense 128), a quarter of its computation |
//! | `airbench-cifar` | the network of airbench94 (Jordan 2024, arXiv 2404.00498) for 32x32x3, in Keras layers: a 2x2 `valid` convolution with 24 filters and bias (the patch-whitening layer: 32 → 31) and GELU, then three groups (64, 256, 256 filters) of Conv 3x3 `same` without bias → MaxPool 2 → BatchNorm → GELU → Conv 3x3 `same` → BatchNorm → GELU, then MaxPool 3 → Flatten → Dense 10 without bias → Rescaling 1/9 → softmax; batch norm momentum 0.4 in Keras's convention (PyTorch's 0.6), epsilon 1e-12 (1,975,096 params) |
//! | `resnet50` | Keras's `ResNet50` application (He et al. 2015): a graph of bottleneck blocks with projection and identity shortcuts, layer names as Keras's (`conv2_block1_0_conv`, `predictions`), BatchNorm epsilon 1.001e-5 (25,636,712 params on 224x224x3) |
//! | `resnet20-cifar` | ResNet v1 of depth 20 for CIFAR-10 as Keras's `cifar10_resnet.py` builds it: 16/32/64 filters, He-normal initialisation, 1x1 projection shortcuts, AvgPool 8 (274,442 params) |
//! | `mobilenetv2` | Keras's `MobileNetV2` application at width 1 (Sandler et al. 2018): inverted residual blocks with depthwise 3x3 convolutions, ReLU6, layer names as Keras's (3,538,984 params on 224x224x3) |
//! | `vgg-a`, `vgg-a-lrn`, `vgg-b`, `vgg-c`, `vgg-d` (`vgg16`), `vgg-e` (`vgg19`) | Simonyan & Zisserman 2014, Table 1: 3x3 `same` convolutions (C adds a 1x1 convolution at the end of blocks 3–5; A-LRN adds LRN after the first), five MaxPool 2, Dense 4096, 4096, 1000; layer names as Keras's `VGG16` (`block1_conv1`, `fc1`, `predictions`) |

mod mobilenet;
mod resnet;

use crate::error::{NnError, Result};
use crate::spec::layers::*;
use crate::spec::{LayerSpec, ModelSpec};

/// The zoo's names (aliases included).
pub const ZOO: &[&str] = &[
    "mnist-cnn",
    "mnist-cnn-dropout",
    "fashion-cnn",
    "dense-mnist",
    "lenet5",
    "alexnet",
    "alexnet-cifar",
    "cifar-cnn",
    "airbench-cifar",
    "vgg-a",
    "vgg-a-lrn",
    "vgg-b",
    "vgg-c",
    "vgg-d",
    "vgg16",
    "vgg-e",
    "vgg19",
    "resnet50",
    "resnet20-cifar",
    "mobilenetv2",
];

/// The default input shape of a zoo model.
pub fn default_input_shape(name: &str) -> Option<Vec<usize>> {
    Some(match name {
        "mnist-cnn" | "mnist-cnn-dropout" | "fashion-cnn" | "dense-mnist" | "lenet5" => {
            vec![28, 28, 1]
        }
        "alexnet" => vec![227, 227, 3],
        "alexnet-cifar" | "cifar-cnn" | "resnet20-cifar" | "airbench-cifar" => vec![32, 32, 3],
        n if ZOO.contains(&n) => vec![224, 224, 3],
        _ => return None,
    })
}

/// The default class count of a zoo model.
pub fn default_classes(name: &str) -> usize {
    match name {
        "alexnet" | "vgg-a" | "vgg-a-lrn" | "vgg-b" | "vgg-c" | "vgg-d" | "vgg16" | "vgg-e"
        | "vgg19" | "resnet50" | "mobilenetv2" => 1000,
        _ => 10,
    }
}

/// A zoo model's spec for an input shape and class count (defaults when `None`).
pub fn zoo(name: &str, input_shape: Option<&[usize]>, classes: Option<usize>) -> Result<ModelSpec> {
    let input = match input_shape {
        Some(s) => s.to_vec(),
        None => default_input_shape(name).ok_or_else(|| NnError::Unknown {
            kind: "model",
            name: name.into(),
            known: ZOO.join(", "),
        })?,
    };
    let k = classes.unwrap_or_else(|| default_classes(name));
    let layers: Vec<LayerSpec> = match name {
        "mnist-cnn" => vec![
            conv2d(32, 3, "relu"),
            conv2d(64, 3, "relu"),
            max_pool(2),
            flatten(),
            dense(128, "relu"),
            dense(k, "softmax"),
        ],
        "mnist-cnn-dropout" => vec![
            conv2d(32, 3, "relu"),
            conv2d(64, 3, "relu"),
            max_pool(2),
            dropout(0.25),
            flatten(),
            dense(128, "relu"),
            dropout(0.5),
            dense(k, "softmax"),
        ],
        "fashion-cnn" => vec![
            conv2d(32, 3, "linear").same(),
            batch_norm(),
            activation("relu"),
            max_pool(2),
            conv2d(64, 3, "linear").same(),
            batch_norm(),
            activation("relu"),
            max_pool(2),
            conv2d(128, 3, "linear").same(),
            batch_norm(),
            activation("relu"),
            max_pool(2),
            flatten(),
            dense(256, "relu"),
            dropout(0.4),
            dense(k, "softmax"),
        ],
        "dense-mnist" => vec![
            flatten(),
            dense(100, "relu"),
            dense(50, "relu"),
            dense(k, "softmax"),
        ],
        "lenet5" => {
            let c1 = conv2d(6, 5, "tanh");
            let c1 = if input.first().is_some_and(|&h| h < 32) {
                c1.same()
            } else {
                c1
            };
            vec![
                c1,
                avg_pool(2),
                conv2d(16, 5, "tanh"),
                avg_pool(2),
                flatten(),
                dense(120, "tanh"),
                dense(84, "tanh"),
                dense(k, "softmax"),
            ]
        }
        "alexnet" => vec![
            conv2d(96, 11, "relu").strides(4),
            lrn(),
            max_pool(3).strides(2),
            conv2d(256, 5, "relu").same(),
            lrn(),
            max_pool(3).strides(2),
            conv2d(384, 3, "relu").same(),
            conv2d(384, 3, "relu").same(),
            conv2d(256, 3, "relu").same(),
            max_pool(3).strides(2),
            flatten(),
            dense(4096, "relu"),
            dropout(0.5),
            dense(4096, "relu"),
            dropout(0.5),
            dense(k, "softmax"),
        ],
        "alexnet-cifar" | "cifar-cnn" => {
            let widths = if name == "cifar-cnn" {
                [32, 64, 128]
            } else {
                [64, 128, 256]
            };
            let mut l = Vec::new();
            for (filters, drop) in widths.into_iter().zip([0.2, 0.3, 0.4]) {
                for _ in 0..2 {
                    l.push(conv2d(filters, 3, "relu").same());
                    l.push(batch_norm());
                }
                l.push(max_pool(2));
                l.push(dropout(drop));
            }
            l.extend([
                flatten(),
                dense(if name == "cifar-cnn" { 128 } else { 512 }, "relu"),
                batch_norm(),
                dropout(0.5),
                dense(k, "softmax"),
            ]);
            l
        }
        "vgg-a" | "vgg-a-lrn" | "vgg-b" | "vgg-c" | "vgg-d" | "vgg16" | "vgg-e" | "vgg19" => {
            vgg(name, k)
        }
        "airbench-cifar" => airbench(k),
        "resnet50" => return Ok(resnet::resnet50(input, k)),
        "resnet20-cifar" => return Ok(resnet::resnet_cifar(name, 20, input, k)),
        "mobilenetv2" => return Ok(mobilenet::mobilenet_v2(input, k)),
        _ => {
            return Err(NnError::Unknown {
                kind: "model",
                name: name.into(),
                known: ZOO.join(", "),
            });
        }
    };
    Ok(ModelSpec {
        layers,
        ..ModelSpec::new(name, input)
    })
}

/// The model without its classifier (Keras's `include_top=False`, `pooling=None`): every layer
/// after the last one that outputs an image `(H, W, C)` removed — VGG16's convolutional base
/// that Chollet §5.3 reuses, ResNet-50's last block.
///
/// # Errors
/// If the spec does not resolve, or no layer outputs an image.
pub fn no_top(spec: &ModelSpec) -> Result<ModelSpec> {
    let arch = crate::Architecture::from_spec(spec)?;
    let last = arch
        .layers
        .iter()
        .rposition(|l| l.output_shape.len() == 3)
        .ok_or_else(|| NnError::Model {
            model: spec.name.clone(),
            message: "has no layer with an image output to keep as the base".into(),
        })?;
    let mut base = arch.to_spec();
    base.layers.truncate(last + 1);
    if !base.outputs.is_empty() {
        base.outputs = vec![arch.layers[last].name.clone()];
    }
    Ok(base)
}

/// VGG configurations of Table 1: per block, the 3x3 convolutions and (config C) a final 1x1.
/// `airbench-cifar`'s layers (see the table above).
fn airbench(k: usize) -> Vec<LayerSpec> {
    use crate::layers::{BatchNormalization, Conv2D, Dense, Rescaling};
    let conv = |filters: usize| {
        let mut c = Conv2D::new(filters, 3, "linear");
        c.use_bias = false;
        LayerSpec::from(c).same()
    };
    let bn = || {
        LayerSpec::from(BatchNormalization {
            momentum: 0.4,
            epsilon: 1e-12,
        })
    };
    let mut l = vec![conv2d(24, 2, "linear").named("whiten"), activation("gelu")];
    for filters in [64, 256, 256] {
        l.extend([
            conv(filters),
            max_pool(2),
            bn(),
            activation("gelu"),
            conv(filters),
            bn(),
            activation("gelu"),
        ]);
    }
    let mut head = Dense::new(k, "linear");
    head.use_bias = false;
    l.extend([
        max_pool(3),
        flatten(),
        LayerSpec::from(head),
        LayerSpec::from(Rescaling {
            scale: 1.0 / 9.0,
            offset: 0.0,
        }),
        activation("softmax"),
    ]);
    l
}

fn vgg(name: &str, k: usize) -> Vec<LayerSpec> {
    let (convs, one_by_one): ([usize; 5], bool) = match name {
        "vgg-a" | "vgg-a-lrn" => ([1, 1, 2, 2, 2], false),
        "vgg-b" => ([2, 2, 2, 2, 2], false),
        "vgg-c" => ([2, 2, 2, 2, 2], true),
        "vgg-d" | "vgg16" => ([2, 2, 3, 3, 3], false),
        _ => ([2, 2, 4, 4, 4], false),
    };
    let filters = [64, 128, 256, 512, 512];
    let mut l = Vec::new();
    for b in 0..5 {
        let mut n = 0;
        for _ in 0..convs[b] {
            n += 1;
            l.push(
                conv2d(filters[b], 3, "relu")
                    .same()
                    .named(format!("block{}_conv{n}", b + 1)),
            );
            if name == "vgg-a-lrn" && b == 0 {
                l.push(lrn().named("block1_lrn"));
            }
        }
        if one_by_one && b >= 2 {
            n += 1;
            l.push(conv2d(filters[b], 1, "relu").named(format!("block{}_conv{n}", b + 1)));
        }
        l.push(max_pool(2).named(format!("block{}_pool", b + 1)));
    }
    l.extend([
        flatten().named("flatten"),
        dense(4096, "relu").named("fc1"),
        dense(4096, "relu").named("fc2"),
        dense(k, "softmax").named("predictions"),
    ]);
    l
}

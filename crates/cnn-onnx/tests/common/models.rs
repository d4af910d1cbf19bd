//! Test models shared by the export checks of cnn-onnx and cnn-keras (`#[path]`-included):
//! weights that make every term visible, inputs, every zoo model at its smallest input, and a
//! graph with every layer and option.
#![allow(dead_code)]

use std::collections::HashMap;

use cnn_nn::spec::layers::*;
use cnn_nn::{GraphBuilder, Model, ModelSpec, zoo};
use cnn_tensor::Tensor;
use rand::{RngExt, SeedableRng};

/// Weights that make every term visible: biases and batch-norm statistics away from their
/// initial zeros and ones.
pub fn perturb(model: &mut Model, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let names: Vec<String> = model.named_weights().map(|(n, _)| n.to_string()).collect();
    for name in names {
        let t = model.weight_mut(&name).unwrap();
        let (lo, hi) = match name.rsplit('/').next().unwrap() {
            "bias" | "beta" | "moving_mean" => (-0.2, 0.2),
            "gamma" | "moving_variance" => (0.5, 1.5),
            _ => continue,
        };
        for v in t.data_mut() {
            *v = rng.random_range(lo..hi);
        }
    }
}

pub fn random_input(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    Tensor::new(
        shape.to_vec(),
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect(),
    )
    .unwrap()
}

/// The largest difference, relative above 1.
pub fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Every zoo model (10 classes) at the smallest input it allows.
pub fn zoo_models() -> Vec<(&'static str, ModelSpec)> {
    // The smallest inputs each model allows (five stride-2 stages need 32 pixels; AlexNet's
    // 11x11 stride-4 stem and three 3x3 stride-2 pools need 67).
    let small: HashMap<&str, Vec<usize>> = [
        ("alexnet", vec![67, 67, 3]),
        ("vgg-a", vec![32, 32, 3]),
        ("vgg-a-lrn", vec![32, 32, 3]),
        ("vgg-b", vec![32, 32, 3]),
        ("vgg-c", vec![32, 32, 3]),
        ("vgg-d", vec![32, 32, 3]),
        ("vgg16", vec![32, 32, 3]),
        ("vgg-e", vec![32, 32, 3]),
        ("vgg19", vec![32, 32, 3]),
        ("resnet50", vec![32, 32, 3]),
        ("mobilenetv2", vec![32, 32, 3]),
    ]
    .into_iter()
    .collect();
    cnn_nn::ZOO
        .iter()
        .map(|name| {
            let spec = zoo(name, small.get(name).map(|s| &s[..]), Some(10)).unwrap();
            (*name, logits(spec))
        })
        .collect()
}

/// `spec` with its final softmax made linear: random networks give nearly uniform
/// probabilities, whose agreement proves little; their logits spread out. (Softmax itself is
/// checked inside [`every_layer`].)
pub fn logits(mut spec: ModelSpec) -> ModelSpec {
    use cnn_nn::LayerConfig;
    if let Some(last) = spec.layers.last_mut() {
        match &mut last.config {
            LayerConfig::Dense(d) if d.activation == "softmax" => d.activation = "linear".into(),
            LayerConfig::Activation(a) if a.activation == "softmax" => {
                a.activation = "linear".into()
            }
            _ => {}
        }
    }
    spec
}

/// The spread of `t` (max − min): a comparison of near-constant outputs proves little.
pub fn spread(t: &[f32]) -> f32 {
    let (lo, hi) = t
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    hi - lo
}

/// A model built from `spec` (seed 7) with perturbed weights, and a batch of 2 inputs.
pub fn model_and_input(spec: &ModelSpec) -> (Model, Tensor) {
    let mut model = Model::new(spec, 7).unwrap();
    perturb(&mut model, 11);
    let mut shape = vec![2];
    shape.extend(&model.architecture().input_shape);
    let x = random_input(&shape, 3);
    (model, x)
}

/// Every layer and option: same/valid padding, strides, dilation, depth multipliers,
/// separable convolutions, LRN, asymmetric zero padding, both global poolings, reshape back to
/// an image, concatenation on channels, multiply, add, rescaling, every activation.
pub fn every_layer() -> ModelSpec {
    every_layer_with(true)
}

/// [`every_layer`], with or without its local response normalisation (Keras has none).
pub fn every_layer_with(lrn: bool) -> ModelSpec {
    use cnn_nn::layers::*;
    use cnn_nn::spec::{PaddingSpec::Same, Size2};
    let mut b = GraphBuilder::new("every-layer", [9, 11, 3]);
    let x = b.input();
    let s = b.apply(
        Rescaling {
            scale: 0.5,
            offset: 0.25,
        },
        &[&x],
    );
    let c1 = b.apply(conv2d(6, 3, "relu").same(), &[&s]);
    let c2 = b.apply(conv2d(6, (2, 3), "elu").strides(2).same(), &[&c1]);
    let c3 = b.apply(
        Conv2D {
            dilation_rate: Size2(2, 2),
            padding: Same,
            ..Conv2D::new(6, 3, "tanh")
        },
        &[&c2],
    );
    let c4 = b.apply(conv2d(4, 2, "linear"), &[&c3]);
    let d1 = b.apply(
        DepthwiseConv2D {
            depth_multiplier: 2,
            padding: Same,
            activation: "relu6".into(),
            ..DepthwiseConv2D::new(3)
        },
        &[&c4],
    );
    let d2 = b.apply(
        DepthwiseConv2D {
            strides: Size2(2, 1),
            ..DepthwiseConv2D::new((2, 2))
        },
        &[&d1],
    );
    let sp = b.apply(
        SeparableConv2D {
            padding: Same,
            ..SeparableConv2D::new(6, 3, "swish")
        },
        &[&d1],
    );
    let bn = b.apply(batch_norm(), &[&sp]);
    // Strong enough that a wrong alpha shows (AlexNet's 1e-4 barely changes anything).
    let ln = if lrn {
        b.apply(
            LocalResponseNormalization {
                depth_radius: 2,
                bias: 1.0,
                alpha: 0.5,
                beta: 0.75,
            },
            &[&bn],
        )
    } else {
        bn
    };
    let zp = b.apply(zero_pad((1, 2), (0, 3)), &[&ln]);
    let mp = b.apply(max_pool(2).same(), &[&zp]);
    let ap = b.apply(avg_pool(3).strides(1).same(), &[&mp]);
    let ca = b.apply(Concatenate::default(), &[&mp, &ap]);
    let a1 = b.apply(activation("gelu"), &[&ca]);
    let a2 = b.apply(activation("hard_sigmoid"), &[&ca]);
    let mu = b.apply(Multiply {}, &[&a1, &a2]);
    let r1 = b.apply(
        ReLU {
            negative_slope: 0.1,
            ..ReLU::default()
        },
        &[&mu],
    );
    let r2 = b.apply(ReLU::capped(0.8), &[&mu]);
    let ad = b.apply(Add {}, &[&r1, &r2, &a1]);
    let g1 = b.apply(global_avg_pool(), &[&ad]);
    let g2 = b.apply(GlobalMaxPooling2D {}, &[&ad]);
    let g3 = b.chain(&d2, [activation("sigmoid"), global_avg_pool()]);
    let cg = b.apply(Concatenate::default(), &[&g1, &g2, &g3]);
    let conv_out = b.apply(conv2d(4, 1, "sigmoid"), &[&ad]);
    let fl = b.apply(flatten(), &[&conv_out]);
    let re = b.apply(
        Reshape {
            target_shape: vec![2, -1, 4],
        },
        &[&conv_out],
    );
    let re_f = b.chain(&re, [activation("softmax"), flatten()]);
    let all = b.apply(Concatenate::default(), &[&cg, &fl, &re_f]);
    let out = b.chain(
        &all,
        [
            dense(16, "leaky_relu"),
            dropout(0.5),
            batch_norm(),
            dense(5, "softmax"),
        ],
    );
    b.build(&[&out])
}

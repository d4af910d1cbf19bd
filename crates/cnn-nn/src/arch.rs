//! A model spec resolved into layers with names, output shapes, parameter shapes and costs —
//! without allocating any weights (so a 138M-parameter VGG summary is instant).
//!
//! **Automatic names** follow tf.keras 2.x: the first layer of a kind is `conv2d`, the next
//! `conv2d_1`, then `conv2d_2`, counted per model. (Standalone Keras 2.2, used in Chollet's first
//! edition, started at `conv2d_1`.) Explicit names must be unique.

use std::collections::HashMap;

use cnn_ops::{
    Activation, BatchNormOptions, Conv2dGeometry, Conv2dOptions, LrnOptions, Padding, Pool2dOptions,
};
use cnn_tensor::Initializer;

use crate::error::{NnError, Result};
use crate::spec::{LayerSpec, ModelSpec, PaddingSpec, Size2};

/// Largest number of parameters a model may have (2^31, 8 GiB of `f32`).
pub const MAX_PARAMS: u64 = 1 << 31;
/// Largest number of activation values per sample for any layer output (2^28).
pub const MAX_ACTIVATIONS: u64 = 1 << 28;

/// A layer's activation, including the softmax (which is not element-wise).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationKind {
    /// An element-wise activation (`linear` included).
    Elementwise(Activation),
    /// Softmax over the last axis.
    Softmax,
}

impl ActivationKind {
    fn parse(name: &str) -> Option<Self> {
        if name == "softmax" {
            return Some(ActivationKind::Softmax);
        }
        Activation::from_name(name).map(ActivationKind::Elementwise)
    }

    /// The identity.
    pub fn is_linear(&self) -> bool {
        *self == ActivationKind::Elementwise(Activation::Linear)
    }
}

/// What a resolved layer computes.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    /// Convolution, then its activation.
    Conv2D {
        /// Kernel options.
        options: Conv2dOptions,
        /// Activation.
        activation: ActivationKind,
        /// Whether there is a bias.
        use_bias: bool,
    },
    /// Max pooling.
    MaxPool(Pool2dOptions),
    /// Average pooling.
    AvgPool(Pool2dOptions),
    /// Global average pooling.
    GlobalAvgPool,
    /// Flatten to `[N, features]`.
    Flatten,
    /// Fully connected, then its activation.
    Dense {
        /// Activation.
        activation: ActivationKind,
        /// Whether there is a bias.
        use_bias: bool,
    },
    /// Dropout (training only).
    Dropout(f32),
    /// Batch normalisation.
    BatchNorm(BatchNormOptions),
    /// A standalone activation.
    Activation(ActivationKind),
    /// Local response normalisation.
    Lrn(LrnOptions),
}

/// One weight tensor of a layer.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Full name, `layer/kernel`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Initialiser.
    pub init: Initializer,
    /// Trainable (false for batch-norm moving statistics).
    pub trainable: bool,
}

/// A layer resolved against its input shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Unique name.
    pub name: String,
    /// The spec it came from (with the resolved name filled in).
    pub spec: LayerSpec,
    /// What it computes.
    pub kind: LayerKind,
    /// Input shape without the batch dimension.
    pub input_shape: Vec<usize>,
    /// Output shape without the batch dimension.
    pub output_shape: Vec<usize>,
    /// Its weights (trainable first, then non-trainable).
    pub params: Vec<ParamSpec>,
    /// Multiply-adds per sample in the forward pass.
    pub macs: u64,
}

impl Layer {
    /// Trainable parameter count.
    pub fn trainable_params(&self) -> u64 {
        self.params
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.shape.iter().product::<usize>() as u64)
            .sum()
    }

    /// All parameters, trainable or not.
    pub fn total_params(&self) -> u64 {
        self.params
            .iter()
            .map(|p| p.shape.iter().product::<usize>() as u64)
            .sum()
    }

    /// Output values per sample.
    pub fn output_len(&self) -> u64 {
        self.output_shape.iter().map(|&d| d as u64).product()
    }
}

/// A resolved Sequential architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    /// The model's name.
    pub name: String,
    /// Input shape without the batch dimension.
    pub input_shape: Vec<usize>,
    /// The layers.
    pub layers: Vec<Layer>,
}

fn padding(p: PaddingSpec) -> Padding {
    match p {
        PaddingSpec::Valid => Padding::Valid,
        PaddingSpec::Same => Padding::Same,
    }
}

fn pair(s: Size2) -> (usize, usize) {
    (s.0, s.1)
}

fn shape_str(s: &[usize]) -> String {
    cnn_tensor::Shape::new(
        std::iter::once(0)
            .chain(s.iter().copied())
            .collect::<Vec<_>>(),
    )
    .keras_batch()
}

fn initializer(layer: &str, class: &'static str, name: &str) -> Result<Initializer> {
    Initializer::from_name(name).ok_or_else(|| NnError::Layer {
        layer: layer.into(),
        class,
        message: format!(
            "unknown initializer `{name}` (known: zeros, ones, glorot_uniform, glorot_normal, he_normal, \
             he_uniform, lecun_normal, lecun_uniform, random_normal, random_uniform)"
        ),
    })
}

fn activation(layer: &str, class: &'static str, name: &str) -> Result<ActivationKind> {
    ActivationKind::parse(name).ok_or_else(|| NnError::Layer {
        layer: layer.into(),
        class,
        message: format!("unknown activation `{name}` (known: linear, relu, elu, leaky_relu, sigmoid, tanh, softmax)"),
    })
}

impl Architecture {
    /// Resolves a spec: names every layer, infers every output shape, and checks that the model
    /// can run, with errors that name the layer and the shapes.
    pub fn from_spec(spec: &ModelSpec) -> Result<Self> {
        let model_err = |message: String| NnError::Model {
            model: spec.name.clone(),
            message,
        };
        if spec.input_shape.is_empty() || spec.input_shape.contains(&0) {
            return Err(model_err(format!(
                "input shape {:?} must have positive dimensions",
                spec.input_shape
            )));
        }
        let in_len = spec
            .input_shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        if in_len.is_none_or(|n| n > MAX_ACTIVATIONS) {
            return Err(model_err(format!(
                "input shape {:?} is too large (limit {MAX_ACTIVATIONS} values per sample)",
                spec.input_shape
            )));
        }
        if spec.layers.is_empty() {
            return Err(model_err("has no layers".into()));
        }
        let mut counters: HashMap<&str, usize> = HashMap::new();
        let mut taken: HashMap<String, usize> = HashMap::new();
        let mut shape = spec.input_shape.clone();
        let mut layers = Vec::with_capacity(spec.layers.len());
        let mut total_params = 0u64;
        for (i, ls) in spec.layers.iter().enumerate() {
            let name = match ls.name() {
                Some(n) => n.to_string(),
                None => loop {
                    let prefix = ls.auto_prefix();
                    let c = counters.entry(prefix).or_insert(0);
                    let n = if *c == 0 {
                        prefix.to_string()
                    } else {
                        format!("{prefix}_{c}")
                    };
                    *c += 1;
                    if !taken.contains_key(&n) {
                        break n;
                    }
                },
            };
            if let Some(j) = taken.insert(name.clone(), i) {
                return Err(model_err(format!(
                    "layers {} and {} are both named `{name}`",
                    j + 1,
                    i + 1
                )));
            }
            let layer = resolve(ls, &name, &shape)?;
            let out_len = layer.output_len();
            if out_len == 0 || out_len > MAX_ACTIVATIONS {
                return Err(NnError::Layer {
                    layer: name,
                    class: ls.class_name(),
                    message: format!(
                        "output {} has {out_len} values per sample (limit {MAX_ACTIVATIONS})",
                        shape_str(&layer.output_shape)
                    ),
                });
            }
            total_params = total_params.saturating_add(layer.total_params());
            if total_params > MAX_PARAMS {
                return Err(NnError::Layer {
                    layer: name,
                    class: ls.class_name(),
                    message: format!(
                        "the model reaches {total_params} parameters here, over the limit of {MAX_PARAMS}"
                    ),
                });
            }
            shape = layer.output_shape.clone();
            layers.push(layer);
        }
        Ok(Architecture {
            name: spec.name.clone(),
            input_shape: spec.input_shape.clone(),
            layers,
        })
    }

    /// The spec with every layer's resolved name written in (what a saved model stores).
    pub fn to_spec(&self) -> ModelSpec {
        ModelSpec {
            name: self.name.clone(),
            input_shape: self.input_shape.clone(),
            layers: self.layers.iter().map(|l| l.spec.clone()).collect(),
        }
    }

    /// Output shape of the model without the batch dimension.
    pub fn output_shape(&self) -> &[usize] {
        self.layers
            .last()
            .map_or(&self.input_shape[..], |l| &l.output_shape[..])
    }

    /// Every parameter, in layer order.
    pub fn params(&self) -> impl Iterator<Item = &ParamSpec> {
        self.layers.iter().flat_map(|l| l.params.iter())
    }

    /// `(total, trainable, non-trainable)` parameter counts.
    pub fn param_counts(&self) -> (u64, u64, u64) {
        let total: u64 = self.layers.iter().map(Layer::total_params).sum();
        let trainable: u64 = self.layers.iter().map(Layer::trainable_params).sum();
        (total, trainable, total - trainable)
    }

    /// The index of the layer called `name`.
    pub fn layer_index(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }
}

fn resolve(ls: &LayerSpec, name: &str, input: &[usize]) -> Result<Layer> {
    let class = ls.class_name();
    let err = |message: String| NnError::Layer {
        layer: name.into(),
        class,
        message,
    };
    let need_image = |what: &str| -> Result<(usize, usize, usize)> {
        match *input {
            [h, w, c] => Ok((h, w, c)),
            _ => Err(err(format!(
                "{what} needs an image input (None, H, W, C), got {}",
                shape_str(input)
            ))),
        }
    };
    let mut params = Vec::new();
    let mut macs = 0u64;
    let (kind, output_shape) = match ls {
        LayerSpec::Conv2D {
            filters,
            kernel_size,
            strides,
            padding: p,
            dilation_rate,
            activation: a,
            use_bias,
            kernel_initializer,
            bias_initializer,
            ..
        } => {
            let (h, w, c) = need_image("Conv2D")?;
            if *filters == 0 {
                return Err(err("filters must be at least 1".into()));
            }
            let options = Conv2dOptions {
                strides: pair(*strides),
                padding: padding(*p),
                dilation: pair(*dilation_rate),
            };
            let kshape = [kernel_size.0, kernel_size.1, c, *filters];
            let g = Conv2dGeometry::new(&[1, h, w, c], &kshape, &options).map_err(|e| {
                err(format!(
                    "{} with kernel {}x{} on input {}",
                    op_message(&e),
                    kernel_size.0,
                    kernel_size.1,
                    shape_str(input)
                ))
            })?;
            let kparams = (kshape.iter().map(|&d| d as u64)).product::<u64>();
            if kparams > MAX_PARAMS {
                return Err(err(format!(
                    "kernel {kshape:?} has {kparams} parameters, over the limit of {MAX_PARAMS}"
                )));
            }
            params.push(ParamSpec {
                name: format!("{name}/kernel"),
                shape: kshape.to_vec(),
                init: initializer(name, class, kernel_initializer)?,
                trainable: true,
            });
            if *use_bias {
                params.push(ParamSpec {
                    name: format!("{name}/bias"),
                    shape: vec![*filters],
                    init: initializer(name, class, bias_initializer)?,
                    trainable: true,
                });
            }
            macs = g.macs();
            let act = activation(name, class, a)?;
            (
                LayerKind::Conv2D {
                    options,
                    activation: act,
                    use_bias: *use_bias,
                },
                vec![g.window.out_h, g.window.out_w, *filters],
            )
        }
        LayerSpec::MaxPooling2D {
            pool_size,
            strides,
            padding: p,
            ..
        }
        | LayerSpec::AveragePooling2D {
            pool_size,
            strides,
            padding: p,
            ..
        } => {
            let (h, w, c) = need_image(class)?;
            let o = Pool2dOptions {
                pool_size: pair(*pool_size),
                strides: strides.map(pair),
                padding: padding(*p),
            };
            let (_, _, win) = o.resolve("pool", &[1, h, w, c]).map_err(|e| {
                err(format!(
                    "{} with pool {}x{} on input {}",
                    op_message(&e),
                    pool_size.0,
                    pool_size.1,
                    shape_str(input)
                ))
            })?;
            macs = (win.out_h * win.out_w * c * pool_size.0 * pool_size.1) as u64;
            let kind = if matches!(ls, LayerSpec::MaxPooling2D { .. }) {
                LayerKind::MaxPool(o)
            } else {
                LayerKind::AvgPool(o)
            };
            (kind, vec![win.out_h, win.out_w, c])
        }
        LayerSpec::GlobalAveragePooling2D { .. } => {
            let (h, w, c) = need_image(class)?;
            macs = (h * w * c) as u64;
            (LayerKind::GlobalAvgPool, vec![c])
        }
        LayerSpec::Flatten { .. } => (LayerKind::Flatten, vec![input.iter().product()]),
        LayerSpec::Dense {
            units,
            activation: a,
            use_bias,
            kernel_initializer,
            bias_initializer,
            ..
        } => {
            let [features] = *input else {
                return Err(err(format!(
                    "Dense needs a flat input (None, features), got {}; add a Flatten layer before it",
                    shape_str(input)
                )));
            };
            if *units == 0 {
                return Err(err("units must be at least 1".into()));
            }
            let kparams = (features as u64).saturating_mul(*units as u64);
            if kparams > MAX_PARAMS {
                return Err(err(format!(
                    "kernel [{features}, {units}] has {kparams} parameters, over the limit of {MAX_PARAMS}"
                )));
            }
            params.push(ParamSpec {
                name: format!("{name}/kernel"),
                shape: vec![features, *units],
                init: initializer(name, class, kernel_initializer)?,
                trainable: true,
            });
            if *use_bias {
                params.push(ParamSpec {
                    name: format!("{name}/bias"),
                    shape: vec![*units],
                    init: initializer(name, class, bias_initializer)?,
                    trainable: true,
                });
            }
            macs = kparams;
            let act = activation(name, class, a)?;
            (
                LayerKind::Dense {
                    activation: act,
                    use_bias: *use_bias,
                },
                vec![*units],
            )
        }
        LayerSpec::Dropout { rate, .. } => {
            if !(0.0..1.0).contains(rate) {
                return Err(err(format!("rate {rate} is not in [0, 1)")));
            }
            (LayerKind::Dropout(*rate), input.to_vec())
        }
        LayerSpec::BatchNormalization {
            momentum, epsilon, ..
        } => {
            let c = *input.last().unwrap_or(&0);
            if !(0.0..=1.0).contains(momentum) || epsilon.is_nan() || *epsilon <= 0.0 {
                return Err(err(format!(
                    "momentum {momentum} must be in [0, 1] and epsilon {epsilon} positive"
                )));
            }
            for (p, init, trainable) in [
                ("gamma", Initializer::Ones, true),
                ("beta", Initializer::Zeros, true),
                ("moving_mean", Initializer::Zeros, false),
                ("moving_variance", Initializer::Ones, false),
            ] {
                params.push(ParamSpec {
                    name: format!("{name}/{p}"),
                    shape: vec![c],
                    init,
                    trainable,
                });
            }
            macs = 2 * input.iter().product::<usize>() as u64;
            (
                LayerKind::BatchNorm(BatchNormOptions {
                    momentum: *momentum,
                    epsilon: *epsilon,
                }),
                input.to_vec(),
            )
        }
        LayerSpec::Activation { activation: a, .. } => (
            LayerKind::Activation(activation(name, class, a)?),
            input.to_vec(),
        ),
        LayerSpec::LocalResponseNormalization {
            depth_radius,
            bias,
            alpha,
            beta,
            ..
        } => (
            LayerKind::Lrn(LrnOptions {
                depth_radius: *depth_radius,
                bias: *bias,
                alpha: *alpha,
                beta: *beta,
            }),
            input.to_vec(),
        ),
    };
    Ok(Layer {
        name: name.to_string(),
        spec: ls.clone().named(name),
        kind,
        input_shape: input.to_vec(),
        output_shape,
        params,
        macs,
    })
}

/// The op error's message without the op prefix (the layer is named instead).
fn op_message(e: &cnn_ops::OpError) -> String {
    match e {
        cnn_ops::OpError::Shape { message, .. } => message.clone(),
        cnn_ops::OpError::Option {
            option, message, ..
        } => format!("invalid {option}: {message}"),
        other => other.to_string(),
    }
}

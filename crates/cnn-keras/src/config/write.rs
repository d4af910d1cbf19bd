//! A cnn architecture as a Keras 3 `config.json`: `Sequential` when the model is a chain,
//! `Functional` (with `inbound_nodes`) otherwise, each layer under its Keras class name with
//! the arguments Keras's constructor takes.

use cnn_nn::layers::{Padding2, Pooling};
use cnn_nn::spec::{PaddingSpec, Size2};
use cnn_nn::{Architecture, Layer, LayerConfig, Source};
use serde_json::{Map, Value, json};

use super::num;
use crate::error::{Result, layer_err};
use crate::naming::functional_order;

fn pair(s: Size2) -> Value {
    json!([s.0, s.1])
}

fn padding(p: PaddingSpec) -> Value {
    json!(match p {
        PaddingSpec::Valid => "valid",
        PaddingSpec::Same => "same",
    })
}

/// Our activation name as Keras's (`None` and `none` are `linear`).
fn activation(name: &str) -> Value {
    json!(match name {
        "None" | "none" => "linear",
        other => other,
    })
}

fn pooling(p: &Pooling) -> Map<String, Value> {
    obj(json!({
        "pool_size": pair(p.pool_size),
        "strides": pair(p.strides.unwrap_or(p.pool_size)),
        "padding": padding(p.padding),
        "data_format": "channels_last",
    }))
}

fn zero_padding(p: &Padding2) -> Value {
    json!([[p.rows.0, p.rows.1], [p.cols.0, p.cols.1]])
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The Keras arguments of `layer` (without `name` and `trainable`), or an error for a layer
/// Keras has no class for.
fn arguments(layer: &Layer) -> Result<Map<String, Value>> {
    let class = layer.config().class_name();
    Ok(obj(match layer.config() {
        LayerConfig::Conv2D(l) => json!({
            "filters": l.filters,
            "kernel_size": pair(l.kernel_size),
            "strides": pair(l.strides),
            "padding": padding(l.padding),
            "data_format": "channels_last",
            "dilation_rate": pair(l.dilation_rate),
            "groups": 1,
            "activation": activation(&l.activation),
            "use_bias": l.use_bias,
            "kernel_initializer": l.kernel_initializer,
            "bias_initializer": l.bias_initializer,
        }),
        LayerConfig::DepthwiseConv2D(l) => json!({
            "kernel_size": pair(l.kernel_size),
            "strides": pair(l.strides),
            "padding": padding(l.padding),
            "depth_multiplier": l.depth_multiplier,
            "data_format": "channels_last",
            "dilation_rate": pair(l.dilation_rate),
            "activation": activation(&l.activation),
            "use_bias": l.use_bias,
            "depthwise_initializer": l.depthwise_initializer,
            "bias_initializer": l.bias_initializer,
        }),
        LayerConfig::SeparableConv2D(l) => json!({
            "filters": l.filters,
            "kernel_size": pair(l.kernel_size),
            "strides": pair(l.strides),
            "padding": padding(l.padding),
            "depth_multiplier": l.depth_multiplier,
            "data_format": "channels_last",
            "dilation_rate": pair(l.dilation_rate),
            "activation": activation(&l.activation),
            "use_bias": l.use_bias,
            "depthwise_initializer": l.depthwise_initializer,
            "pointwise_initializer": l.pointwise_initializer,
            "bias_initializer": l.bias_initializer,
        }),
        LayerConfig::Dense(l) => json!({
            "units": l.units,
            "activation": activation(&l.activation),
            "use_bias": l.use_bias,
            "kernel_initializer": l.kernel_initializer,
            "bias_initializer": l.bias_initializer,
        }),
        LayerConfig::MaxPooling2D(l) => Value::Object(pooling(&l.0)),
        LayerConfig::AveragePooling2D(l) => Value::Object(pooling(&l.0)),
        LayerConfig::GlobalAveragePooling2D(_) | LayerConfig::GlobalMaxPooling2D(_) => {
            json!({"data_format": "channels_last", "keepdims": false})
        }
        LayerConfig::Flatten(_) => json!({"data_format": "channels_last"}),
        LayerConfig::Reshape(l) => json!({"target_shape": l.target_shape}),
        LayerConfig::ZeroPadding2D(l) => json!({
            "padding": zero_padding(&l.padding),
            "data_format": "channels_last",
        }),
        LayerConfig::Dropout(l) => json!({"rate": num(l.rate), "seed": null, "noise_shape": null}),
        LayerConfig::BatchNormalization(l) => json!({
            "axis": -1,
            "momentum": num(l.momentum),
            "epsilon": num(l.epsilon),
            "center": true,
            "scale": true,
        }),
        LayerConfig::Activation(l) => json!({"activation": activation(&l.activation)}),
        LayerConfig::ReLU(l) => json!({
            "max_value": l.max_value.map_or(Value::Null, num),
            "negative_slope": num(l.negative_slope),
            "threshold": num(l.threshold),
        }),
        LayerConfig::Rescaling(l) => json!({"scale": num(l.scale), "offset": num(l.offset)}),
        LayerConfig::Add(_) | LayerConfig::Multiply(_) => json!({}),
        LayerConfig::Concatenate(l) => json!({"axis": l.axis}),
        LayerConfig::LocalResponseNormalization(_) => {
            return Err(layer_err(
                &layer.name,
                class,
                "Keras has no local response normalisation layer (it left Keras with Keras 1), \
                 so this model cannot be written as a .keras file; export it to ONNX instead",
            ));
        }
    }))
}

/// `[null, d1, d2, ...]`: a shape with Keras's unknown batch dimension.
fn batch_shape(shape: &[usize]) -> Value {
    let mut v = vec![Value::Null];
    v.extend(shape.iter().map(|&d| json!(d)));
    Value::Array(v)
}

/// A Keras 3 serialised layer: `module`, `class_name`, `config` (with `name` and
/// `trainable`), `registered_name`.
fn layer_entry(layer: &Layer) -> Result<Map<String, Value>> {
    let mut config = Map::new();
    config.insert("name".into(), json!(layer.name));
    config.insert("trainable".into(), json!(layer.is_trainable()));
    config.insert("dtype".into(), json!("float32"));
    config.extend(arguments(layer)?);
    let shapes: Vec<Value> = layer.input_shapes.iter().map(|s| batch_shape(s)).collect();
    let input_shape = match &shapes[..] {
        [one] => one.clone(),
        _ => Value::Array(shapes),
    };
    Ok(obj(json!({
        "module": "keras.layers",
        "class_name": layer.config().class_name(),
        "config": config,
        "registered_name": null,
        "build_config": {"input_shape": input_shape},
    })))
}

fn input_entry(arch: &Architecture) -> Map<String, Value> {
    obj(json!({
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": batch_shape(&arch.input_shape),
            "dtype": "float32",
            "sparse": false,
            "name": arch.input_name,
        },
        "registered_name": null,
    }))
}

/// A `__keras_tensor__` reference to what `s` produces.
fn tensor_ref(arch: &Architecture, s: Source) -> Value {
    let shape = match s {
        Source::Input => &arch.input_shape,
        Source::Layer(j) => &arch.layers[j].output_shape,
    };
    json!({
        "class_name": "__keras_tensor__",
        "config": {
            "shape": batch_shape(shape),
            "dtype": "float32",
            "keras_history": [arch.source_name(s), 0, 0],
        },
    })
}

/// The Keras layers of `arch` in the order Keras lists them: the input first for a
/// Functional model (absent from a Sequential one's list), then the layers.
pub(crate) fn keras_order(arch: &Architecture) -> Vec<Option<usize>> {
    if arch.is_sequential() {
        (0..arch.layers.len()).map(Some).collect()
    } else {
        functional_order(arch)
    }
}

/// `arch` as Keras's `config.json` tree.
pub(crate) fn model_config(arch: &Architecture) -> Result<Value> {
    for l in &arch.layers {
        if l.name.contains('/') {
            return Err(layer_err(
                &l.name,
                l.config().class_name(),
                "Keras names cannot contain `/`",
            ));
        }
    }
    let build_config = json!({"input_shape": batch_shape(&arch.input_shape)});
    if arch.is_sequential() {
        let mut layers = vec![Value::Object(input_entry(arch))];
        for l in &arch.layers {
            layers.push(Value::Object(layer_entry(l)?));
        }
        return Ok(json!({
            "module": "keras",
            "class_name": "Sequential",
            "config": {
                "name": arch.name,
                "trainable": true,
                "dtype": "float32",
                "layers": layers,
                "build_input_shape": batch_shape(&arch.input_shape),
            },
            "registered_name": null,
            "build_config": build_config,
        }));
    }
    let order = keras_order(arch);
    let reached: std::collections::HashSet<usize> = order.iter().flatten().copied().collect();
    if let Some(dead) = (0..arch.layers.len()).find(|i| !reached.contains(i)) {
        let l = &arch.layers[dead];
        return Err(layer_err(
            &l.name,
            l.config().class_name(),
            "reaches none of the model's outputs; Keras drops such layers, so the file could not \
             hold its weights",
        ));
    }
    let mut layers = Vec::with_capacity(order.len());
    for entry in &order {
        let e = match entry {
            None => {
                let mut e = input_entry(arch);
                e.insert("name".into(), json!(arch.input_name));
                e.insert("inbound_nodes".into(), json!([]));
                e
            }
            Some(i) => {
                let l = &arch.layers[*i];
                let mut e = layer_entry(l)?;
                let refs: Vec<Value> = l.inputs.iter().map(|&s| tensor_ref(arch, s)).collect();
                let args = match &refs[..] {
                    [one] => vec![one.clone()],
                    _ => vec![Value::Array(refs)],
                };
                e.insert("name".into(), json!(l.name));
                e.insert(
                    "inbound_nodes".into(),
                    json!([{"args": args, "kwargs": {}}]),
                );
                e
            }
        };
        layers.push(Value::Object(e));
    }
    let outputs: Vec<Value> = arch
        .outputs
        .iter()
        .map(|&o| json!([arch.layers[o].name, 0, 0]))
        .collect();
    let output_layers = match &outputs[..] {
        [one] => one.clone(),
        _ => Value::Array(outputs),
    };
    Ok(json!({
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": arch.name,
            "trainable": true,
            "layers": layers,
            "input_layers": [arch.input_name, 0, 0],
            "output_layers": output_layers,
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": null},
    }))
}

//! A Keras `config.json` (Keras 3, or the `model_config` of a legacy Keras 2 HDF5 file) as a
//! cnn [`ModelSpec`]: `Sequential` and `Functional` models of the layers cnn has, each
//! argument checked; what cnn cannot honour is an error naming the layer and its class, and
//! what it ignores (regularisers, constraints) is reported as a note. Frozen layers
//! (`trainable: false`) stay frozen.

use cnn_nn::{LayerConfig, LayerSpec, ModelSpec};
use serde_json::{Map, Value, json};

use crate::error::{KerasError, Result, layer_err};

/// What a config holds: the spec, the Keras layers in the order the file lists them (their
/// Keras class and name; weights are counted in this order), and notes on what was ignored.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub spec: ModelSpec,
    /// `(Keras class, layer name)`; the input layer is listed for Functional models only.
    pub order: Vec<(String, String)>,
    pub notes: Vec<String>,
}

/// The Keras classes cnn reads.
pub const SUPPORTED: &[&str] = &[
    "InputLayer",
    "Conv2D",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Dense",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "ZeroPadding2D",
    "Dropout",
    "BatchNormalization",
    "Activation",
    "Softmax",
    "ReLU",
    "LeakyReLU",
    "Rescaling",
    "Add",
    "Multiply",
    "Concatenate",
];

fn model_err(message: impl Into<String>) -> KerasError {
    KerasError::Model(message.into())
}

/// One layer entry of a config being read.
struct Entry<'a> {
    class: &'a str,
    name: String,
    config: &'a Map<String, Value>,
}

impl Entry<'_> {
    fn err(&self, message: impl Into<String>) -> KerasError {
        layer_err(&self.name, self.class, message)
    }

    /// Keras's `trainable` (absent: true).
    fn trainable(&self) -> bool {
        self.get("trainable") != Some(&Value::Bool(false))
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    /// The activation argument as a name (Keras 3 writes a string; older files may wrap it).
    fn activation(&self, key: &str) -> Result<Value> {
        match self.get(key) {
            None => Ok(json!("linear")),
            Some(Value::String(s)) => Ok(json!(s)),
            Some(Value::Object(o)) => match o.get("config") {
                Some(Value::String(s)) => Ok(json!(s)),
                _ => Err(self.err(format!(
                    "activation {} is not a built-in one",
                    Value::Object(o.clone())
                ))),
            },
            Some(other) => Err(self.err(format!("activation {other} is not a name"))),
        }
    }

    /// An initializer as cnn's name; one cnn does not have falls back to `default` with a
    /// note (it only matters for training from scratch: imported weights replace it).
    fn initializer(&self, key: &str, default: &str, notes: &mut Vec<String>) -> Value {
        let name = match self.get(key) {
            None => return json!(default),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("class_name")
                .and_then(Value::as_str)
                .map(crate::naming::snake_case)
                .unwrap_or_default(),
            Some(_) => String::new(),
        };
        if cnn_tensor::Initializer::from_name(&name).is_some() {
            json!(name)
        } else {
            notes.push(format!(
                "layer `{}`: {key} `{name}` is not one cnn has; `{default}` is used if it is re-initialised",
                self.name
            ));
            json!(default)
        }
    }

    fn channels_last(&self) -> Result<()> {
        match self.get("data_format").and_then(Value::as_str) {
            None | Some("channels_last") => Ok(()),
            Some(other) => Err(self.err(format!(
                "data_format `{other}` is not supported: cnn images are channels_last (NHWC)"
            ))),
        }
    }

    /// Copies the keys present (not null) from the Keras config.
    fn copy(&self, out: &mut Map<String, Value>, keys: &[&str]) {
        for &k in keys {
            if let Some(v) = self.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
    }

    fn note_ignored(&self, notes: &mut Vec<String>) {
        for key in [
            "kernel_regularizer",
            "bias_regularizer",
            "activity_regularizer",
            "depthwise_regularizer",
            "pointwise_regularizer",
            "beta_regularizer",
            "gamma_regularizer",
            "kernel_constraint",
            "bias_constraint",
            "depthwise_constraint",
            "pointwise_constraint",
            "beta_constraint",
            "gamma_constraint",
        ] {
            if self.get(key).is_some() {
                notes.push(format!("layer `{}`: {key} ignored", self.name));
            }
        }
    }
}

/// The cnn layer config (our JSON spec form) of a Keras layer.
fn convert(e: &Entry<'_>, notes: &mut Vec<String>) -> Result<LayerConfig> {
    e.channels_last()?;
    e.note_ignored(notes);
    let mut o = Map::new();
    let class = match e.class {
        "Conv2D" => {
            if let Some(g) = e.get("groups").and_then(Value::as_u64).filter(|&g| g != 1) {
                return Err(e.err(format!("groups={g} is not supported (only 1)")));
            }
            e.copy(
                &mut o,
                &[
                    "filters",
                    "kernel_size",
                    "strides",
                    "padding",
                    "dilation_rate",
                    "use_bias",
                ],
            );
            o.insert("activation".into(), e.activation("activation")?);
            o.insert(
                "kernel_initializer".into(),
                e.initializer("kernel_initializer", "glorot_uniform", notes),
            );
            o.insert(
                "bias_initializer".into(),
                e.initializer("bias_initializer", "zeros", notes),
            );
            "Conv2D"
        }
        "DepthwiseConv2D" | "SeparableConv2D" => {
            e.copy(
                &mut o,
                &[
                    "kernel_size",
                    "strides",
                    "padding",
                    "depth_multiplier",
                    "dilation_rate",
                    "use_bias",
                ],
            );
            if e.class == "SeparableConv2D" {
                e.copy(&mut o, &["filters"]);
                o.insert(
                    "pointwise_initializer".into(),
                    e.initializer("pointwise_initializer", "glorot_uniform", notes),
                );
            }
            o.insert("activation".into(), e.activation("activation")?);
            o.insert(
                "depthwise_initializer".into(),
                e.initializer("depthwise_initializer", "glorot_uniform", notes),
            );
            o.insert(
                "bias_initializer".into(),
                e.initializer("bias_initializer", "zeros", notes),
            );
            e.class
        }
        "Dense" => {
            e.copy(&mut o, &["units", "use_bias"]);
            o.insert("activation".into(), e.activation("activation")?);
            o.insert(
                "kernel_initializer".into(),
                e.initializer("kernel_initializer", "glorot_uniform", notes),
            );
            o.insert(
                "bias_initializer".into(),
                e.initializer("bias_initializer", "zeros", notes),
            );
            "Dense"
        }
        "MaxPooling2D" | "AveragePooling2D" => {
            e.copy(&mut o, &["pool_size", "padding"]);
            // Keras writes the default (strides = pool_size) out; cnn leaves it implicit.
            if let Some(s) = e.get("strides")
                && Some(s) != e.get("pool_size")
            {
                o.insert("strides".into(), s.clone());
            }
            e.class
        }
        "GlobalAveragePooling2D" | "GlobalMaxPooling2D" => {
            if e.get("keepdims") == Some(&Value::Bool(true)) {
                return Err(e.err("keepdims=True is not supported"));
            }
            e.class
        }
        "Flatten" => "Flatten",
        "Reshape" => {
            e.copy(&mut o, &["target_shape"]);
            "Reshape"
        }
        "ZeroPadding2D" => {
            e.copy(&mut o, &["padding"]);
            "ZeroPadding2D"
        }
        "Dropout" => {
            if e.get("noise_shape").is_some() {
                return Err(e.err("noise_shape is not supported"));
            }
            e.copy(&mut o, &["rate"]);
            "Dropout"
        }
        "BatchNormalization" => {
            let axis_ok = match e.get("axis") {
                None => true,
                Some(Value::Array(a)) => a.len() == 1 && matches!(a[0].as_i64(), Some(-1 | 3)),
                Some(v) => matches!(v.as_i64(), Some(-1 | 3)),
            };
            if !axis_ok {
                return Err(e.err("only axis=-1 (the channels) is supported"));
            }
            for key in ["center", "scale"] {
                if e.get(key) == Some(&Value::Bool(false)) {
                    return Err(e.err(format!("{key}=False is not supported")));
                }
            }
            e.copy(&mut o, &["momentum", "epsilon"]);
            "BatchNormalization"
        }
        "Activation" => {
            o.insert("activation".into(), e.activation("activation")?);
            "Activation"
        }
        "Softmax" => {
            match e.get("axis").and_then(Value::as_i64) {
                None | Some(-1) => {}
                Some(a) => return Err(e.err(format!("axis={a} is not supported (only -1)"))),
            }
            o.insert("activation".into(), json!("softmax"));
            "Activation"
        }
        "ReLU" => {
            e.copy(&mut o, &["max_value", "negative_slope", "threshold"]);
            "ReLU"
        }
        "LeakyReLU" => {
            // Keras 3 calls the slope `negative_slope`, Keras 2 `alpha`; the default is 0.3.
            let slope = e.get("negative_slope").or_else(|| e.get("alpha")).cloned();
            o.insert("negative_slope".into(), slope.unwrap_or(json!(0.3)));
            "ReLU"
        }
        "Rescaling" => {
            for key in ["scale", "offset"] {
                match e.get(key) {
                    None => {}
                    Some(v) if v.is_number() => {
                        o.insert(key.into(), v.clone());
                    }
                    Some(v) => {
                        return Err(e.err(format!("{key} {v} is not supported (only a number)")));
                    }
                }
            }
            "Rescaling"
        }
        "Add" | "Multiply" => e.class,
        "Concatenate" => {
            e.copy(&mut o, &["axis"]);
            "Concatenate"
        }
        other => {
            return Err(e.err(format!(
                "Keras layer class `{other}` is not supported by cnn (it reads {})",
                SUPPORTED.join(", ")
            )));
        }
    };
    o.insert("type".into(), json!(class));
    serde_json::from_value(Value::Object(o)).map_err(|err| e.err(err.to_string()))
}

fn entry<'a>(v: &'a Value, i: usize) -> Result<Entry<'a>> {
    let class = v
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| model_err(format!("layer {i} of the config has no class_name")))?;
    let config = v
        .get("config")
        .and_then(Value::as_object)
        .ok_or_else(|| model_err(format!("layer {i} ({class}) has no config")))?;
    let name = v
        .get("name")
        .or_else(|| config.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| model_err(format!("layer {i} ({class}) has no name")))?
        .to_string();
    if matches!(class, "Sequential" | "Functional" | "Model") {
        return Err(layer_err(
            &name,
            class,
            "a model nested in a model is not supported; save the inner model on its own",
        ));
    }
    Ok(Entry {
        class,
        name,
        config,
    })
}

/// `[None, h, w, c]` (a Keras batch shape) as `[h, w, c]`.
fn shape_of(v: &Value, what: &str) -> Result<Vec<usize>> {
    let a = v
        .as_array()
        .filter(|a| a.len() >= 2)
        .ok_or_else(|| model_err(format!("{what}: {v} is not a batch shape")))?;
    a[1..]
        .iter()
        .map(|d| {
            d.as_u64()
                .filter(|&d| d > 0 && d as usize <= cnn_nn::MAX_DIM)
                .map(|d| d as usize)
                .ok_or_else(|| {
                    model_err(format!(
                        "{what}: input shape {v} needs fixed positive sizes (cnn builds a model \
                         for one input size; pass it when you build the model in Keras)"
                    ))
                })
        })
        .collect()
}

fn input_shape_of(e: &Entry<'_>) -> Option<Result<Vec<usize>>> {
    e.get("batch_shape")
        .or_else(|| e.get("batch_input_shape"))
        .map(|v| shape_of(v, &format!("layer `{}`", e.name)))
}

/// `[name, node, tensor]` (Keras's history triple) → the name, checking node and tensor are 0.
fn history_name(v: &Value, layer: &str) -> Result<String> {
    let a = v.as_array().filter(|a| a.len() >= 3);
    match a.map(|a| (a[0].as_str(), a[1].as_u64(), a[2].as_u64())) {
        Some((Some(name), Some(0), Some(0))) => Ok(name.to_string()),
        Some((Some(name), _, _)) => Err(model_err(format!(
            "layer `{layer}` reads `{name}` at another node or output (shared layers are not supported)"
        ))),
        _ => Err(model_err(format!(
            "layer `{layer}`: bad tensor reference {v}"
        ))),
    }
}

/// The names a functional layer reads (Keras 3 `{"args": ...}` nodes or Keras 2 lists).
fn inbound(v: &Value, layer: &str, class: &str) -> Result<Vec<String>> {
    let nodes = v.get("inbound_nodes").and_then(Value::as_array);
    let node = match nodes.map(Vec::as_slice) {
        Some([one]) => one,
        Some([]) | None => return Err(layer_err(layer, class, "reads nothing (no inbound node)")),
        Some(many) => {
            return Err(layer_err(
                layer,
                class,
                format!(
                    "is called {} times (shared layers are not supported)",
                    many.len()
                ),
            ));
        }
    };
    let mut names = Vec::new();
    if let Some(args) = node.get("args").and_then(Value::as_array) {
        // Keras 3: the first argument is a tensor or a list of tensors.
        let first = args
            .first()
            .ok_or_else(|| layer_err(layer, class, "inbound node without arguments"))?;
        let tensors: Vec<&Value> = match first {
            Value::Array(list) => list.iter().collect(),
            one => vec![one],
        };
        for t in tensors {
            let h = t
                .get("config")
                .and_then(|c| c.get("keras_history"))
                .ok_or_else(|| {
                    layer_err(layer, class, format!("argument {t} is not a Keras tensor"))
                })?;
            names.push(history_name(h, layer)?);
        }
    } else if let Some(list) = node.as_array() {
        // Keras 2: [[name, node, tensor, kwargs], ...].
        for h in list {
            names.push(history_name(h, layer)?);
        }
    } else {
        return Err(layer_err(
            layer,
            class,
            format!("unreadable inbound node {node}"),
        ));
    }
    Ok(names)
}

/// The names in `input_layers` / `output_layers`: one triple or a list of them.
fn endpoint_names(v: Option<&Value>, what: &str) -> Result<Vec<String>> {
    let v = v.ok_or_else(|| model_err(format!("the config has no {what}")))?;
    let a = v
        .as_array()
        .ok_or_else(|| model_err(format!("{what}: {v}")))?;
    if a.first().is_some_and(Value::is_string) {
        return Ok(vec![history_name(v, what)?]);
    }
    a.iter().map(|t| history_name(t, what)).collect()
}

/// Reads a model config (`config.json`'s tree).
pub(crate) fn parse_model(v: &Value) -> Result<Parsed> {
    let class = v.get("class_name").and_then(Value::as_str).unwrap_or("");
    let config = v
        .get("config")
        .and_then(Value::as_object)
        .ok_or_else(|| model_err("the model config has no `config`"))?;
    let name = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("model")
        .to_string();
    let layers = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| model_err("the model config lists no layers"))?;
    let mut notes = Vec::new();
    match class {
        "Sequential" => {
            let mut input_shape = None;
            let mut input_name = cnn_nn::DEFAULT_INPUT_NAME.to_string();
            let mut spec_layers = Vec::new();
            let mut order = Vec::new();
            for (i, lv) in layers.iter().enumerate() {
                let e = entry(lv, i)?;
                if e.class == "InputLayer" {
                    if i != 0 {
                        return Err(e.err("an input layer after the first layer"));
                    }
                    input_shape = input_shape_of(&e).transpose()?;
                    input_name = e.name.clone();
                    continue;
                }
                if input_shape.is_none() && spec_layers.is_empty() {
                    input_shape = input_shape_of(&e).transpose()?;
                }
                let config = convert(&e, &mut notes)?;
                order.push((e.class.to_string(), e.name.clone()));
                spec_layers.push(LayerSpec {
                    name: Some(e.name.clone()),
                    inputs: None,
                    config,
                    trainable: e.trainable(),
                });
            }
            let input_shape = match input_shape {
                Some(s) => s,
                None => {
                    let built = config
                        .get("build_input_shape")
                        .or_else(|| v.get("build_config").and_then(|b| b.get("input_shape")))
                        .filter(|s| !s.is_null())
                        .ok_or_else(|| {
                            model_err(
                                "the Sequential model has no input shape (it was never built)",
                            )
                        })?;
                    shape_of(built, "build_input_shape")?
                }
            };
            Ok(Parsed {
                spec: ModelSpec {
                    name,
                    input_shape,
                    input_name,
                    layers: spec_layers,
                    outputs: Vec::new(),
                },
                order,
                notes,
            })
        }
        "Functional" | "Model" => {
            let inputs = endpoint_names(config.get("input_layers"), "input_layers")?;
            let [input_name] = &inputs[..] else {
                return Err(model_err(format!(
                    "the model has {} inputs ({}); cnn models take one",
                    inputs.len(),
                    inputs.join(", ")
                )));
            };
            let outputs = endpoint_names(config.get("output_layers"), "output_layers")?;
            let mut input_shape = None;
            let mut spec_layers = Vec::new();
            let mut order = Vec::new();
            for (i, lv) in layers.iter().enumerate() {
                let e = entry(lv, i)?;
                order.push((e.class.to_string(), e.name.clone()));
                if e.class == "InputLayer" {
                    if &e.name != input_name {
                        return Err(e.err("an input layer that is not the model's input"));
                    }
                    input_shape =
                        Some(input_shape_of(&e).ok_or_else(|| e.err("has no batch_shape"))??);
                    continue;
                }
                let reads = inbound(lv, &e.name, e.class)?;
                let config = convert(&e, &mut notes)?;
                spec_layers.push(LayerSpec {
                    name: Some(e.name.clone()),
                    inputs: Some(reads),
                    config,
                    trainable: e.trainable(),
                });
            }
            let input_shape = input_shape.ok_or_else(|| {
                model_err(format!(
                    "the input layer `{input_name}` is not in the layer list"
                ))
            })?;
            Ok(Parsed {
                spec: ModelSpec {
                    name,
                    input_shape,
                    input_name: input_name.clone(),
                    layers: spec_layers,
                    outputs,
                },
                order,
                notes,
            })
        }
        other => Err(model_err(format!(
            "model class `{other}` is not supported (Sequential and Functional models are)"
        ))),
    }
}

//! The model walk: the graph input (NHWC transposed to NCHW, or NCHW as given), every layer in
//! order, the outputs named after their layers, and the model's metadata.

use std::collections::HashMap;
use std::path::Path;

use cnn_nn::{Model, Source};
use prost::Message;

use crate::error::{OnnxError, Result};
use crate::layers::{LayerCx, export_layer};
use crate::proto::onnx::{
    GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto,
    TypeProto, ValueInfoProto, tensor_proto::DataType, tensor_shape_proto::Dimension,
    tensor_shape_proto::dimension, type_proto,
};
use crate::writer::{GraphWriter, Layout, Value};

/// The opsets written: 13 (Softmax on one axis, Clip's inputs) to 21.
pub const OPSETS: std::ops::RangeInclusive<i64> = 13..=21;

/// The default opset (supported by ONNX Runtime, tract and TensorRT alike).
pub const DEFAULT_OPSET: i64 = 17;

/// The name of the batch dimension in the graph's input and outputs.
pub const BATCH_DIM: &str = "batch";

/// How to export.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    /// The ONNX opset (in [`OPSETS`]).
    pub opset: i64,
    /// Images in and out as NCHW (`[N, C, H, W]`) instead of Keras's NHWC.
    pub nchw: bool,
    /// Extra `metadata_props` entries (class names, preprocessing, ...).
    pub metadata: Vec<(String, String)>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            opset: DEFAULT_OPSET,
            nchw: false,
            metadata: Vec::new(),
        }
    }
}

/// The IR version that goes with an opset (onnx/onnx `docs/Versioning.md`).
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

fn tensor_type(dims: &[Option<usize>]) -> TypeProto {
    TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: Some(DataType::Float as i32),
            shape: Some(TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|d| Dimension {
                        value: Some(match d {
                            Some(n) => dimension::Value::DimValue(*n as i64),
                            None => dimension::Value::DimParam(BATCH_DIM.into()),
                        }),
                        ..Default::default()
                    })
                    .collect(),
            }),
        })),
        ..Default::default()
    }
}

/// `[batch, ...]` in the stored layout of a Keras shape.
fn stored_dims(shape: &[usize], nchw: bool) -> Vec<Option<usize>> {
    let mut d = vec![None];
    match (shape, nchw) {
        ([h, w, c], true) => d.extend([Some(*c), Some(*h), Some(*w)]),
        _ => d.extend(shape.iter().map(|&n| Some(n))),
    }
    d
}

/// `model` as an ONNX `ModelProto`.
pub fn to_model_proto(model: &Model, opts: &ExportOptions) -> Result<ModelProto> {
    if !OPSETS.contains(&opts.opset) {
        return Err(OnnxError::Option(format!(
            "opset {} is not supported: choose {} to {}",
            opts.opset,
            OPSETS.start(),
            OPSETS.end()
        )));
    }
    let arch = model.architecture();
    let weights: HashMap<&str, &cnn_tensor::Tensor> = model.named_weights().collect();
    let mut w = GraphWriter::default();
    let input_name = arch.input_name.clone();
    w.reserve(&input_name);
    for &o in &arch.outputs {
        w.reserve(&arch.layers[o].name);
    }
    let image = arch.input_shape.len() == 3;
    let input = ValueInfoProto {
        name: Some(input_name.clone()),
        r#type: Some(tensor_type(&stored_dims(
            &arch.input_shape,
            image && opts.nchw,
        ))),
        ..Default::default()
    };
    let input_value = Value {
        name: if image && !opts.nchw {
            w.transpose(&input_name, &input_name, [0, 3, 1, 2])
        } else {
            input_name.clone()
        },
        layout: if image { Layout::Nchw } else { Layout::Keras },
        shape: arch.input_shape.clone(),
    };
    let mut values: Vec<Value> = Vec::with_capacity(arch.layers.len());
    for layer in &arch.layers {
        let inputs = layer
            .inputs
            .iter()
            .map(|s| match s {
                Source::Input => input_value.clone(),
                Source::Layer(j) => values[*j].clone(),
            })
            .collect();
        let cx = LayerCx {
            layer,
            inputs,
            weights: &weights,
            opset: opts.opset,
        };
        let v = export_layer(&mut w, &cx)?;
        values.push(v);
    }
    let mut outputs = Vec::new();
    for &o in &arch.outputs {
        let (layer, v) = (&arch.layers[o], &values[o]);
        let name = layer.name.clone();
        if v.layout == Layout::Nchw && !opts.nchw {
            let perm = crate::writer::Attr::Ints(vec![0, 2, 3, 1]);
            w.node_to(
                "Transpose",
                &format!("{name}/output"),
                &[&v.name],
                vec![("perm", perm)],
                &name,
            );
        } else {
            w.node_to(
                "Identity",
                &format!("{name}/output"),
                &[&v.name],
                vec![],
                &name,
            );
        }
        outputs.push(ValueInfoProto {
            name: Some(name),
            r#type: Some(tensor_type(&stored_dims(
                &layer.output_shape,
                v.layout == Layout::Nchw && opts.nchw,
            ))),
            ..Default::default()
        });
    }
    let mut metadata = vec![(
        "cnn.input_layout".to_string(),
        if image && opts.nchw { "NCHW" } else { "NHWC" }.to_string(),
    )];
    metadata.extend(opts.metadata.iter().cloned());
    Ok(ModelProto {
        ir_version: Some(ir_version(opts.opset)),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opts.opset),
        }],
        producer_name: Some("cnn".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(model.summary()),
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: Some(key),
                value: Some(value),
            })
            .collect(),
        graph: Some(GraphProto {
            name: Some(arch.name.clone()),
            node: w.nodes,
            initializer: w.initializers,
            input: vec![input],
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// `model` as the bytes of an `.onnx` file.
pub fn to_onnx_bytes(model: &Model, opts: &ExportOptions) -> Result<Vec<u8>> {
    Ok(to_model_proto(model, opts)?.encode_to_vec())
}

/// Writes `model` to `path` as ONNX, atomically (a temporary file renamed into place).
pub fn export_onnx(model: &Model, opts: &ExportOptions, path: &Path) -> Result<()> {
    let bytes = to_onnx_bytes(model, opts)?;
    cnn_tensor::io::write_atomic(path, &bytes)?;
    Ok(())
}

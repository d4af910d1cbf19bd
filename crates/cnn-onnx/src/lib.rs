//! # cnn-onnx
//!
//! Export of [`cnn_nn::Model`]s to ONNX, so a model trained here runs in ONNX Runtime,
//! TensorRT, browsers and phones. Every cnn layer maps to standard operators (`docs/interop.md`
//! has the table): convolutions (`Conv`, grouped for depthwise), pooling, `Gemm`, activations,
//! `BatchNormalization` in inference form, `LRN`, `Pad`, `Add`/`Mul`/`Concat`; dropout
//! disappears. Images come in NHWC as Keras users feed them (transposed once to NCHW inside the
//! graph), or NCHW with [`ExportOptions::nchw`]; the batch dimension is dynamic; inputs and
//! outputs carry the model's input and layer names; metadata such as class names goes into
//! `metadata_props`.
//!
//! ```
//! use cnn_nn::{Model, zoo};
//! use cnn_onnx::{ExportOptions, to_model_proto};
//!
//! let model = Model::new(&zoo("lenet5", None, None)?, 42)?;
//! let onnx = to_model_proto(&model, &ExportOptions::default())?;
//! let graph = onnx.graph.as_ref().unwrap();
//! assert_eq!(graph.input[0].name.as_deref(), Some("input_1"));
//! assert!(graph.node.iter().any(|n| n.op_type.as_deref() == Some("Conv")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod export;
mod layers;
pub mod proto;
mod writer;

pub use error::{OnnxError, Result};
pub use export::{
    BATCH_DIM, DEFAULT_OPSET, ExportOptions, OPSETS, export_onnx, to_model_proto, to_onnx_bytes,
};

//! # cnn-keras
//!
//! Keras 3 `.keras` files for [`cnn_nn::Model`]s, both ways, so a model trained here can
//! continue in Keras (on a GPU, say) and come back:
//!
//! - [`export_keras`] / [`to_keras_bytes`] write a zip of `config.json` (a `Sequential` or
//!   `Functional` config with Keras's class names and arguments), `model.weights.h5` (Keras 3's
//!   variable layout, written by the pure-Rust `hdf5-pure`: no libhdf5) and `metadata.json`;
//!   `keras.saving.load_model` opens it and predicts what cnn predicts (checked in the tests by
//!   Keras itself).
//! - [`import_keras`] / [`import_keras_bytes`] read such a file — one Keras saved, or one cnn
//!   wrote — back into a model; `import(export(m))` has `m`'s weights bit for bit.
//! - [`import_h5`] reads Keras's HDF5 files: legacy full models (`model.save("m.h5")`), legacy
//!   weights (what the Keras applications publish) and Keras 3 `.weights.h5`, the last two with
//!   an architecture given (a zoo model's spec).
//!
//! Layers Keras has no class for (local response normalisation) are an error naming the layer;
//! Keras layers cnn does not have are an error naming the layer and its class.
//!
//! ```
//! use std::collections::BTreeMap;
//! use cnn_nn::{Model, zoo};
//! use cnn_keras::{import_keras_bytes, to_keras_bytes};
//!
//! let model = Model::new(&zoo("mnist-cnn", None, None)?, 42)?;
//! let bytes = to_keras_bytes(&model, &BTreeMap::new())?;
//! let back = import_keras_bytes(&bytes, "m.keras".as_ref())?;
//! assert_eq!(back.model.params()[0].data(), model.params()[0].data());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod archive;
mod config;
mod error;
mod legacy;
pub mod naming;
mod weights;

pub use archive::{
    Imported, KERAS_VERSION, MAX_CONFIG_BYTES, export_keras, import_keras, import_keras_bytes,
    to_keras_bytes,
};
pub use config::read::SUPPORTED;
pub use error::{KerasError, Result};
pub use legacy::{H5Kind, import_h5, import_h5_bytes, open_h5};

//! What the tract and ONNX Runtime checks share: the test models (`models.rs`, shared with
//! cnn-keras) and the ONNX Runtime check (`ort.rs`).
#![allow(dead_code)]

pub mod models;
pub mod ort;

pub use models::*;

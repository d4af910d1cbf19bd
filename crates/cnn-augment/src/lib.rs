//! # cnn-augment
//!
//! Keras's `ImageDataGenerator`, in Rust: the same options with the same meanings and defaults
//! ([`AugmentConfig`]), one affine resample per image ([`affine`]), channel shift, flips,
//! brightness and standardisation in Keras's order ([`transform`]).
#![warn(missing_docs)]

pub mod affine;
mod params;
pub mod transform;

pub use affine::{Affine, FillMode, resample};
pub use params::{AugmentConfig, ShiftRange, TransformParams};
pub use transform::{FeatureStats, Image, apply_transform, standardize};

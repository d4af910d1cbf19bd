//! # cnn-augment
//!
//! Keras's `ImageDataGenerator`, in Rust: the same options with the same meanings and defaults
//! ([`AugmentConfig`]), one affine resample per image ([`affine`]), channel shift, flips,
//! brightness and standardisation in Keras's order ([`transform`]); [`ImageDataGenerator::fit`]
//! for featurewise statistics; [`Flow`] (Keras's `flow`) and [`DirectoryFlow`]
//! (`flow_from_directory`) as batch sources for `cnn_nn::Model::fit`; [`Prefetch`] to produce
//! batches on a background thread. Images in a batch are augmented in parallel; each image's
//! transform comes from its own seed, so the same seed gives the same batches whatever the
//! thread count. [`stroke`] adds augmentations for handwriting and scans (dilation, erosion,
//! blur, elastic distortion) through [`ImageDataGenerator::with_random_preprocessing`].
//!
//! ```
//! use cnn_augment::{AugmentConfig, ImageDataGenerator, transform::Image};
//! // ImageDataGenerator(rotation_range=40, zoom_range=0.2, horizontal_flip=True)
//! let datagen = ImageDataGenerator::new(AugmentConfig {
//!     rotation_range: 40.0,
//!     zoom_range: (0.8, 1.2),
//!     horizontal_flip: true,
//!     ..AugmentConfig::default()
//! });
//! let img = Image { h: 8, w: 8, c: 1, data: (0..64).map(|i| i as f32).collect() };
//! let a = datagen.augment(&img, 7);
//! assert_eq!((a.h, a.w, a.c), (8, 8, 1));
//! assert_eq!(datagen.augment(&img, 7).data, a.data); // the same seed, the same image
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod affine;
mod directory;
mod error;
mod flow;
mod generator;
mod params;
mod prefetch;
pub mod stroke;
pub mod transform;

pub use affine::{Affine, Axes, FillMode, resample};
pub use directory::{ClassMode, DirectoryFlow, DirectoryOptions};
pub use error::{AugmentError, Result};
pub use flow::{Flow, FlowOptions, Subset};
pub use generator::{
    ImageDataGenerator, PreprocessFn, RandomPreprocessFn, alternating_flip, image_seed,
};
pub use params::{AugmentConfig, ShiftRange, TransformParams};
pub use prefetch::Prefetch;
pub use transform::{FeatureStats, Image, apply_transform, standardize};

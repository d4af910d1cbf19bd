//! # cnn-viz
//!
//! Pictures of convnets and their training, as PNG files or in-memory RGB images:
//! training curves from a [`cnn_nn::History`] ([`history_chart`]), a labelled confusion-matrix
//! heat map ([`confusion_chart`]), captioned image grids and contact sheets ([`image_grid`]),
//! and the colormaps they use ([`colormap`]). Charts are drawn with `plotters` and a bundled
//! DejaVu Sans font, so nothing depends on the fonts installed on the machine. Every file is
//! written atomically ([`save_png`]).
//!
//! It also looks inside trained models, as Chollet's *Deep Learning with Python* §5.4 does by
//! hand: every channel of intermediate layers ([`activations`], [`activation_grid`]), what a
//! filter responds to by gradient ascent on the input ([`filter_pattern`], [`pattern_grid`]),
//! first-layer kernels ([`kernel_grid`]) and Grad-CAM class-activation heatmaps ([`grad_cam`],
//! [`overlay`]). Each returns the numbers as well as the picture.
//!
//! ```
//! use cnn_nn::History;
//! // Training curves of a three-epoch history, as a picture.
//! let h = History {
//!     epoch: vec![1, 2, 3],
//!     loss: vec![0.9, 0.5, 0.4],
//!     accuracy: vec![0.70, 0.82, 0.86],
//!     learning_rate: vec![1e-3; 3],
//!     seconds: vec![1.0; 3],
//!     samples_per_second: vec![1000.0; 3],
//!     ..History::default()
//! };
//! let img = cnn_viz::history_chart(&h, "mnist-cnn")?;
//! assert!(img.width() > 300 && img.height() > 200);
//! let path = std::env::temp_dir().join(format!("curves-{}.png", std::process::id()));
//! cnn_viz::save_png(&img, &path)?; // written atomically
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod activations;
pub mod colormap;
mod confusion;
mod curves;
mod error;
mod filters;
mod font;
mod gradcam;
mod grid;
mod png;

pub use activations::{
    ActivationGridOptions, LayerActivations, activation_grid, activations, channel_image,
    chollet_normalize, default_activation_layers, layer_indices,
};
pub use confusion::confusion_chart;
pub use curves::history_chart;
pub use error::{Result, VizError};
pub use filters::{
    FilterPattern, MAX_PATTERN_SIDE, PatternOptions, deprocess, filter_pattern, filter_patterns,
    kernel_grid, pattern_grid,
};
pub use gradcam::{
    CamScore, GradCam, GradCamOptions, default_cam_layer, grad_cam, heatmap_image, mass_inside,
    overlay, resize_heatmap,
};
pub use grid::{GridOptions, Tile, image_grid};
pub use image::RgbImage;
pub use png::{encode_png, save_png};

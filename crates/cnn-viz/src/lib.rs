//! # cnn-viz
//!
//! Pictures of convnets and their training, as PNG files or in-memory RGB images:
//! training curves from a [`cnn_nn::History`] ([`history_chart`]), a labelled confusion-matrix
//! heat map ([`confusion_chart`]), captioned image grids and contact sheets ([`image_grid`]),
//! and the colormaps they use ([`colormap`]). Charts are drawn with `plotters` and a bundled
//! DejaVu Sans font, so nothing depends on the fonts installed on the machine. Every file is
//! written atomically ([`save_png`]).
#![warn(missing_docs)]

pub mod colormap;
mod confusion;
mod curves;
mod error;
mod font;
mod grid;
mod png;

pub use confusion::confusion_chart;
pub use curves::history_chart;
pub use error::{Result, VizError};
pub use grid::{GridOptions, Tile, image_grid};
pub use image::RgbImage;
pub use png::{encode_png, save_png};

//! # cnn-datasets
//!
//! Datasets for the `cnn` workspace, the way `keras.datasets` works but safe against bad files:
//!
//! - [`idx`]: a strict IDX parser (raw or gzip) that checks the header against the bytes present
//!   before allocating and caps decompression.
//! - [`fashion_mnist`]: Fashion-MNIST from the data directory or Debian's system copy
//!   (`/usr/share/datasets/fashion-mnist/`), every file verified by the SHA-256 of its payload,
//!   with a [`FileReport`] per file saying where it came from.
//! - [`idx_pair`]: any IDX images + labels pair (e.g. an MNIST sample).
//! - `fashion_mnist_sample()` (feature `sample`, default): 3,000 + 1,000 real Fashion-MNIST
//!   images compiled in, for offline demos and tests.
//! - `mnist_sample()` (feature `sample`): 10,000 real MNIST digits compiled in, for the digits
//!   exercise offline.
//! - [`mnist_style_digit`] / [`load_digit`]: a photo or scan of one handwritten digit prepared
//!   the way the MNIST digits were made (ink isolated, 20x20 box, centre of mass centred).
//! - [`ImageSet`]: `u8` NHWC images and labels, with conversion to `f32` tensors, one-hot
//!   labels, seeded shuffling and train/validation splits, and [`ImageSet::keep_classes`].
//!
//! ```
//! // The real Fashion-MNIST sample compiled into the crate (feature `sample`): no download.
//! let ds = cnn_datasets::fashion_mnist_sample()?;
//! assert_eq!((ds.train.len(), ds.test.as_ref().unwrap().len()), (3000, 1000));
//! let x = ds.train.images_f32(1.0 / 255.0)?; // NHWC f32 in [0, 1]
//! assert_eq!(x.dims(), &[3000, 28, 28, 1]);
//! let (train, val) = ds.train.split_validation(0.1)?;
//! assert_eq!((train.len(), val.len()), (2700, 300));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod archive;
pub mod catalog;
mod cifar;
mod digest;
mod digit;
#[cfg(feature = "download")]
mod download;
mod error;
mod fetch;
mod folder;
pub mod idx;
mod imagenet;
mod mnist;
#[cfg(feature = "sample")]
mod sample;
mod set;
mod source;

pub use cifar::{
    CIFAR10_CLASSES, Cifar100Labels, cifar10, cifar10_from, cifar100, cifar100_from,
    parse_records as parse_cifar_records, write_records as write_cifar_records,
};
pub use digest::{Digest, Pins};
pub use digit::{DigitOptions, load_digit, mnist_style_digit};
#[cfg(feature = "download")]
pub use download::{DEFAULT_MAX_DOWNLOAD, Downloader, RemoteFile};
pub use error::{DatasetError, Result};
pub use fetch::{LoadOptions, MIRROR_ENV, fetch, fetch_entry};
pub use folder::{
    ColorMode, Decoded, FolderIndex, FolderOptions, IMAGE_EXTENSIONS, Interpolation, Skipped,
    decode as decode_image, default_max_pixels, image_folder, load_index as load_folder_index,
    scan as scan_folder, zip_folder,
};
pub use imagenet::{
    IMAGENET_CLASS_INDEX_JSON, IMAGENET_CLASS_INDEX_MD5, ImageNetClass, imagenet_class_metadata,
    imagenet_classes,
};
pub use mnist::{
    FASHION_MNIST_CLASSES, FASHION_SYSTEM_DIR, MNIST_CLASSES, fashion_mnist, idx_pair, mnist,
};
#[cfg(feature = "sample")]
pub use sample::{fashion_mnist_sample, mnist_sample};
pub use set::{Dataset, ImageSet};
pub use source::{FileReport, Origin, Verification, data_dir, sha256_hex};

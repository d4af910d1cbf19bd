//! torchvision's ImageNet classifiers as cnn models, with their weights read from
//! `.safetensors` files in torchvision's `state_dict` naming.
//!
//! ```no_run
//! use cnn_torchvision::{Torchvision, import_safetensors};
//! // Made in Python with
//! // safetensors.torch.save_file(torchvision.models.vgg16(weights="DEFAULT").state_dict(), "vgg16.safetensors")
//! let imported = import_safetensors("vgg16.safetensors".as_ref(), &Torchvision::new("vgg16"))?;
//! println!("{}", imported.model.summary());
//! # Ok::<(), cnn_torchvision::TorchvisionError>(())
//! ```
//!
//! Pickled checkpoints (`.pt`, `.pth`) are never read here: unpickling runs code from the file.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod arch;
mod error;
mod weights;

pub use arch::{ARCHITECTURES, Entry, Kind, Layout, Torchvision, layout};
pub use error::{Result, TorchvisionError};
pub use weights::{Imported, import_safetensors, import_safetensors_bytes};

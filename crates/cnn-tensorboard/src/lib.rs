//! # cnn-tensorboard
//!
//! TensorBoard logs from cnn training, in TensorBoard's own event-file format (TFRecord framing
//! with masked CRC-32C, protobuf `Event`s generated from TensorBoard's descriptors):
//!
//! - [`TensorBoard`]: Keras's callback — `log_dir/train` and `log_dir/validation` with
//!   `epoch_loss`, `epoch_accuracy`, `epoch_learning_rate`, `batch_loss`/`batch_accuracy` every
//!   N batches, weight histograms, a confusion matrix and an activation grid as images.
//! - [`EventWriter`]: scalars, histograms and PNG images into an event file of your own.
//! - [`read_events`]: the events of a file, every record's checksums checked.
//!
//! ```
//! use cnn_tensorboard::{EventWriter, read_events};
//!
//! let dir = tempfile::tempdir()?;
//! let mut w = EventWriter::create(dir.path())?;
//! for step in 0..3 {
//!     w.scalar("loss", step, 1.0 / (step + 1) as f32)?;
//! }
//! w.flush()?;
//! let events = read_events(&std::fs::read(w.path())?)?;
//! assert_eq!(events.len(), 4); // the file version, then three scalars
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Then `tensorboard --logdir DIR`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod callback;
mod error;
pub mod proto;
pub mod record;
mod writer;

pub use callback::TensorBoard;
pub use error::{Result, TbError};
pub use writer::{EventWriter, HISTOGRAM_BUCKETS, histogram, read_events};

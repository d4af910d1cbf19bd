//! Workspace automation as a library, so that what `cargo xtask` runs can also be tested:
//! the lecture's exercises ([`exercise`]), the benchmark against the peers ([`bench`]) and the
//! Keras applications' pretrained weights ([`pretrained`]).
#![forbid(unsafe_code)]

pub mod bench;
pub mod exercise;
pub mod pretrained;
pub mod verify_pretrained;

//! Workspace automation as a library, so that what `cargo xtask` runs can also be tested:
//! the lecture's exercises ([`exercise`]) and the benchmark against the peers ([`bench`]).
#![forbid(unsafe_code)]

pub mod bench;
pub mod exercise;

//! Workspace automation as a library, so that what `cargo xtask` runs can also be tested:
//! the lecture's exercises ([`exercise`]) and the benchmark against the peers ([`bench`]).

pub mod bench;
pub mod exercise;

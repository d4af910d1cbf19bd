//! Workspace automation as a library, so that what `cargo xtask` runs can also be tested:
//! the lecture's exercises ([`exercise`]).

pub mod exercise;

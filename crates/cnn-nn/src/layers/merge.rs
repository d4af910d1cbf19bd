//! What the element-wise merge layers (`Add`, `Multiply`) share: inputs of one shape.

use super::{Build, Built, shape_str};
use crate::error::Result;

/// Checks that every input has the first one's shape; the output has it too.
pub(crate) fn same_shapes(b: &Build<'_>) -> Result<Built> {
    let first = b.input();
    if let Some(other) = b.inputs.iter().find(|s| s[..] != *first) {
        return Err(b.err(format!(
            "{} needs inputs of one shape, got {} and {}",
            b.class,
            shape_str(first),
            shape_str(other)
        )));
    }
    let len: u64 = first.iter().map(|&d| d as u64).product();
    Ok(Built {
        output_shape: first.to_vec(),
        params: vec![],
        macs: len * (b.inputs.len() as u64 - 1),
    })
}

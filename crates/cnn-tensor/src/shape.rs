//! Tensor shapes, printed the way Keras prints them.

use std::fmt;
use std::ops::Deref;

use crate::{Result, TensorError};

/// The largest number of elements a tensor may hold (2^34, 64 GiB of `f32`).
///
/// Sizes that come from files or flags are checked against this before any allocation, so an
/// absurd claim is an error instead of an out-of-memory abort.
pub const MAX_ELEMENTS: usize = 1 << 34;

/// The dimensions of a tensor, outermost first (row-major). Images are NHWC, convolution
/// kernels `[kh, kw, in, out]` (Keras layout).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape from its dimensions. Zero-sized dimensions are allowed.
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    /// The shape of a scalar (rank 0, one element).
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of elements, or an error when the product overflows or exceeds
    /// [`MAX_ELEMENTS`].
    pub fn checked_numel(&self) -> Result<usize> {
        checked_numel(&self.0)
    }

    /// The number of elements. Only call this on shapes that were validated (every tensor's
    /// shape is); it saturates instead of overflowing.
    pub fn numel(&self) -> usize {
        self.0.iter().fold(1usize, |a, &d| a.saturating_mul(d))
    }

    /// Formats the shape with a leading `None` batch dimension in place of the first one, as
    /// Keras prints layer output shapes: `[128, 24, 24, 6]` → `(None, 24, 24, 6)`.
    pub fn keras_batch(&self) -> String {
        let mut parts = vec!["None".to_string()];
        parts.extend(self.0.iter().skip(1).map(|d| d.to_string()));
        format!("({})", parts.join(", "))
    }
}

/// The element count of `dims`, checked against overflow and [`MAX_ELEMENTS`].
pub fn checked_numel(dims: &[usize]) -> Result<usize> {
    let too_large = || TensorError::TooLarge {
        dims: dims.to_vec(),
        limit: MAX_ELEMENTS,
    };
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(too_large)?;
    if n > MAX_ELEMENTS {
        return Err(too_large());
    }
    Ok(n)
}

impl Deref for Shape {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.0
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Self {
        Shape(v)
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Self {
        Shape(v.to_vec())
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Self {
        Shape(v.to_vec())
    }
}

impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

/// Python tuple style, like Keras: `(28, 28, 1)`, `(10,)`, `()`.
impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => write!(f, "()"),
            [d] => write!(f, "({d},)"),
            dims => {
                let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
                write!(f, "({})", parts.join(", "))
            }
        }
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_keras() {
        assert_eq!(Shape::new([28, 28, 1]).to_string(), "(28, 28, 1)");
        assert_eq!(Shape::new([10]).to_string(), "(10,)");
        assert_eq!(Shape::scalar().to_string(), "()");
        assert_eq!(
            Shape::new([128, 24, 24, 6]).keras_batch(),
            "(None, 24, 24, 6)"
        );
        assert_eq!(Shape::new([1, 10]).keras_batch(), "(None, 10)");
    }

    #[test]
    fn numel_is_checked() {
        assert_eq!(Shape::new([2, 3, 4]).checked_numel().unwrap(), 24);
        assert_eq!(Shape::scalar().checked_numel().unwrap(), 1);
        assert!(Shape::new([usize::MAX, 2]).checked_numel().is_err());
        assert!(Shape::new([1 << 20, 1 << 20]).checked_numel().is_err());
    }
}

//! The owned tensor and its borrowed view.

use crate::{Result, Shape, TensorError};

/// An owned, contiguous, row-major `f32` tensor.
///
/// Reshaping an owned tensor moves its buffer (no copy); [`Tensor::view`] borrows it.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Shape,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor from a shape and row-major data; the lengths must agree.
    pub fn new(shape: impl Into<Shape>, data: Vec<f32>) -> Result<Self> {
        let shape = shape.into();
        let expected = shape.checked_numel()?;
        if expected != data.len() {
            return Err(TensorError::DataLength {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor filled with `value`.
    pub fn full(shape: impl Into<Shape>, value: f32) -> Result<Self> {
        let shape = shape.into();
        let n = shape.checked_numel()?;
        Ok(Tensor {
            shape,
            data: crate::fill::filled(n, value),
        })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: impl Into<Shape>) -> Result<Self> {
        Self::full(shape, 0.0)
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar(value: f32) -> Self {
        Tensor {
            shape: Shape::scalar(),
            data: vec![value],
        }
    }

    /// A tensor whose element at flat index `i` is `f(i)`.
    pub fn from_fn(shape: impl Into<Shape>, f: impl FnMut(usize) -> f32) -> Result<Self> {
        let shape = shape.into();
        let n = shape.checked_numel()?;
        Ok(Tensor {
            shape,
            data: (0..n).map(f).collect(),
        })
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions (same as `shape().dims()`).
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The elements, row-major, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Gives up the buffer.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The single value of a one-element tensor, if it has exactly one.
    pub fn item(&self) -> Option<f32> {
        (self.data.len() == 1).then(|| self.data[0])
    }

    /// The same data under another shape with the same element count (no copy).
    pub fn reshape(self, shape: impl Into<Shape>) -> Result<Self> {
        let to = shape.into();
        if to.checked_numel()? != self.data.len() {
            return Err(TensorError::Reshape {
                from: self.shape,
                to,
            });
        }
        Ok(Tensor {
            shape: to,
            data: self.data,
        })
    }

    /// A borrowed view of the whole tensor.
    pub fn view(&self) -> TensorView<'_> {
        TensorView {
            shape: self.shape.clone(),
            data: &self.data,
        }
    }

    /// Applies `f` to every element in place.
    pub fn map_inplace(&mut self, mut f: impl FnMut(f32) -> f32) {
        self.data.iter_mut().for_each(|x| *x = f(*x));
    }

    /// Whether every element is finite (no NaN or infinity).
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }

    /// The largest absolute element-wise difference to `other`, or `None` if shapes differ.
    pub fn max_abs_diff(&self, other: &Tensor) -> Option<f32> {
        (self.shape == other.shape).then(|| {
            self.data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max)
        })
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{} [", self.shape)?;
        for (i, x) in self.data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{x}")?;
        }
        if self.data.len() > SHOWN {
            write!(f, ", … ({} values)", self.data.len())?;
        }
        write!(f, "]")
    }
}

/// A borrowed, contiguous view of tensor data under some shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorView<'a> {
    shape: Shape,
    data: &'a [f32],
}

impl<'a> TensorView<'a> {
    /// A view of `data` under `shape`; the lengths must agree.
    pub fn new(shape: impl Into<Shape>, data: &'a [f32]) -> Result<Self> {
        let shape = shape.into();
        let expected = shape.checked_numel()?;
        if expected != data.len() {
            return Err(TensorError::DataLength {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(TensorView { shape, data })
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The elements, row-major.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// The same data under another shape with the same element count.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<TensorView<'a>> {
        let to = shape.into();
        if to.checked_numel()? != self.data.len() {
            return Err(TensorError::Reshape {
                from: self.shape.clone(),
                to,
            });
        }
        Ok(TensorView {
            shape: to,
            data: self.data,
        })
    }

    /// The `index`-th sub-tensor along the first axis (e.g. one image of an NHWC batch).
    pub fn index(&self, index: usize) -> Result<TensorView<'a>> {
        let (&len, rest) = self
            .shape
            .split_first()
            .ok_or(TensorError::OutOfRange { index, len: 0 })?;
        if index >= len {
            return Err(TensorError::OutOfRange { index, len });
        }
        let inner = Shape::new(rest);
        let n = inner.numel();
        Ok(TensorView {
            shape: inner,
            data: &self.data[index * n..(index + 1) * n],
        })
    }

    /// Copies the view into an owned tensor.
    pub fn to_tensor(&self) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.to_vec(),
        }
    }
}

impl From<Tensor> for std::borrow::Cow<'_, Tensor> {
    fn from(t: Tensor) -> Self {
        std::borrow::Cow::Owned(t)
    }
}

impl<'a> From<&'a Tensor> for std::borrow::Cow<'a, Tensor> {
    fn from(t: &'a Tensor) -> Self {
        std::borrow::Cow::Borrowed(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_length() {
        assert!(Tensor::new([2, 3], vec![0.0; 6]).is_ok());
        let err = Tensor::new([2, 3], vec![0.0; 5]).unwrap_err();
        assert!(err.to_string().contains("(2, 3) holds 6 elements but 5"));
    }

    #[test]
    fn reshape_moves_and_checks() {
        let t = Tensor::from_fn([2, 3], |i| i as f32).unwrap();
        let r = t.clone().reshape([3, 2]).unwrap();
        assert_eq!(r.dims(), &[3, 2]);
        assert_eq!(r.data(), t.data());
        assert!(t.reshape([4, 2]).is_err());
    }

    #[test]
    fn view_index_selects_sample() {
        let t = Tensor::from_fn([3, 2, 2, 1], |i| i as f32).unwrap();
        let v = t.view();
        let s = v.index(1).unwrap();
        assert_eq!(s.shape().dims(), &[2, 2, 1]);
        assert_eq!(s.data(), &[4.0, 5.0, 6.0, 7.0]);
        assert!(v.index(3).is_err());
        assert!(Tensor::scalar(1.0).view().index(0).is_err());
    }

    #[test]
    fn absurd_shapes_are_errors_not_allocations() {
        assert!(Tensor::zeros([1 << 40, 1 << 40]).is_err());
        assert!(Tensor::zeros([usize::MAX, 3]).is_err());
    }
}

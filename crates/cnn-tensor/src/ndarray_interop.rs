//! Conversions between [`Tensor`] and `ndarray` arrays.

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::{Result, Tensor, TensorView};

impl Tensor {
    /// A zero-copy `ndarray` view of the tensor.
    pub fn as_ndarray(&self) -> ArrayViewD<'_, f32> {
        // The shape and length agree by construction.
        ArrayViewD::from_shape(IxDyn(self.dims()), self.data())
            .expect("tensor shape matches its data length")
    }

    /// Converts into an `ndarray` array without copying the buffer.
    pub fn into_ndarray(self) -> ArrayD<f32> {
        let dims = self.dims().to_vec();
        ArrayD::from_shape_vec(IxDyn(&dims), self.into_data())
            .expect("tensor shape matches its data length")
    }

    /// Copies any `ndarray` array (whatever its memory order) into a row-major tensor.
    pub fn from_ndarray<S>(array: &ndarray::ArrayBase<S, IxDyn>) -> Result<Self>
    where
        S: ndarray::Data<Elem = f32>,
    {
        let data: Vec<f32> = array.iter().copied().collect();
        Tensor::new(array.shape(), data)
    }
}

impl<'a> TensorView<'a> {
    /// A zero-copy `ndarray` view.
    pub fn as_ndarray(&self) -> ArrayViewD<'a, f32> {
        ArrayViewD::from_shape(IxDyn(self.shape().dims()), self.data())
            .expect("view shape matches its data length")
    }
}

impl From<Tensor> for ArrayD<f32> {
    fn from(t: Tensor) -> Self {
        t.into_ndarray()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_transposed_input() {
        let t = Tensor::from_fn([2, 3], |i| i as f32).unwrap();
        let a = t.clone().into_ndarray();
        assert_eq!(a[[1, 2]], 5.0);
        assert_eq!(t.as_ndarray()[[1, 0]], 3.0);
        let back = Tensor::from_ndarray(&a).unwrap();
        assert_eq!(back, t);
        // A transposed (non-standard-layout) array is copied in logical order.
        let tr = a.t().to_owned();
        let tt = Tensor::from_ndarray(&tr).unwrap();
        assert_eq!(tt.dims(), &[3, 2]);
        assert_eq!(tt.data(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }
}

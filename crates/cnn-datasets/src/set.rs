//! In-memory image sets and their conversions.

use cnn_tensor::{Tensor, seeded_rng};
use rand::seq::SliceRandom;

use crate::error::{DatasetError, Result};

/// Images as `u8` NHWC plus one label per image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// Pixels, `[N, H, W, C]` row-major.
    pub images: Vec<u8>,
    /// Class index per image.
    pub labels: Vec<u8>,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Channels (1 grayscale, 3 RGB).
    pub channels: usize,
}

/// A dataset: training set, optional test set, class names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// The dataset's name (`"fashion-mnist"`).
    pub name: String,
    /// Training images.
    pub train: ImageSet,
    /// Test images, when the dataset has a test split.
    pub test: Option<ImageSet>,
    /// Class names by label.
    pub class_names: Vec<String>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn pixels(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// The images as an `f32` tensor `[N, H, W, C]`, each pixel multiplied by `scale`
    /// (`1.0 / 255.0` for Keras's usual `x / 255`).
    pub fn images_f32(&self, scale: f32) -> Result<Tensor> {
        let data = self.images.iter().map(|&p| p as f32 * scale).collect();
        Ok(Tensor::new(
            [self.len(), self.height, self.width, self.channels],
            data,
        )?)
    }

    /// One-hot labels `[N, classes]` (Keras's `to_categorical`).
    pub fn one_hot(&self, classes: usize) -> Result<Tensor> {
        let mut t = Tensor::zeros([self.len(), classes])?;
        for (i, &l) in self.labels.iter().enumerate() {
            let l = l as usize;
            if l >= classes {
                return Err(DatasetError::Mismatch(format!(
                    "label {l} of image {i} is out of range for {classes} classes"
                )));
            }
            t.data_mut()[i * classes + l] = 1.0;
        }
        Ok(t)
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let p = self.pixels();
        let mut images = Vec::with_capacity(indices.len() * p);
        for &i in indices {
            images.extend_from_slice(&self.images[i * p..(i + 1) * p]);
        }
        ImageSet {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            height: self.height,
            width: self.width,
            channels: self.channels,
        }
    }

    /// A seeded shuffle of the set.
    pub fn shuffled(&self, seed: u64) -> ImageSet {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut seeded_rng(seed));
        self.select(&idx)
    }

    /// Splits off the last `fraction` of the set as validation, like Keras's
    /// `validation_split` (which takes the last samples, before any shuffling).
    pub fn split_validation(&self, fraction: f32) -> Result<(ImageSet, ImageSet)> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(DatasetError::Mismatch(format!(
                "validation fraction {fraction} is not in [0, 1)"
            )));
        }
        let n_val = (self.len() as f64 * fraction as f64) as usize;
        let cut = self.len() - n_val;
        let all: Vec<usize> = (0..self.len()).collect();
        Ok((self.select(&all[..cut]), self.select(&all[cut..])))
    }

    /// Keeps only the images whose label is in `classes` and relabels them `0..k` in the order
    /// given (the CIFAR exercise may use fewer than 10 categories).
    pub fn keep_classes(&self, classes: &[u8]) -> ImageSet {
        let idx: Vec<usize> = (0..self.len())
            .filter(|&i| classes.contains(&self.labels[i]))
            .collect();
        let mut set = self.select(&idx);
        for l in &mut set.labels {
            *l = classes.iter().position(|c| c == l).unwrap_or(0) as u8;
        }
        set
    }

    /// The first `n` images (or all if fewer).
    pub fn take(&self, n: usize) -> ImageSet {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.select(&idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ImageSet {
        ImageSet {
            images: (0..12).collect(),
            labels: vec![0, 1, 2, 1, 0, 2],
            height: 1,
            width: 2,
            channels: 1,
        }
    }

    #[test]
    fn conversions() {
        let s = set();
        let x = s.images_f32(0.5).unwrap();
        assert_eq!(x.dims(), &[6, 1, 2, 1]);
        assert_eq!(x.data()[3], 1.5);
        let y = s.one_hot(3).unwrap();
        assert_eq!(&y.data()[3..6], &[0., 1., 0.]);
        assert!(s.one_hot(2).is_err());
    }

    #[test]
    fn keep_classes_relabels_in_given_order() {
        let k = set().keep_classes(&[2, 0]);
        assert_eq!(k.labels, vec![1, 0, 1, 0]);
        assert_eq!(k.images, vec![0, 1, 4, 5, 8, 9, 10, 11]);
    }

    #[test]
    fn split_and_shuffle() {
        let (t, v) = set().split_validation(0.34).unwrap();
        assert_eq!((t.len(), v.len()), (4, 2));
        assert_eq!(v.labels, vec![0, 2]);
        let a = set().shuffled(1);
        assert_eq!(a, set().shuffled(1));
        let mut l = a.labels.clone();
        l.sort();
        assert_eq!(l, vec![0, 0, 1, 1, 2, 2]);
    }
}

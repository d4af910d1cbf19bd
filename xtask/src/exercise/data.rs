//! Turning datasets into the tensors training needs, and splitting them.

use anyhow::{Result, anyhow};
use cnn_datasets::ImageSet;
use cnn_nn::Targets;
use cnn_tensor::Tensor;

/// The first `train` training and `test` test images of `d` (for `--quick` runs).
pub fn quick_slice(
    d: cnn_datasets::Dataset,
    train: usize,
    test: usize,
) -> Result<cnn_datasets::Dataset> {
    let t = d
        .test
        .as_ref()
        .ok_or_else(|| anyhow!("{} has no test split", d.name))?
        .take(test);
    Ok(cnn_datasets::Dataset {
        train: d.train.take(train),
        test: Some(t),
        ..d
    })
}

/// Images scaled to [0, 1] (NHWC) and their labels.
pub struct Split {
    /// The images.
    pub x: Tensor,
    /// Sparse labels.
    pub y: Targets,
    /// The labels as indices.
    pub labels: Vec<usize>,
}

impl Split {
    /// Converts an image set (pixels 0–255) to a split scaled by `1/255`.
    pub fn from_set(set: &ImageSet) -> Result<Split> {
        let x = set.images_f32(1.0 / 255.0).map_err(|e| anyhow!(e))?;
        let labels: Vec<usize> = set.labels.iter().map(|&l| l as usize).collect();
        Ok(Split {
            x,
            y: Targets::Sparse(labels.clone()),
            labels,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The data of one exercise: training, validation (held out from training, the last samples
/// as Keras's `validation_split` does) and test splits, with class names.
pub struct Splits {
    /// Training samples.
    pub train: Split,
    /// Validation samples.
    pub val: Split,
    /// Test samples.
    pub test: Split,
    /// Class names.
    pub class_names: Vec<String>,
    /// Where the data came from (printed and reported).
    pub source: String,
}

impl Splits {
    /// Holds out the last `val_fraction` of `train` for validation.
    pub fn new(
        train: &ImageSet,
        test: &ImageSet,
        val_fraction: f32,
        class_names: Vec<String>,
        source: String,
    ) -> Result<Splits> {
        let (tr, va) = train
            .split_validation(val_fraction)
            .map_err(|e| anyhow!("splitting off validation data: {e}"))?;
        Ok(Splits {
            train: Split::from_set(&tr)?,
            val: Split::from_set(&va)?,
            test: Split::from_set(test)?,
            class_names,
            source,
        })
    }

    /// `[height, width, channels]` of the images.
    pub fn input_shape(&self) -> Vec<usize> {
        self.train.x.dims()[1..].to_vec()
    }
}

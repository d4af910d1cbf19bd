//! A real Fashion-MNIST sample compiled into the crate (feature `sample`, on by default): the
//! first 3,000 training and 1,000 test images of the official files, so demos and tests run
//! offline. See `data/fashion-mnist-sample/README.md`. Also 10,000 real MNIST digits
//! (`data/mnist-sample/README.md`) for the digits exercise.

use crate::Dataset;
use crate::error::{DatasetError, Result};
use crate::idx::read_gz_bytes;
use crate::mnist::{FASHION_MNIST_CLASSES, MNIST_CLASSES, image_set};
use crate::source::sha256_hex;

const FILES: [(&str, &[u8], &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../data/fashion-mnist-sample/train-images-idx3-ubyte.gz"),
        "85a0ed91fc149c8f56cbcd4faffd965abbddf9bb83d5e7308ec20af22a3a8c87",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../data/fashion-mnist-sample/train-labels-idx1-ubyte.gz"),
        "d91bcde777777d8b779ccfade8da8df64050ef1cde830c67b3036ee13e26ec28",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz"),
        "7a6d8e07ea021ec5bc73135ebd0a5770799557ec6f8242d8749c4f32a3cf4643",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../data/fashion-mnist-sample/t10k-labels-idx1-ubyte.gz"),
        "b40abac7ec8228f434940f579deb7cf7b6e3103b5274cb91d1545771f5ef1c8b",
    ),
];

const MNIST_FILES: [(&str, &[u8], &str); 2] = [
    (
        "mnist-sample/images-idx3-ubyte.gz",
        include_bytes!("../data/mnist-sample/images-idx3-ubyte.gz"),
        "ba1a3e570ac82a40e41123d604faee1d444a0105bb5603ba5ea5c896fa69f7c5",
    ),
    (
        "mnist-sample/labels-idx1-ubyte.gz",
        include_bytes!("../data/mnist-sample/labels-idx1-ubyte.gz"),
        "4cc719e0cde1f9e13bcf75941e59562f1c5dcdddb1df0cd9aefac223e514cd26",
    ),
];

/// Decompresses a bundled file and checks its pinned payload digest.
fn verified(name: &str, gz: &[u8], digest: &str) -> Result<Vec<u8>> {
    let raw = read_gz_bytes(gz, name)?;
    let actual = sha256_hex(&raw);
    if actual != digest {
        return Err(DatasetError::Checksum {
            path: name.into(),
            expected: digest.into(),
            actual,
        });
    }
    Ok(raw)
}

/// The bundled MNIST sample: 10,000 real digits (863 to 1,127 per class, shuffled), the last sixth
/// (1,666) held out as the test split, verified against its pinned digests.
pub fn mnist_sample() -> Result<Dataset> {
    let images = verified(MNIST_FILES[0].0, MNIST_FILES[0].1, MNIST_FILES[0].2)?;
    let labels = verified(MNIST_FILES[1].0, MNIST_FILES[1].1, MNIST_FILES[1].2)?;
    let all = image_set(&images, MNIST_FILES[0].0, &labels, MNIST_FILES[1].0, 10)?;
    let (train, test) = all.split_validation(1.0 / 6.0)?;
    Ok(Dataset {
        name: "mnist-sample".into(),
        train,
        test: Some(test),
        class_names: MNIST_CLASSES.iter().map(|s| s.to_string()).collect(),
    })
}

/// The bundled Fashion-MNIST sample (3,000 train + 1,000 test images, 10 classes), verified
/// against its pinned digests.
pub fn fashion_mnist_sample() -> Result<Dataset> {
    let mut payloads = Vec::with_capacity(4);
    for (name, gz, digest) in FILES {
        payloads.push(verified(name, gz, digest)?);
    }
    let train = image_set(&payloads[0], FILES[0].0, &payloads[1], FILES[1].0, 10)?;
    let test = image_set(&payloads[2], FILES[2].0, &payloads[3], FILES[3].0, 10)?;
    Ok(Dataset {
        name: "fashion-mnist-sample".into(),
        train,
        test: Some(test),
        class_names: FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn mnist_sample_loads_balanced_and_split() {
        let d = super::mnist_sample().unwrap();
        let test = d.test.as_ref().unwrap();
        assert_eq!((d.train.len(), test.len()), (8334, 1666));
        assert_eq!(
            (d.train.height, d.train.width, d.train.channels),
            (28, 28, 1)
        );
        for c in 0..10u8 {
            let n = d.train.labels.iter().filter(|&&l| l == c).count()
                + test.labels.iter().filter(|&&l| l == c).count();
            assert!((800..=1200).contains(&n), "class {c}: {n}");
        }
        assert_eq!(d.class_names[7], "7");
    }

    #[test]
    fn sample_loads_and_is_real() {
        let d = super::fashion_mnist_sample().unwrap();
        assert_eq!(
            (d.train.len(), d.test.as_ref().unwrap().len()),
            (3000, 1000)
        );
        // Every class is present in both splits.
        for c in 0..10u8 {
            assert!(d.train.labels.iter().filter(|&&l| l == c).count() > 250);
            assert!(
                d.test
                    .as_ref()
                    .unwrap()
                    .labels
                    .iter()
                    .filter(|&&l| l == c)
                    .count()
                    > 80
            );
        }
    }
}

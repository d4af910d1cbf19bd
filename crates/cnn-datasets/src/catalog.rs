//! The datasets this crate knows how to fetch: official files, mirrors and pinned digests.
//!
//! Sources of the digests:
//! - MNIST: the MD5s torchvision pins (`torchvision/datasets/mnist.py`, `MNIST.resources`) with
//!   its mirror `https://ossci-datasets.s3.amazonaws.com/mnist/` (Yann LeCun's site refuses
//!   direct downloads now) and the Google mirror used by TensorFlow's tutorials.
//! - Fashion-MNIST: the MD5s in zalandoresearch/fashion-mnist's README (also pinned by
//!   torchvision's `FashionMNIST.resources`), plus the SHA-256 of each decompressed payload, which
//!   equals upstream's decompressed bytes and Debian's recompressed copies (measured). Mirrors:
//!   zalando's S3 bucket (torchvision) and `storage.googleapis.com/tensorflow/tf-keras-datasets/`
//!   (Keras's `fashion_mnist.load_data`).
//! - CIFAR-10/100 binary versions: the MD5s published on https://www.cs.toronto.edu/~kriz/cifar.html;
//!   for CIFAR-10 also the SHA-256 of the 170,052,171-byte archive as reported by independent
//!   verifications of the official file.
//! - The Keras applications' ImageNet weights ([`PRETRAINED`]): the URLs and MD5 `file_hash`es
//!   Keras 3.15 pins (`keras/src/applications/vgg16.py`, `resnet.py`). MobileNetV2's files
//!   ([`UNPINNED`]) have none: Keras publishes no digest for them (`mobilenet_v2.py` calls
//!   `get_file` without a hash), so they carry no pin here, and a file without a pin is never
//!   accepted — the caller supplies a digest it trusts (`cargo xtask fetch-data
//!   mobilenetv2-imagenet --sha256 HEX`).

use crate::digest::{Digest, Pins};

/// One official file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogFile {
    /// File name (as on the servers).
    pub name: &'static str,
    /// Published MD5 of the file.
    pub md5: Option<&'static str>,
    /// SHA-256 of the file.
    pub sha256: Option<&'static str>,
    /// SHA-256 of the decompressed payload (`.gz` files).
    pub payload_sha256: Option<&'static str>,
}

impl CatalogFile {
    /// The digests a copy must match.
    pub fn pins(&self) -> Pins {
        Pins {
            archive: self
                .sha256
                .map(|h| Digest::Sha256(h.into()))
                .into_iter()
                .chain(self.md5.map(|h| Digest::Md5(h.into())))
                .collect(),
            payload_sha256: self.payload_sha256.map(Into::into),
        }
    }
}

/// A dataset's files and where they live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Name used on the command line and as the cache sub-directory.
    pub name: &'static str,
    /// Base URLs holding the files, tried in order.
    pub base_urls: &'static [&'static str],
    /// The files.
    pub files: &'static [CatalogFile],
    /// Directories where a system package installs the original files.
    pub system_dirs: &'static [&'static str],
}

const fn f(name: &'static str, md5: &'static str, payload: Option<&'static str>) -> CatalogFile {
    CatalogFile {
        name,
        md5: Some(md5),
        sha256: None,
        payload_sha256: payload,
    }
}

/// MNIST.
pub const MNIST: CatalogEntry = CatalogEntry {
    name: "mnist",
    base_urls: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    files: &[
        f(
            "train-images-idx3-ubyte.gz",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            None,
        ),
        f(
            "train-labels-idx1-ubyte.gz",
            "d53e105ee54ea40749a09fcbcd1e9432",
            None,
        ),
        f(
            "t10k-images-idx3-ubyte.gz",
            "9fb629c4189551a2d022fa330f9573f3",
            None,
        ),
        f(
            "t10k-labels-idx1-ubyte.gz",
            "ec29112dd5afa0611ce80d1b7f02629c",
            None,
        ),
    ],
    system_dirs: &[],
};

/// Fashion-MNIST.
pub const FASHION_MNIST: CatalogEntry = CatalogEntry {
    name: "fashion-mnist",
    base_urls: &[
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ],
    files: &[
        f(
            "train-images-idx3-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            Some("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        ),
        f(
            "train-labels-idx1-ubyte.gz",
            "25c81989df183df01b3e8a0aad5dffbe",
            Some("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        ),
        f(
            "t10k-images-idx3-ubyte.gz",
            "bef4ecab320f06d8554ea6380940ec79",
            Some("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        ),
        f(
            "t10k-labels-idx1-ubyte.gz",
            "bb300cfdad3c16e7a12a480ee83cd310",
            Some("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        ),
    ],
    system_dirs: &["/usr/share/datasets/fashion-mnist"],
};

/// CIFAR-10, binary version.
pub const CIFAR10: CatalogEntry = CatalogEntry {
    name: "cifar10",
    base_urls: &["https://www.cs.toronto.edu/~kriz/"],
    files: &[CatalogFile {
        name: "cifar-10-binary.tar.gz",
        md5: Some("c32a1d4ab5d03f1284b67883e8d87530"),
        sha256: Some("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
        payload_sha256: None,
    }],
    system_dirs: &[],
};

/// CIFAR-100, binary version.
pub const CIFAR100: CatalogEntry = CatalogEntry {
    name: "cifar100",
    base_urls: &["https://www.cs.toronto.edu/~kriz/"],
    files: &[f(
        "cifar-100-binary.tar.gz",
        "03b5dce01913d631647c71ecec9e9cb8",
        None,
    )],
    system_dirs: &[],
};

/// Every dataset.
pub const CATALOG: [CatalogEntry; 4] = [MNIST, FASHION_MNIST, CIFAR10, CIFAR100];

/// The Keras applications' ImageNet weights (legacy HDF5, as `keras.applications` downloads
/// them), with the MD5s Keras pins.
pub const PRETRAINED: [CatalogEntry; 4] = [
    CatalogEntry {
        name: "vgg16-imagenet",
        base_urls: &["https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"],
        files: &[f(
            "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            "64373286793e3c8b2b4e3219cbf3544b",
            None,
        )],
        system_dirs: &[],
    },
    CatalogEntry {
        name: "vgg16-imagenet-notop",
        base_urls: &["https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"],
        files: &[f(
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "6d6bbae143d832006294945121d1f1fc",
            None,
        )],
        system_dirs: &[],
    },
    CatalogEntry {
        name: "resnet50-imagenet",
        base_urls: &["https://storage.googleapis.com/tensorflow/keras-applications/resnet/"],
        files: &[f(
            "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
            "2cb95161c43110f7111970584f804107",
            None,
        )],
        system_dirs: &[],
    },
    CatalogEntry {
        name: "resnet50-imagenet-notop",
        base_urls: &["https://storage.googleapis.com/tensorflow/keras-applications/resnet/"],
        files: &[f(
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "4d473c1dd8becc155b73f8504c6f6626",
            None,
        )],
        system_dirs: &[],
    },
];

/// MobileNetV2's ImageNet weights (width 1.0, 224x224) at Keras's URLs. Keras pins no digest
/// for them, so neither does this catalog: fetched as they are, they are refused (a file with
/// no pin never verifies); the caller must add a digest it trusts to the entry first.
pub const UNPINNED: [CatalogEntry; 2] = [
    CatalogEntry {
        name: "mobilenetv2-imagenet",
        base_urls: &["https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"],
        files: &[CatalogFile {
            name: "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
            md5: None,
            sha256: None,
            payload_sha256: None,
        }],
        system_dirs: &[],
    },
    CatalogEntry {
        name: "mobilenetv2-imagenet-notop",
        base_urls: &["https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"],
        files: &[CatalogFile {
            name: "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
            md5: None,
            sha256: None,
            payload_sha256: None,
        }],
        system_dirs: &[],
    },
];

/// The dataset or pretrained weights called `name`.
pub fn entry(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG
        .iter()
        .chain(PRETRAINED.iter())
        .chain(UNPINNED.iter())
        .find(|e| e.name == name)
}

/// Every name [`entry`] knows.
pub fn names() -> Vec<&'static str> {
    CATALOG
        .iter()
        .chain(PRETRAINED.iter())
        .chain(UNPINNED.iter())
        .map(|e| e.name)
        .collect()
}

#[cfg(test)]
mod tests {
    const KERAS_APPS: &str = "https://storage.googleapis.com/tensorflow/keras-applications/";

    #[test]
    fn pretrained_urls_are_kerass() {
        for e in super::PRETRAINED {
            assert!(e.base_urls[0].starts_with(KERAS_APPS), "{}", e.name);
            assert!(e.files[0].md5.is_some_and(|m| m.len() == 32), "{}", e.name);
        }
        assert!(super::entry("resnet50-imagenet").is_some());
        assert!(super::names().contains(&"cifar10"));
    }
}

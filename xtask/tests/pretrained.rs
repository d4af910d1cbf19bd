//! `cargo xtask fetch-data <weights>` end to end against a loopback server, with a weights file
//! made here (the Keras applications' real files cannot be fetched on these machines): the
//! download is verified against its pinned MD5 and converted to a `.cnn` model with the
//! weights, the preprocessing and ImageNet's class names; a file that does not match its pin
//! is refused and nothing is converted.

#[path = "../../crates/cnn-datasets/tests/common/mod.rs"]
mod server;

use cnn_datasets::LoadOptions;
use cnn_datasets::catalog::{CatalogEntry, CatalogFile};
use cnn_nn::{Model, Preprocess, spec::layers::*};
use xtask::pretrained::{Pretrained, fetch_and_convert};

/// A small classifier with 1000 outputs (ImageNet's count) and its Keras 3 weights file, as
/// `model.save_weights` writes it (taken from a `.keras` export).
fn weights_file() -> (cnn_nn::ModelSpec, Model, Vec<u8>) {
    use std::io::Read;
    let spec = cnn_nn::ModelSpec::new("tiny-imagenet", [8, 8, 3])
        .add(conv2d(4, 3, "relu"))
        .add(flatten())
        .add(dense(1000, "softmax"));
    let model = Model::new(&spec, 3).unwrap();
    let keras = cnn_keras::to_keras_bytes(&model, &Default::default()).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(keras)).unwrap();
    let mut h5 = Vec::new();
    zip.by_name("model.weights.h5")
        .unwrap()
        .read_to_end(&mut h5)
        .unwrap();
    (spec, model, h5)
}

fn entry(md5: String) -> CatalogEntry {
    let files = Box::leak(Box::new([CatalogFile {
        name: "tiny_weights.weights.h5",
        md5: Some(Box::leak(md5.into_boxed_str())),
        sha256: None,
        payload_sha256: None,
    }]));
    CatalogEntry {
        name: "tiny-imagenet",
        base_urls: &[],
        files,
        system_dirs: &[],
    }
}

const TINY: Pretrained = Pretrained {
    name: "tiny-imagenet",
    zoo: "",
    top: true,
    preprocess: Preprocess::Caffe,
    pinned: true,
};

#[test]
fn weights_download_verified_and_convert_to_a_model() {
    let (spec, model, h5) = weights_file();
    let md5 = {
        use md5::{Digest, Md5};
        hex::encode(Md5::digest(&h5))
    };
    let s = server::Server::start();
    s.route(
        "/apps/tiny_weights.weights.h5",
        h5,
        vec![server::Fault::CutAfter(1000)],
    );
    let data = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        data_dir: Some(data.path().into()),
        mirror: Some(s.url("/apps/")),
        ..Default::default()
    };
    let (reports, out, said) = fetch_and_convert(&TINY, &entry(md5.clone()), &spec, &opts).unwrap();
    assert!(
        reports[0].to_string().contains("downloaded from"),
        "{}",
        reports[0]
    );
    assert_eq!(out, data.path().join("tiny-imagenet/tiny-imagenet.cnn"));
    assert!(
        said.contains("caffe preprocessing, ImageNet classes"),
        "{said}"
    );
    let saved = cnn_nn::load_model(&out).unwrap();
    for ((na, a), (nb, b)) in model.named_weights().zip(saved.model.named_weights()) {
        assert_eq!((na, a.data()), (nb, b.data()));
    }
    assert_eq!(saved.extra["preprocess"], "caffe");
    assert!(saved.extra["class_names"].starts_with("[\"tench\",\"goldfish\""));
    // Again: cached and already converted, nothing fetched.
    let (_, _, said) = fetch_and_convert(&TINY, &entry(md5), &spec, &opts).unwrap();
    assert!(said.contains("converted before"), "{said}");

    // A file that does not match its pin is refused; nothing is converted.
    let other = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        data_dir: Some(other.path().into()),
        ..opts
    };
    let err = fetch_and_convert(&TINY, &entry("0".repeat(32)), &spec, &opts).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("MD5 00000000"), "{msg}");
    assert!(
        !other
            .path()
            .join("tiny-imagenet/tiny-imagenet.cnn")
            .exists()
    );
}

#[test]
fn the_catalog_knows_kerass_files_and_their_architectures() {
    for p in xtask::pretrained::PRETRAINED {
        let e = cnn_datasets::catalog::entry(p.name).unwrap();
        let file = e.files[0].name;
        assert!(file.replace('_', "").starts_with(p.zoo), "{}", p.name);
        let notop = file.ends_with("_notop.h5") || file.ends_with("_no_top.h5");
        assert_eq!(notop, !p.top, "{}", p.name);
        // Keras pins VGG16's and ResNet50's files, not MobileNetV2's.
        assert_eq!(e.files[0].md5.is_some(), p.pinned, "{}", p.name);
        let arch = cnn_nn::Architecture::from_spec(&p.spec().unwrap()).unwrap();
        if p.top {
            assert_eq!(arch.output_shape(), [1000]);
        }
    }
    // Keras's parameter totals for the applications (Keras 3.15 count_params()).
    let total = |name: &str| {
        let p = xtask::pretrained::find(name).unwrap();
        cnn_nn::Architecture::from_spec(&p.spec().unwrap())
            .unwrap()
            .param_counts()
            .0
    };
    assert_eq!(total("vgg16-imagenet"), 138_357_544);
    assert_eq!(total("resnet50-imagenet"), 25_636_712);
    assert_eq!(total("mobilenetv2-imagenet"), 3_538_984);
    assert_eq!(total("mobilenetv2-imagenet-notop"), 2_257_984);
}

/// Weights Keras publishes no digest for come in only under a SHA-256 the user gives: the
/// download must match it.
#[test]
fn unpinned_weights_need_a_digest_and_must_match_it() {
    let (spec, _, h5) = weights_file();
    let sha = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&h5))
    };
    let s = server::Server::start();
    s.route("/apps/tiny_weights.weights.h5", h5, vec![]);
    let unpinned = CatalogEntry {
        name: "tiny-imagenet",
        base_urls: &[],
        files: &[CatalogFile {
            name: "tiny_weights.weights.h5",
            md5: None,
            sha256: None,
            payload_sha256: None,
        }],
        system_dirs: &[],
    };
    let data = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        data_dir: Some(data.path().into()),
        mirror: Some(s.url("/apps/")),
        ..Default::default()
    };
    // Without a pin: refused after download, nothing kept or converted.
    let err = fetch_and_convert(&TINY, &unpinned, &spec, &opts).unwrap_err();
    assert!(format!("{err:#}").contains("none is known"), "{err:#}");
    assert!(!data.path().join("tiny-imagenet/tiny-imagenet.cnn").exists());
    // With the wrong digest: refused.
    let wrong = xtask::pretrained::with_sha256(&unpinned, &"ab".repeat(32)).unwrap();
    assert!(fetch_and_convert(&TINY, &wrong, &spec, &opts).is_err());
    // With the right one (any case): fetched and converted.
    let right = xtask::pretrained::with_sha256(&unpinned, &sha.to_uppercase()).unwrap();
    let (_, out, _) = fetch_and_convert(&TINY, &right, &spec, &opts).unwrap();
    assert!(out.exists());
    // Not a SHA-256.
    for bad in ["", "abc", &"g".repeat(64)] {
        assert!(
            xtask::pretrained::with_sha256(&unpinned, bad).is_err(),
            "{bad}"
        );
    }
}

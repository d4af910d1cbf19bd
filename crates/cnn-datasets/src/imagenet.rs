//! ImageNet-1k's classes, as Keras's `decode_predictions` names them: the 1000 WordNet ids in
//! the order ImageNet models output them, each with its first lemma (`n02504458`,
//! `African_elephant`). The bundled `data/imagenet_class_index.json` is Keras's
//! `imagenet_class_index.json` byte for byte (its MD5 is the hash Keras pins; rebuilt from
//! timm's synset lists by `scripts/imagenet/class_index.py`).

use std::sync::OnceLock;

/// Keras's `imagenet_class_index.json`: `{"0": ["n01440764", "tench"], …}`.
pub const IMAGENET_CLASS_INDEX_JSON: &str = include_str!("../data/imagenet_class_index.json");

/// The MD5 Keras pins for that file (`keras.applications.imagenet_utils`).
pub const IMAGENET_CLASS_INDEX_MD5: &str = "c2c37ea517e94d9795004a39431a14cb";

/// One ImageNet class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageNetClass {
    /// The WordNet id (`n02504458`).
    pub wnid: String,
    /// Keras's name for it (`African_elephant`).
    pub name: String,
}

/// The 1000 classes in output order.
pub fn imagenet_classes() -> &'static [ImageNetClass] {
    static CLASSES: OnceLock<Vec<ImageNetClass>> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let index: std::collections::HashMap<String, (String, String)> =
            serde_json::from_str(IMAGENET_CLASS_INDEX_JSON).unwrap_or_default();
        (0..index.len())
            .filter_map(|i| index.get(&i.to_string()))
            .map(|(wnid, name)| ImageNetClass {
                wnid: wnid.clone(),
                name: name.clone(),
            })
            .collect()
    })
}

/// The classes as the model-file metadata entries `cnn predict` reads: `class_names` and
/// `class_ids` (WordNet ids), each a JSON list in output order.
pub fn imagenet_class_metadata() -> [(String, String); 2] {
    let c = imagenet_classes();
    let list = |f: fn(&ImageNetClass) -> &str| {
        serde_json::to_string(&c.iter().map(f).collect::<Vec<_>>()).unwrap_or_default()
    };
    [
        ("class_names".into(), list(|c| &c.name)),
        ("class_ids".into(), list(|c| &c.wnid)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_index_is_keras_file() {
        use md5::{Digest, Md5};
        assert_eq!(
            hex::encode(Md5::digest(IMAGENET_CLASS_INDEX_JSON.as_bytes())),
            IMAGENET_CLASS_INDEX_MD5
        );
        let c = imagenet_classes();
        assert_eq!(c.len(), 1000);
        assert_eq!(
            (c[0].wnid.as_str(), c[0].name.as_str()),
            ("n01440764", "tench")
        );
        assert_eq!(c[386].name, "African_elephant");
        assert_eq!(c[999].name, "toilet_tissue");
    }
}

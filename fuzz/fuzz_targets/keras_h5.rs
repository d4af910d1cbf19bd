//! Keras HDF5 files (legacy full models, legacy and Keras 3 weights) through the pure-Rust HDF5
//! reader: never a panic, never a giant allocation. Weights-only files are read onto a small
//! architecture, as `cnn import W.h5 --arch …` does.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The architecture of the fixture weights files (`crates/cnn-keras/tests/fixtures`).
fn arch() -> &'static cnn_nn::ModelSpec {
    static SPEC: OnceLock<cnn_nn::ModelSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let bytes = include_bytes!("../../crates/cnn-keras/tests/fixtures/sequential.keras");
        cnn_keras::import_keras_bytes(bytes, Path::new("sequential.keras"))
            .expect("the fixture imports")
            .model
            .architecture()
            .to_spec()
    })
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.h5");
    for spec in [None, Some(arch())] {
        if let Ok(imported) = cnn_keras::import_h5_bytes(data, path, spec) {
            let a = imported.model.architecture();
            assert_eq!(
                imported.model.params().len() + imported.model.state().len(),
                a.params().count()
            );
        }
    }
});

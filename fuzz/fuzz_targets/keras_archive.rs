//! Keras 3 `.keras` archives (zip of config.json, model.weights.h5, metadata.json): never a
//! panic, never a giant allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(imported) = cnn_keras::import_keras_bytes(data, std::path::Path::new("fuzz.keras")) {
        let a = imported.model.architecture();
        assert_eq!(
            imported.model.params().len() + imported.model.state().len(),
            a.params().count()
        );
    }
});

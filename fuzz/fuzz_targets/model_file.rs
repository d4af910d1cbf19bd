//! Model files (safetensors + JSON metadata): never a panic, never a giant allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(saved) = cnn_nn::load_model_bytes(data, std::path::Path::new("fuzz.cnn")) {
        // Whatever loads must be internally consistent.
        let arch = saved.model.architecture();
        assert_eq!(
            saved.model.params().len() + saved.model.state().len(),
            arch.params().count()
        );
    }
});

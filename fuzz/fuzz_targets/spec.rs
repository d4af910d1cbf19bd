//! Model specs (JSON) through shape inference and the summary: never a panic — built with
//! overflow checks on, so no size arithmetic may wrap — and whatever resolves is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = cnn_nn::ModelSpec::from_json(text) else {
        return;
    };
    let Ok(arch) = cnn_nn::Architecture::from_spec(&spec) else {
        return;
    };
    let (total, trainable, frozen) = arch.param_counts();
    assert_eq!(total, trainable + frozen);
    assert!(total <= cnn_nn::MAX_PARAMS);
    for layer in &arch.layers {
        assert!(layer.output_len() <= cnn_nn::MAX_ACTIVATIONS);
    }
    let text = cnn_nn::summary(&arch, true);
    assert!(text.contains("Total params"));
    // What a model file stores resolves to the same architecture.
    let again = cnn_nn::ModelSpec::from_json(&arch.to_spec().to_json()).expect("round trip");
    assert_eq!(cnn_nn::Architecture::from_spec(&again).expect("resolves again"), arch);
});

//! torchvision state_dicts in safetensors, onto torchvision's ResNet-50 at 1/16 width (the
//! committed fixture's architecture): never a panic, never a giant allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut t = cnn_torchvision::Torchvision::new("resnet50");
    t.input_shape = vec![64, 64, 3];
    t.classes = 10;
    t.width_divisor = 16;
    let _ = cnn_torchvision::import_safetensors_bytes(data, &t, "fuzz.safetensors");
});

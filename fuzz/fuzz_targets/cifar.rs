//! CIFAR records with one (CIFAR-10) or two (CIFAR-100) label bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (label_bytes, at, classes) in [(1, 0, 10), (2, 1, 100), (2, 0, 20)] {
        if let Ok(s) = cnn_datasets::parse_cifar_records(data, label_bytes, at, classes, "fuzz") {
            assert_eq!(s.images.len(), s.len() * 32 * 32 * 3);
            assert!(s.labels.iter().all(|&l| (l as usize) < classes));
        }
    }
});

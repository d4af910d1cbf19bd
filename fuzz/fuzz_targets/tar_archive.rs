//! `.tar.gz` bytes through the member reader that CIFAR uses, with small limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = cnn_datasets::archive::Limits {
        max_entry: 1 << 20,
        max_total: 4 << 20,
        max_entries: 1000,
    };
    let wanted = ["cifar-10-batches-bin/test_batch.bin", "a", "b/c"];
    if let Ok(m) = cnn_datasets::archive::read_members_from(
        data,
        std::path::Path::new("fuzz"),
        &wanted,
        limits,
    ) {
        assert_eq!(m.len(), wanted.len());
    }
});

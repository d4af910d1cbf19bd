//! IDX bytes, raw and as gzip: parse errors are fine, panics and inconsistency are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for bytes in [
        Some(data.to_vec()),
        cnn_datasets::idx::read_gz_bytes(data, "fuzz").ok(),
    ]
    .into_iter()
    .flatten()
    {
        if let Ok(a) = cnn_datasets::idx::parse_idx(&bytes, "fuzz") {
            assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
            assert!(a.data.len() <= bytes.len());
        }
    }
});

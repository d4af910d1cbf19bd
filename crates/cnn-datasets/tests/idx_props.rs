//! IDX round-trip and hostile-input property tests.

use std::io::Write;

use cnn_datasets::idx::{parse_idx, read_idx, write_idx};
use proptest::prelude::*;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn write_then_read_gives_the_same_array(dims in prop::collection::vec(1usize..6, 1..4), seed in any::<u8>(), compress in any::<bool>()) {
        let n: usize = dims.iter().product();
        let data: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let bytes = write_idx(&dims, &data);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.idx");
        std::fs::write(&path, if compress { gz(&bytes) } else { bytes }).unwrap();
        let back = read_idx(&path).unwrap();
        prop_assert_eq!(back.dims, dims);
        prop_assert_eq!(back.data, data);
    }

    #[test]
    fn truncation_is_an_error(dims in prop::collection::vec(1usize..5, 1..4), cut in any::<prop::sample::Index>()) {
        let n: usize = dims.iter().product();
        let bytes = write_idx(&dims, &vec![7u8; n]);
        let at = cut.index(bytes.len());
        prop_assert!(parse_idx(&bytes[..at], "t").is_err());
        // Truncated gzip streams are errors too.
        let z = gz(&bytes);
        let at = cut.index(z.len());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gz");
        std::fs::write(&path, &z[..at]).unwrap();
        prop_assert!(read_idx(&path).is_err());
    }

    #[test]
    fn random_headers_never_panic_or_overallocate(header in prop::collection::vec(any::<u8>(), 0..40), body in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = header;
        bytes.extend(body);
        if let Ok(a) = parse_idx(&bytes, "t") {
            // Anything accepted is self-consistent and no larger than the input.
            prop_assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
            prop_assert!(a.data.len() <= bytes.len());
        }
    }

    #[test]
    fn absurd_dimension_claims_are_rejected(d in prop::collection::vec(1u32..u32::MAX, 1..5)) {
        let mut bytes = vec![0, 0, 8, d.len() as u8];
        for x in &d { bytes.extend_from_slice(&x.to_be_bytes()); }
        bytes.extend_from_slice(&[1, 2, 3]);
        let claimed: u128 = d.iter().map(|&x| x as u128).product();
        prop_assume!(claimed != 3);
        prop_assert!(parse_idx(&bytes, "t").is_err());
    }
}

#[test]
fn decompression_bomb_is_capped() {
    // 64 MiB of zeros compresses to ~64 KiB; with a 1 MiB cap it must be refused.
    let big = vec![0u8; 64 << 20];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.gz");
    std::fs::write(&path, gz(&big)).unwrap();
    let err = cnn_datasets::idx::read_maybe_gz(&path, 1 << 20).unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
}

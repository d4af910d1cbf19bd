//! Hostile `.tar.gz` extension records: a GNU long-name record claiming 256 MiB (and holding
//! them, compressed to a few hundred kilobytes) is refused before it is read, so memory stays
//! bounded; PAX `size` records, which would make the archive mean different things to
//! different readers, are refused; honest long names still work.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cnn_datasets::archive::{Limits, MAX_EXTENSION, extract, read_members_from};
use flate2::Compression;
use flate2::write::GzEncoder;

/// A reader that counts the compressed bytes taken from it.
struct Counting<R> {
    inner: R,
    taken: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

/// A raw 512-byte header of `kind` for `name` with `size` bytes of data following.
fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h
}

/// gzip of: a `kind` record of `size` zero bytes, then one small regular file.
fn with_record(kind: tar::EntryType, size: u64, payload: Option<&[u8]>) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(header("././@LongLink", kind, size).as_bytes())
        .unwrap();
    match payload {
        Some(p) => gz.write_all(p).unwrap(),
        None => {
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..size >> 20 {
                gz.write_all(&zeros).unwrap();
            }
        }
    }
    let pad = (512 - (size % 512) as usize) % 512;
    gz.write_all(&vec![0u8; pad]).unwrap();
    gz.write_all(header("a.bin", tar::EntryType::Regular, 4).as_bytes())
        .unwrap();
    gz.write_all(&[1, 2, 3, 4]).unwrap();
    gz.write_all(&[0u8; 508]).unwrap();
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_long_name_bomb_is_refused_before_it_is_read() {
    let size = 256u64 << 20;
    let bomb = with_record(tar::EntryType::GNULongName, size, None);
    assert!(bomb.len() < 1 << 20, "{} bytes compressed", bomb.len());
    let taken = Arc::new(AtomicU64::new(0));
    let reader = Counting {
        inner: &bomb[..],
        taken: taken.clone(),
    };
    let e = read_members_from(
        reader,
        Path::new("bomb.tar.gz"),
        &["a.bin"],
        Limits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&format!(
            "a {size}-byte long-name or PAX record is over the limit"
        )),
        "{e}"
    );
    // Stopped at the record's header: a small part of the compressed stream was read (the
    // tar crate alone read all 256 MiB into one buffer before returning the next entry).
    let read = taken.load(Ordering::SeqCst);
    assert!(
        read < bomb.len() as u64 / 4,
        "read {read} of {} bytes",
        bomb.len()
    );
    // The same for a PAX record.
    let pax = with_record(tar::EntryType::XHeader, MAX_EXTENSION + 512, None);
    let e = read_members_from(
        &pax[..],
        Path::new("pax.tar.gz"),
        &["a.bin"],
        Limits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("over the limit of 65536 bytes"), "{e}");
}

#[test]
fn pax_size_records_are_refused_and_long_names_work() {
    // "NN size=9999999999\n": a PAX record overriding the next entry's size.
    let record = b"19 size=9999999999\n";
    let pax = with_record(tar::EntryType::XHeader, record.len() as u64, Some(record));
    let e = read_members_from(
        &pax[..],
        Path::new("pax.tar.gz"),
        &["a.bin"],
        Limits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("refusing a PAX size record"), "{e}");
    // A PAX path record names the next entry.
    let record = b"24 path=dir/renamed.bin\n";
    let pax = with_record(tar::EntryType::XHeader, record.len() as u64, Some(record));
    let got = read_members_from(
        &pax[..],
        Path::new("pax.tar.gz"),
        &["dir/renamed.bin"],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(got["dir/renamed.bin"], [1, 2, 3, 4]);
    // A GNU long name, as tar writes it for a path over 100 bytes, is honoured.
    let long = format!("{}/file.bin", "d".repeat(150));
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    {
        let mut b = tar::Builder::new(&mut gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &[7u8, 8, 9][..]).unwrap();
        b.finish().unwrap();
    }
    let bytes = gz.finish().unwrap();
    let got = read_members_from(
        &bytes[..],
        Path::new("long.tar.gz"),
        &[&long],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(got[&long], [7, 8, 9]);
    // And extraction writes it there (and removes nothing it should not).
    let dir = tempfile::tempdir().unwrap();
    let tgz = dir.path().join("long.tar.gz");
    std::fs::write(&tgz, &bytes).unwrap();
    let written = extract(&tgz, &dir.path().join("out"), Limits::default()).unwrap();
    assert_eq!(written, [dir.path().join("out").join(&long)]);
    assert_eq!(std::fs::read(&written[0]).unwrap(), [7, 8, 9]);
}

//! Hostile `.tar.gz` extension records: a GNU long-name record claiming 256 MiB (and holding
//! them, compressed to a few hundred kilobytes) is refused before it is read, so memory stays
//! bounded; PAX `size` records, which would make the archive mean different things to
//! different readers, are refused; honest long names still work. Under an address-space limit
//! (RLIMIT_AS, in a child process) that a reader holding the record whole would hit, the bomb
//! still ends in the clear error.

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

/// The process's current virtual size (`VmSize`), in bytes.
#[cfg(target_os = "linux")]
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    kb * 1024
}

/// Headroom above the child's current address space: less than the bomb's record claims.
#[cfg(target_os = "linux")]
const HEADROOM: u64 = 96 << 20;

/// Run in a child process by the test below (`--ignored --exact`): caps its own address space
/// at its current size plus [`HEADROOM`], shows that a reader holding the record whole could not
/// (a 256 MiB reservation fails), then reads the bomb and prints the outcome.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "runs in a child process of a_bomb_fails_cleanly_under_an_address_space_limit"]
fn bomb_child_under_rlimit_as() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let size = 256u64 << 20;
    let bomb = with_record(tar::EntryType::GNULongName, size, None);
    let limit = vm_size() + HEADROOM;
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(limit),
            maximum: None,
        },
    )
    .expect("setrlimit(RLIMIT_AS)");
    let holding_it_whole = Vec::<u8>::new().try_reserve_exact(size as usize).is_ok();
    println!("CHILD reserve-256MiB-ok={holding_it_whole}");
    let outcome = read_members_from(
        &bomb[..],
        Path::new("bomb.tar.gz"),
        &["a.bin"],
        Limits::default(),
    );
    match outcome {
        Ok(_) => println!("CHILD outcome=ok"),
        Err(e) => println!("CHILD outcome=error: {e}"),
    }
}

/// The long-name bomb under an address-space limit (RLIMIT_AS, in a child process so the limit
/// binds nothing else): the read ends with the clear error, the process neither aborts on a
/// failed allocation nor is killed.
#[cfg(target_os = "linux")]
#[test]
fn a_bomb_fails_cleanly_under_an_address_space_limit() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "bomb_child_under_rlimit_as",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    // The limit binds: holding the 256 MiB record whole is impossible in the child.
    assert!(
        stdout.contains("CHILD reserve-256MiB-ok=false"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("CHILD outcome=error: bomb.tar.gz (entry 0): a 268435456-byte long-name")
            && stdout.contains("record is over the limit of 65536 bytes"),
        "{stdout}\n{stderr}"
    );
}

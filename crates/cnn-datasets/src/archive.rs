//! Reading and extracting `.tar.gz` archives safely: entries with absolute paths, `..`
//! components or links are refused, and sizes are capped so a decompression bomb stops early.
//!
//! The `tar` crate reads GNU long-name and PAX extension records whole into memory before
//! its caller sees anything, and lets a PAX `size` record override the header's size. So the
//! archive is walked raw: extension records are this module's to read, each capped at
//! [`MAX_EXTENSION`] bytes before a byte of it is read; GNU long names and PAX `path` records
//! name the next entry; a PAX `size` record is refused (the header's size is the only size);
//! GNU sparse entries are refused.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::{DatasetError, Result};

/// Size limits for archive reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest single entry, in bytes.
    pub max_entry: u64,
    /// Largest total of all entries read or written, in bytes.
    pub max_total: u64,
    /// Most entries.
    pub max_entries: usize,
}

impl Default for Limits {
    /// 1 GiB per entry, 8 GiB in all, one million entries.
    fn default() -> Self {
        Limits {
            max_entry: 1 << 30,
            max_total: 8 << 30,
            max_entries: 1_000_000,
        }
    }
}

/// Largest GNU long-name or PAX extension record read (64 KiB): far more than any path needs.
pub const MAX_EXTENSION: u64 = 64 << 10;

fn err(file: &Path, at: impl Into<String>, message: impl Into<String>) -> DatasetError {
    DatasetError::Format {
        file: file.display().to_string(),
        at: at.into(),
        message: message.into(),
    }
}

/// Checks that an entry path stays inside the destination: relative, no `..`, no root.
pub fn safe_relative(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && path.components().any(|c| matches!(c, Component::Normal(_)))
}

/// Walks the entries of a `.tar.gz` stream with the checks every reader needs — the entry
/// count limit, a readable header, a relative path without `..` — and calls `f` on each entry
/// with its path.
fn for_each_entry<R: Read>(
    reader: R,
    file: &Path,
    limits: Limits,
    mut f: impl FnMut(&mut tar::Entry<'_, MultiGzDecoder<R>>, PathBuf) -> Result<()>,
) -> Result<()> {
    let mut archive = tar::Archive::new(MultiGzDecoder::new(reader));
    let entries = archive
        .entries()
        .map_err(|e| err(file, "archive", e.to_string()))?
        .raw(true);
    // The name the next entry takes from a GNU long-name or PAX `path` record.
    let mut next_name: Option<PathBuf> = None;
    for (i, entry) in entries.enumerate() {
        if i >= limits.max_entries {
            return Err(err(
                file,
                format!("entry {i}"),
                format!("more than {} entries", limits.max_entries),
            ));
        }
        let mut entry = entry.map_err(|e| {
            err(
                file,
                format!("entry {i}"),
                format!("corrupt or truncated archive: {e}"),
            )
        })?;
        let kind = entry.header().entry_type();
        if kind.is_gnu_sparse() {
            return Err(err(
                file,
                format!("entry {i}"),
                "refusing a GNU sparse entry",
            ));
        }
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if extension {
            let at = format!("entry {i}");
            let data = read_extension(&mut entry, file, &at)?;
            if kind.is_gnu_longname() {
                let name = data.split(|&b| b == 0).next().unwrap_or_default();
                next_name = Some(PathBuf::from(String::from_utf8_lossy(name).into_owned()));
            } else if kind.is_pax_local_extensions() || kind.is_pax_global_extensions() {
                for record in tar::PaxExtensions::new(&data) {
                    let record =
                        record.map_err(|e| err(file, &at, format!("malformed PAX record: {e}")))?;
                    match record.key_bytes() {
                        b"size" => {
                            return Err(err(
                                file,
                                &at,
                                "refusing a PAX size record (only the header's size is used)",
                            ));
                        }
                        b"path" if kind.is_pax_local_extensions() => {
                            let v = String::from_utf8_lossy(record.value_bytes()).into_owned();
                            next_name = Some(PathBuf::from(v));
                        }
                        _ => {}
                    }
                }
            }
            continue;
        }
        let path = match next_name.take() {
            Some(p) => p,
            None => entry
                .path()
                .map_err(|e| err(file, format!("entry {i}"), e.to_string()))?
                .into_owned(),
        };
        if !safe_relative(&path) {
            return Err(err(
                file,
                path.display().to_string(),
                "refusing an entry with an absolute path or `..`",
            ));
        }
        f(&mut entry, path)?;
    }
    if next_name.is_some() {
        return Err(err(
            file,
            "end",
            "a long-name record names no following entry",
        ));
    }
    Ok(())
}

/// Reads a GNU long-name or PAX record, refusing one over [`MAX_EXTENSION`] before reading it.
fn read_extension<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    file: &Path,
    at: &str,
) -> Result<Vec<u8>> {
    let size = entry.size();
    if size > MAX_EXTENSION {
        return Err(err(
            file,
            at,
            format!(
                "a {size}-byte long-name or PAX record is over the limit of {MAX_EXTENSION} bytes"
            ),
        ));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry
        .take(size)
        .read_to_end(&mut data)
        .map_err(|e| err(file, at, format!("corrupt or truncated archive: {e}")))?;
    if data.len() as u64 != size {
        return Err(err(file, at, "truncated extension record"));
    }
    Ok(data)
}

/// The size of a regular-file entry, checked against the per-entry and total limits.
fn checked_size<R: Read>(
    entry: &tar::Entry<'_, R>,
    file: &Path,
    name: &str,
    total: u64,
    limits: Limits,
) -> Result<u64> {
    // The size the reader uses (no PAX override reaches here: those are refused).
    let size = entry.size();
    if size > limits.max_entry || total + size > limits.max_total {
        return Err(err(
            file,
            name,
            format!(
                "{size} bytes is over the archive limits ({} per entry, {} in all)",
                limits.max_entry, limits.max_total
            ),
        ));
    }
    Ok(size)
}

/// Reads the members named in `wanted` (paths inside the archive) into memory, without
/// extracting anything. Every entry path is checked; a missing member is an error naming it.
pub fn read_members(
    file: &Path,
    wanted: &[&str],
    limits: Limits,
) -> Result<HashMap<String, Vec<u8>>> {
    let f = std::fs::File::open(file).map_err(|source| DatasetError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    read_members_from(f, file, wanted, limits)
}

/// [`read_members`] from any reader of `.tar.gz` bytes; `label` names the source in errors.
pub fn read_members_from(
    reader: impl Read,
    label: &Path,
    wanted: &[&str],
    limits: Limits,
) -> Result<HashMap<String, Vec<u8>>> {
    let file = label;
    let mut out = HashMap::new();
    let mut total = 0u64;
    for_each_entry(reader, file, limits, |entry, path| {
        let name = path.to_string_lossy().trim_start_matches("./").to_string();
        if !wanted.contains(&name.as_str()) {
            return Ok(());
        }
        if !entry.header().entry_type().is_file() {
            return Err(err(file, &name, "is not a regular file"));
        }
        let size = checked_size(entry, file, &name, total, limits)?;
        let mut buf = Vec::new();
        entry
            .take(size)
            .read_to_end(&mut buf)
            .map_err(|e| err(file, &name, format!("corrupt or truncated archive: {e}")))?;
        if buf.len() as u64 != size {
            return Err(err(
                file,
                &name,
                format!("truncated: {} of {size} bytes", buf.len()),
            ));
        }
        total += size;
        out.insert(name, buf);
        Ok(())
    })?;
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !out.contains_key(*w))
        .collect();
    if !missing.is_empty() {
        return Err(err(
            file,
            "members",
            format!("missing {}", missing.join(", ")),
        ));
    }
    Ok(out)
}

/// Extracts regular files and directories into `dest`, refusing links, absolute paths and
/// `..`, within the limits. Returns the files written.
pub fn extract(file: &Path, dest: &Path, limits: Limits) -> Result<Vec<PathBuf>> {
    let io = |p: &Path, source| DatasetError::Io {
        path: p.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(file).map_err(|e| io(file, e))?;
    std::fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
    let mut written = Vec::new();
    let mut total = 0u64;
    for_each_entry(f, file, limits, |entry, path| {
        let kind = entry.header().entry_type();
        let target = dest.join(&path);
        let name = path.display().to_string();
        if kind.is_dir() {
            return std::fs::create_dir_all(&target).map_err(|e| io(&target, e));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(err(file, name, "refusing a link"));
        }
        if !kind.is_file() {
            return Ok(());
        }
        let size = checked_size(entry, file, &name, total, limits)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let mut out = std::fs::File::create(&target).map_err(|e| io(&target, e))?;
        let copied = std::io::copy(&mut entry.take(size), &mut out)
            .map_err(|e| err(file, &name, format!("corrupt or truncated archive: {e}")))?;
        if copied != size {
            return Err(err(
                file,
                name,
                format!("truncated: {copied} of {size} bytes"),
            ));
        }
        // Off Unix each file is flushed on its own; on Unix the whole tree at once, below.
        #[cfg(not(unix))]
        out.sync_all().map_err(|e| io(&target, e))?;
        total += size;
        written.push(target);
        Ok(())
    })?;
    // What was written reaches the disk before the caller renames the extraction into place:
    // one syncfs for the filesystem instead of an fsync per file (tens of thousands of files
    // for CIFAR-10).
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dest).map_err(|e| io(dest, e))?;
        rustix::fs::syncfs(&d).map_err(|e| io(dest, e.into()))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_safety() {
        assert!(safe_relative(Path::new("a/b.bin")));
        assert!(safe_relative(Path::new("./a")));
        assert!(!safe_relative(Path::new("../a")));
        assert!(!safe_relative(Path::new("a/../../b")));
        assert!(!safe_relative(Path::new("/etc/passwd")));
        assert!(!safe_relative(Path::new(".")));
    }
}

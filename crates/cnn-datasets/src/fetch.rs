//! Locating a dataset's files: the data directory first, then known system copies, then a
//! download (unless offline), each file verified and reported.

use std::path::{Path, PathBuf};

use crate::catalog::{CatalogEntry, entry};
use crate::error::{DatasetError, Result};
use crate::source::{FileReport, Origin, data_dir};

/// Where to look for (and put) dataset files.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The data directory (else `CNN_DATA_DIR`, else the platform cache dir).
    pub data_dir: Option<PathBuf>,
    /// Extra system directories to look in after the built-in ones.
    pub system_dirs: Vec<PathBuf>,
    /// Do not look at system copies.
    pub no_system: bool,
    /// Download missing files from this base URL (holding the upstream file names) instead of
    /// the official mirrors; system copies are then not used. When `None`, the
    /// `CNN_DATASET_MIRROR` environment variable is used if set.
    pub mirror: Option<String>,
    /// Never touch the network.
    pub offline: bool,
    /// Draw download progress bars on a terminal.
    pub progress: bool,
}

/// Finds every file of dataset (or pretrained weights) `name`, downloading what is missing
/// unless offline. Returns a verified report per file, in catalog order.
pub fn fetch(name: &str, opts: &LoadOptions) -> Result<Vec<FileReport>> {
    let e = entry(name).ok_or_else(|| {
        DatasetError::Mismatch(format!(
            "unknown dataset `{name}` (known: {})",
            crate::catalog::names().join(", ")
        ))
    })?;
    fetch_entry(e, opts)
}

/// The environment variable naming a mirror base URL when none is given.
pub const MIRROR_ENV: &str = "CNN_DATASET_MIRROR";

/// [`fetch`] for an entry of one's own (files of an internal mirror, each with its digest): the
/// same cache (`<data dir>/<entry name>/`), verification and resumable download.
pub fn fetch_entry(e: &CatalogEntry, opts: &LoadOptions) -> Result<Vec<FileReport>> {
    let mut resolved;
    let opts = if opts.mirror.is_none()
        && let Some(m) = std::env::var(MIRROR_ENV).ok().filter(|m| !m.is_empty())
    {
        resolved = opts.clone();
        resolved.mirror = Some(m);
        &resolved
    } else {
        opts
    };
    let cache = data_dir(opts.data_dir.as_deref()).join(e.name);
    let mut system: Vec<PathBuf> = Vec::new();
    if !opts.no_system && opts.mirror.is_none() {
        system.extend(e.system_dirs.iter().map(PathBuf::from));
        system.extend(opts.system_dirs.iter().cloned());
    }
    // Files are independent: verify them in parallel (hashing dominates).
    let found: Vec<Result<Option<FileReport>>> = std::thread::scope(|s| {
        let hs: Vec<_> = e
            .files
            .iter()
            .map(|f| s.spawn(|| local(f, &cache, &system)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join().unwrap_or(Err(DatasetError::Mismatch(
                    "a verification thread panicked".into(),
                )))
            })
            .collect()
    });
    let mut reports = Vec::with_capacity(e.files.len());
    let mut missing = Vec::new();
    for (f, r) in e.files.iter().zip(found) {
        match r? {
            Some(rep) => reports.push(Some(rep)),
            None => {
                reports.push(None);
                missing.push(f);
            }
        }
    }
    let why = if missing.is_empty() {
        String::new()
    } else if opts.offline {
        "; offline, so nothing was downloaded".to_string()
    } else {
        download_missing(e, &missing, &cache, opts, &mut reports)?
    };
    let still: Vec<String> = e
        .files
        .iter()
        .zip(&reports)
        .filter(|(_, r)| r.is_none())
        .map(|(f, _)| f.name.to_string())
        .collect();
    if !still.is_empty() {
        return Err(DatasetError::Missing {
            dataset: e.name.into(),
            files: still,
            place: cache,
            why,
        });
    }
    Ok(reports.into_iter().flatten().collect())
}

/// A verified copy in the cache or a system directory. A cached copy that fails verification
/// is an error (it is not silently replaced); a system copy that fails is skipped.
fn local(
    f: &crate::catalog::CatalogFile,
    cache: &Path,
    system: &[PathBuf],
) -> Result<Option<FileReport>> {
    let pins = f.pins();
    let places = std::iter::once((cache.to_path_buf(), Origin::Cache))
        .chain(system.iter().map(|d| (d.clone(), Origin::System)));
    for (dir, origin) in places {
        let path = dir.join(f.name);
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| DatasetError::Io {
            path: path.clone(),
            source,
        })?;
        match pins.verify(&bytes, &path.display().to_string()) {
            Ok(verification) => {
                return Ok(Some(FileReport {
                    name: f.name.into(),
                    path,
                    origin,
                    verification,
                }));
            }
            Err(err) if origin == Origin::Cache => {
                return Err(match err {
                    DatasetError::Checksum {
                        expected, actual, ..
                    } => DatasetError::Checksum {
                        path,
                        expected,
                        actual,
                    },
                    other => other,
                });
            }
            Err(_) => continue,
        }
    }
    Ok(None)
}

/// Downloads what is missing; returns why some files could not be had (empty when all came).
/// A file that arrives but fails verification is an error, not a missing file.
#[cfg(feature = "download")]
fn download_missing(
    e: &CatalogEntry,
    missing: &[&crate::catalog::CatalogFile],
    cache: &Path,
    opts: &LoadOptions,
    reports: &mut [Option<FileReport>],
) -> Result<String> {
    use crate::download::{Downloader, RemoteFile};
    let mut d = Downloader::standard()?;
    d.progress = opts.progress;
    let mut failures = Vec::new();
    for f in missing {
        let urls = match &opts.mirror {
            Some(m) => vec![format!("{}/{}", m.trim_end_matches('/'), f.name)],
            None => e
                .base_urls
                .iter()
                .map(|b| format!("{b}{}", f.name))
                .collect(),
        };
        match d.fetch(
            &RemoteFile {
                name: f.name.into(),
                urls,
                pins: f.pins(),
            },
            cache,
        ) {
            Ok((path, verification, url)) => {
                let origin = url.map(Origin::Download).unwrap_or(Origin::Cache);
                let i = e.files.iter().position(|x| x.name == f.name).unwrap_or(0);
                reports[i] = Some(FileReport {
                    name: f.name.into(),
                    path,
                    origin,
                    verification,
                });
            }
            Err(DatasetError::Download { message, .. }) => {
                failures.push(format!("{}: {message}", f.name))
            }
            Err(other) => return Err(other),
        }
    }
    Ok(if failures.is_empty() {
        String::new()
    } else {
        format!("; download failed: {}", failures.join("; "))
    })
}

#[cfg(not(feature = "download"))]
fn download_missing(
    _e: &CatalogEntry,
    _missing: &[&crate::catalog::CatalogFile],
    _cache: &Path,
    _opts: &LoadOptions,
    _reports: &mut [Option<FileReport>],
) -> Result<String> {
    Ok("; this build has no download support (feature `download`)".into())
}

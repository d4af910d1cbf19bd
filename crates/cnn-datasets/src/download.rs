//! Verified, resumable HTTP(S) downloads (feature `download`).
//!
//! A file is fetched into `<dir>/<name>.part`, resuming with an HTTP `Range` request after a
//! dropped connection; 5xx answers and broken bodies are retried with exponential backoff; a
//! 4xx or an unreachable host moves on to the next URL. When the bytes are complete they are
//! verified against the pinned digests — a mismatch deletes them and is an error — then fsynced
//! and renamed to `<dir>/<name>`, so a half-downloaded or corrupted file is never taken as good.
//! A lock file serialises processes sharing the directory: the second waits, then finds the
//! verified file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};

use crate::digest::Pins;
use crate::error::{DatasetError, Result};
use crate::source::Verification;

/// One file to fetch: its name, the URLs to try in order, and its pinned digests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name in the destination directory.
    pub name: String,
    /// Full URLs, tried in order.
    pub urls: Vec<String>,
    /// Digests the file must match.
    pub pins: Pins,
}

/// Download settings.
#[derive(Clone, Debug)]
pub struct Downloader {
    client: Client,
    /// Retries per URL after transient failures (5xx, dropped connections, timeouts).
    pub retries: u32,
    /// First backoff; doubled after each retry.
    pub backoff: Duration,
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Draw a progress bar on a terminal.
    pub progress: bool,
}

/// Largest download accepted by default (2 GiB; CIFAR archives are 170 MB).
pub const DEFAULT_MAX_DOWNLOAD: u64 = 2 << 30;

/// An error with its chain of causes (`a: b: c`), since the outermost message alone often hides
/// the reason (a read timeout surfaces as "error decoding response body").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || c.to_string().contains("timed out")
        {
            return true;
        }
        cur = c.source();
    }
    false
}

enum Failure {
    /// Worth retrying the same URL (keeps the partial file).
    Transient(String),
    /// Move on to the next URL.
    Permanent(String),
}

impl Downloader {
    /// A downloader with the given connect timeout and per-read (stall) timeout.
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> Result<Self> {
        let client = Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(read_timeout)
            .user_agent(concat!("cnn-datasets/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DatasetError::Download {
                file: String::new(),
                message: format!("cannot start an HTTP client: {e}"),
            })?;
        Ok(Downloader {
            client,
            retries: 3,
            backoff: Duration::from_millis(500),
            max_bytes: DEFAULT_MAX_DOWNLOAD,
            progress: true,
        })
    }

    /// Connect timeout 15 s, stall timeout 30 s, 3 retries from 0.5 s backoff.
    pub fn standard() -> Result<Self> {
        Self::new(Duration::from_secs(15), Duration::from_secs(30))
    }

    /// Fetches `file` into `dir` (unless a verified copy is already there) and returns its path,
    /// how it was verified, and the URL it came from (`None` when it was already present).
    pub fn fetch(
        &self,
        file: &RemoteFile,
        dir: &Path,
    ) -> Result<(PathBuf, Verification, Option<String>)> {
        let io = |p: &Path, source| DatasetError::Io {
            path: p.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let dest = dir.join(&file.name);
        let lock_path = dir.join(format!(".{}.lock", file.name));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        lock.lock().map_err(|e| io(&lock_path, e))?;
        if dest.is_file() {
            let bytes = std::fs::read(&dest).map_err(|e| io(&dest, e))?;
            match file.pins.verify(&bytes, &dest.display().to_string()) {
                Ok(v) => return Ok((dest, v, None)),
                Err(_) => std::fs::remove_file(&dest).map_err(|e| io(&dest, e))?,
            }
        }
        let part = dir.join(format!("{}.part", file.name));
        let mut tried = Vec::new();
        for url in &file.urls {
            let mut delay = self.backoff;
            for attempt in 0..=self.retries {
                match self.try_once(url, &part, &file.name) {
                    Ok(()) => {
                        let bytes = std::fs::read(&part).map_err(|e| io(&part, e))?;
                        return match file.pins.verify(&bytes, &file.name) {
                            Ok(v) => {
                                File::open(&part)
                                    .and_then(|f| f.sync_all())
                                    .map_err(|e| io(&part, e))?;
                                std::fs::rename(&part, &dest).map_err(|e| io(&dest, e))?;
                                if let Ok(d) = File::open(dir) {
                                    let _ = d.sync_all();
                                }
                                Ok((dest, v, Some(url.clone())))
                            }
                            Err(e) => {
                                let _ = std::fs::remove_file(&part);
                                Err(match e {
                                    DatasetError::Checksum {
                                        expected, actual, ..
                                    } => DatasetError::Checksum {
                                        path: url.into(),
                                        expected,
                                        actual,
                                    },
                                    other => other,
                                })
                            }
                        };
                    }
                    Err(Failure::Permanent(m)) => {
                        tried.push(format!("{url}: {m}"));
                        break;
                    }
                    Err(Failure::Transient(m)) => {
                        if attempt == self.retries {
                            tried.push(format!("{url}: {m} (after {} retries)", self.retries));
                        } else {
                            std::thread::sleep(delay);
                            delay *= 2;
                        }
                    }
                }
            }
        }
        Err(DatasetError::Download {
            file: file.name.clone(),
            message: if tried.is_empty() {
                "no URL to try".into()
            } else {
                tried.join("; ")
            },
        })
    }

    /// One request: appends to `part` from where it ends (Range) or restarts it.
    fn try_once(&self, url: &str, part: &Path, name: &str) -> std::result::Result<(), Failure> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let mut req = self.client.get(url);
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let mut resp = req.send().map_err(|e| {
            if e.is_timeout() {
                Failure::Transient(format!("no answer: timed out ({})", chain(&e)))
            } else if e.is_connect() || e.is_builder() || e.is_redirect() {
                Failure::Permanent(chain(&e))
            } else {
                Failure::Transient(chain(&e))
            }
        })?;
        let status = resp.status();
        let (mut out, start) = match status {
            StatusCode::PARTIAL_CONTENT => {
                let range_start = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if range_start != Some(have) {
                    let _ = std::fs::remove_file(part);
                    return Err(Failure::Transient(format!(
                        "server resumed at {range_start:?}, not {have}; restarting"
                    )));
                }
                (OpenOptions::new().append(true).open(part), have)
            }
            StatusCode::OK => (File::create(part), 0),
            StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => return Ok(()),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                return Err(Failure::Transient(format!("HTTP {s}")));
            }
            s => return Err(Failure::Permanent(format!("HTTP {s}"))),
        };
        let out = out
            .as_mut()
            .map_err(|e| Failure::Permanent(format!("{}: {e}", part.display())))?;
        let length = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let total = length.map(|l| l + start);
        if let Some(t) = total.filter(|&t| t > self.max_bytes) {
            let _ = std::fs::remove_file(part);
            return Err(Failure::Permanent(format!(
                "{t} bytes is over the download limit of {}",
                self.max_bytes
            )));
        }
        let bar = self.progress_bar(name, total, start);
        let mut buf = vec![0u8; 1 << 16];
        let mut written = start;
        loop {
            let n = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = out.flush();
                    let what = if is_timeout(&e) {
                        "the server stalled (read timed out)"
                    } else {
                        "the connection broke"
                    };
                    return Err(Failure::Transient(format!(
                        "{what} after {written} bytes: {}",
                        chain(&e)
                    )));
                }
            };
            written += n as u64;
            if written > self.max_bytes {
                let _ = std::fs::remove_file(part);
                return Err(Failure::Permanent(format!(
                    "more than the download limit of {} bytes",
                    self.max_bytes
                )));
            }
            out.write_all(&buf[..n])
                .map_err(|e| Failure::Permanent(format!("{}: {e}", part.display())))?;
            bar.inc(n as u64);
        }
        out.flush()
            .map_err(|e| Failure::Permanent(format!("{}: {e}", part.display())))?;
        bar.finish_and_clear();
        match total {
            Some(t) if written < t => Err(Failure::Transient(format!(
                "connection closed after {written} of {t} bytes"
            ))),
            _ => Ok(()),
        }
    }

    fn progress_bar(&self, name: &str, total: Option<u64>, start: u64) -> indicatif::ProgressBar {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        if !self.progress {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_string());
        bar.set_position(start);
        bar
    }
}

//! Event files: `events.out.tfevents.<seconds>.<host>.<pid>.<n>` in a log directory, one
//! `Event` per record — the file version first, then summaries of scalars, histograms and
//! images, each with its step and wall time.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::error::{Result, TbError};
use crate::proto::tensorboard::{Event, HistogramProto, Summary, event, summary};
use crate::record::write_record;

/// Buckets of a weight histogram (as `tf.summary.histogram`'s default).
pub const HISTOGRAM_BUCKETS: usize = 30;

/// Files made by this process so far (two writers in one second get different names).
static FILES: AtomicUsize = AtomicUsize::new(0);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The machine's name for the file name (TensorBoard only shows it), `localhost` if unknown.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .unwrap_or_else(|| "localhost".into())
}

/// Appends events to a new event file in a directory.
///
/// Event files are logs, appended as training goes (as TensorFlow writes them), not written
/// whole and renamed: every record carries checksums, so a crash leaves a readable prefix and
/// at most one cut-short record, which TensorBoard skips. [`EventWriter::flush`] pushes what
/// was written to disk.
pub struct EventWriter {
    file: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates `dir` (and its parents) if needed and a new event file in it, starting with the
    /// file-version event.
    pub fn create(dir: &Path) -> Result<Self> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TbError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let name = format!(
            "events.out.tfevents.{}.{}.{}.{}",
            now() as u64,
            host(),
            std::process::id(),
            FILES.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = File::create_new(&path).map_err(io(&path))?;
        let mut w = EventWriter {
            file: BufWriter::new(file),
            path,
        };
        w.write(Event {
            wall_time: now(),
            step: 0,
            what: Some(event::What::FileVersion("brain.Event:2".into())),
            ..Default::default()
        })?;
        w.flush()?;
        Ok(w)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, e: Event) -> Result<()> {
        write_record(&mut self.file, &e.encode_to_vec()).map_err(|source| TbError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn summary(&mut self, step: i64, value: summary::Value) -> Result<()> {
        self.write(Event {
            wall_time: now(),
            step,
            what: Some(event::What::Summary(Summary { value: vec![value] })),
            ..Default::default()
        })
    }

    /// A scalar `value` under `tag` at `step`.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f32) -> Result<()> {
        self.summary(
            step,
            summary::Value {
                tag: tag.into(),
                value: Some(summary::value::Value::SimpleValue(value)),
                ..Default::default()
            },
        )
    }

    /// A histogram of `values` (non-finite ones left out) under `tag` at `step`:
    /// [`HISTOGRAM_BUCKETS`] equal buckets from the smallest value to the largest.
    pub fn histogram(&mut self, tag: &str, step: i64, values: &[f32]) -> Result<()> {
        self.summary(
            step,
            summary::Value {
                tag: tag.into(),
                value: Some(summary::value::Value::Histo(histogram(values))),
                ..Default::default()
            },
        )
    }

    /// A PNG image (`png` holds the encoded file) of `height × width` with `channels` (1 grey,
    /// 3 RGB, 4 RGBA) under `tag` at `step`.
    pub fn image(
        &mut self,
        tag: &str,
        step: i64,
        png: Vec<u8>,
        (height, width, channels): (u32, u32, u32),
    ) -> Result<()> {
        self.summary(
            step,
            summary::Value {
                tag: tag.into(),
                value: Some(summary::value::Value::Image(summary::Image {
                    height: height as i32,
                    width: width as i32,
                    colorspace: channels as i32,
                    encoded_image_string: png,
                })),
                ..Default::default()
            },
        )
    }

    /// Writes what is buffered and asks the system to put it on disk.
    pub fn flush(&mut self) -> Result<()> {
        let io = |source| TbError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.flush().map_err(io)?;
        self.file.get_ref().sync_data().map_err(io)
    }
}

/// TensorBoard's `HistogramProto` of `values`: count, sum, sum of squares, and per bucket its
/// right edge and count (TensorBoard takes the first bucket's left edge from `min`).
pub fn histogram(values: &[f32]) -> HistogramProto {
    let finite: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| v as f64)
        .collect();
    if finite.is_empty() {
        return HistogramProto::default();
    }
    let (min, max) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let buckets = if max > min { HISTOGRAM_BUCKETS } else { 1 };
    let width = (max - min) / buckets as f64;
    let mut counts = vec![0.0f64; buckets];
    for &v in &finite {
        let k = if width > 0.0 {
            (((v - min) / width) as usize).min(buckets - 1)
        } else {
            0
        };
        counts[k] += 1.0;
    }
    HistogramProto {
        min,
        max,
        num: finite.len() as f64,
        sum: finite.iter().sum(),
        sum_squares: finite.iter().map(|v| v * v).sum(),
        bucket_limit: (1..=buckets)
            .map(|k| {
                if k == buckets {
                    max
                } else {
                    min + width * k as f64
                }
            })
            .collect(),
        bucket: counts,
    }
}

/// The events of an event file's bytes, each record checked (see
/// [`crate::record::read_records`]).
pub fn read_events(bytes: &[u8]) -> Result<Vec<Event>> {
    crate::record::read_records(bytes)?
        .into_iter()
        .enumerate()
        .map(|(index, r)| Event::decode(r).map_err(|source| TbError::Decode { index, source }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_every_finite_value_once() {
        let values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let h = histogram(&values);
        assert_eq!(h.num, 1000.0);
        assert_eq!(h.bucket.iter().sum::<f64>(), 1000.0);
        assert_eq!(h.bucket.len(), HISTOGRAM_BUCKETS);
        assert_eq!(*h.bucket_limit.last().unwrap(), h.max);
        assert!(h.bucket_limit.windows(2).all(|w| w[0] < w[1]));
        let constant = histogram(&[2.5, 2.5, f32::NAN]);
        assert_eq!((constant.num, constant.bucket.clone()), (2.0, vec![2.0]));
        assert_eq!(histogram(&[]).num, 0.0);
    }

    #[test]
    fn a_file_reads_back_event_by_event() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalar("epoch_loss", 3, 0.25).unwrap();
        w.histogram("dense/kernel", 3, &[1.0, 2.0, 3.0]).unwrap();
        w.image("picture", 3, vec![1, 2, 3], (2, 4, 3)).unwrap();
        w.flush().unwrap();
        let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        let events = read_events(&std::fs::read(w.path()).unwrap()).unwrap();
        assert_eq!(events.len(), 4);
        assert_eq!(
            events[0].what,
            Some(event::What::FileVersion("brain.Event:2".into()))
        );
        let Some(event::What::Summary(s)) = &events[1].what else {
            panic!("{:?}", events[1]);
        };
        assert_eq!(s.value[0].tag, "epoch_loss");
        assert_eq!(
            s.value[0].value,
            Some(summary::value::Value::SimpleValue(0.25))
        );
        assert_eq!(events[1].step, 3);
        // A second writer in the same directory gets its own file.
        let w2 = EventWriter::create(dir.path()).unwrap();
        assert_ne!(w2.path(), w.path());
    }
}

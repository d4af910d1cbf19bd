//! `flow_from_directory`: augmented batches from `dir/<class>/**/<image>`, with Keras's class
//! ordering and file discovery (shared with `cnn-datasets`), every image validated at scan
//! time so a corrupt file is reported once and skipped instead of crashing mid-epoch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cnn_datasets::{ColorMode, FolderOptions, Interpolation, Skipped, decode_image, scan_folder};
use cnn_nn::{BatchSource, Part, Targets};
use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::error::{AugmentError, Result};
use crate::flow::{BatchPlan, FlowOptions, Subset};
use crate::generator::ImageDataGenerator;
use crate::transform::Image;

/// What `flow_from_directory` yields as targets (Keras's `class_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClassMode {
    /// One-hot `[B, K]`.
    #[default]
    Categorical,
    /// `[B, 1]` of 0/1 (two classes).
    Binary,
    /// Class indices.
    Sparse,
    /// The images themselves (autoencoders).
    Input,
    /// No labels (for prediction); targets are zeros.
    None,
}

/// Options of `flow_from_directory`, Keras's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryOptions {
    /// `(height, width)` every image is resized to (Keras default 256x256).
    pub target_size: (usize, usize),
    /// Channels to read.
    pub color: ColorMode,
    /// Classes in index order (default: sorted sub-directories).
    pub classes: Option<Vec<String>>,
    /// Targets.
    pub class_mode: ClassMode,
    /// Images per batch.
    pub batch_size: usize,
    /// Reshuffle every epoch.
    pub shuffle: bool,
    /// Seed for shuffling and transforms.
    pub seed: u64,
    /// Part of the generator's `validation_split` (the first fraction of each class's files).
    pub subset: Option<Subset>,
    /// Resampling for the resize (Keras default nearest).
    pub interpolation: Interpolation,
    /// Follow symbolic links to directories.
    pub follow_links: bool,
    /// Fail on the first unreadable image instead of skipping it.
    pub strict: bool,
    /// Keep decoded images in memory when they fit in this many bytes (else decode per batch).
    pub cache_bytes: u64,
    /// Print Keras's `Found N images belonging to K classes.` and the skipped-file warning.
    pub verbose: bool,
    /// Use at most this many files of each class (the first ones, after the subset split);
    /// for quick runs on a large folder. Not in Keras.
    pub max_per_class: Option<usize>,
}

impl Default for DirectoryOptions {
    fn default() -> Self {
        DirectoryOptions {
            target_size: (256, 256),
            color: ColorMode::Rgb,
            classes: None,
            class_mode: ClassMode::Categorical,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            subset: None,
            interpolation: Interpolation::Nearest,
            follow_links: false,
            strict: false,
            cache_bytes: 1 << 30,
            verbose: true,
            max_per_class: None,
        }
    }
}

/// Augmented batches from an image folder. `filenames` and `classes` are in file order, which
/// is the iteration order when `shuffle` is off, so predictions can be matched to files.
pub struct DirectoryFlow {
    generator: Arc<ImageDataGenerator>,
    root: PathBuf,
    opts: DirectoryOptions,
    folder: FolderOptions,
    /// Class names; the index of a class is its position (`class_indices`).
    pub class_names: Vec<String>,
    /// Image paths relative to the root, in file order.
    pub filenames: Vec<PathBuf>,
    /// The class of each file.
    pub classes: Vec<usize>,
    /// Images found unreadable at scan time.
    pub skipped: Vec<Skipped>,
    cache: Option<Vec<u8>>,
}

impl DirectoryFlow {
    /// Scans `dir`, validates every image, and prepares batches.
    pub fn new(
        generator: Arc<ImageDataGenerator>,
        dir: &Path,
        opts: DirectoryOptions,
    ) -> Result<Self> {
        Self::build(generator, dir, opts, None)
    }

    /// [`DirectoryFlow::new`] for one rank of a data-parallel run: each rank decodes only its
    /// share of the images to check them (every N-th file), the ranks exchange what they found
    /// unreadable, and every rank ends with the same files, classes and skipped list as one
    /// process would. Images are then read per batch, each rank only its part's (no cache).
    pub fn new_shared(
        generator: Arc<ImageDataGenerator>,
        dir: &Path,
        opts: DirectoryOptions,
        ranks: &mut dyn cnn_nn::Collective,
    ) -> Result<Self> {
        Self::build(generator, dir, opts, Some(ranks))
    }

    fn build(
        generator: Arc<ImageDataGenerator>,
        dir: &Path,
        opts: DirectoryOptions,
        mut ranks: Option<&mut dyn cnn_nn::Collective>,
    ) -> Result<Self> {
        generator.validate()?;
        if opts.batch_size == 0 || opts.target_size.0 == 0 || opts.target_size.1 == 0 {
            return Err(AugmentError::Config(
                "batch_size and target_size must be positive".into(),
            ));
        }
        let folder = FolderOptions {
            target_size: Some(opts.target_size),
            color: opts.color,
            classes: opts.classes.clone(),
            follow_links: opts.follow_links,
            strict: opts.strict,
            interpolation: opts.interpolation,
            ..Default::default()
        };
        let index = scan_folder(dir, &folder)?;
        if let Some(c) = ranks.as_deref_mut() {
            // The ranks share out the files by position: they must list the same ones.
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            (&index.files, &index.classes, &index.class_names).hash(&mut h);
            cnn_nn::check_same(c, "image folder listings", &h.finish().to_le_bytes())
                .map_err(|e| AugmentError::Config(format!("{}: {e}", dir.display())))?;
        }
        // Keras's subset: per class folder, the first int(v * n) files are validation.
        let v = generator.config.validation_split as f64;
        let mut keep: Vec<usize> = Vec::new();
        for c in 0..index.class_names.len() {
            let files: Vec<usize> = (0..index.files.len())
                .filter(|&i| index.classes[i] == c)
                .collect();
            let split = (v * files.len() as f64) as usize;
            let chosen = match opts.subset {
                None => &files[..],
                Some(_) if v == 0.0 => {
                    return Err(AugmentError::Config(
                        "subset needs validation_split > 0".into(),
                    ));
                }
                Some(Subset::Validation) => &files[..split],
                Some(Subset::Training) => &files[split..],
            };
            let n = opts.max_per_class.unwrap_or(usize::MAX).min(chosen.len());
            keep.extend_from_slice(&chosen[..n]);
        }
        keep.sort_unstable();
        // Validate (decode) every image now, in parallel, with a progress bar when verbose (it
        // draws only on a terminal).
        let bar = if opts.verbose {
            indicatif::ProgressBar::new(keep.len() as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "checking {msg}/ {bar:30} {pos}/{len} images, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
        );
        let (rank, size) = ranks
            .as_deref()
            .map_or((0, 1), |c| (c.rank(), c.size().max(1)));
        let mut decoded: Vec<cnn_datasets::Decoded> = keep
            .par_iter()
            .enumerate()
            .map(|(pos, &i)| {
                if pos % size != rank {
                    // Another rank's to check.
                    return Ok((0, 0, Vec::new()));
                }
                let d = std::fs::read(dir.join(&index.files[i]))
                    .map_err(|e| format!("unreadable: {e}"))
                    .and_then(|b| decode_image(&b, &folder));
                bar.inc(1);
                d
            })
            .collect();
        bar.finish_and_clear();
        if let Some(c) = ranks.as_deref_mut() {
            exchange_unreadable(c, &mut decoded)?;
        }
        let per = opts.target_size.0 * opts.target_size.1 * opts.color.channels();
        let cache_ok =
            ranks.is_none() && (keep.len() as u64).saturating_mul(per as u64) <= opts.cache_bytes;
        let (mut filenames, mut classes, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
        let mut cache = cache_ok.then(Vec::new);
        for (&i, d) in keep.iter().zip(decoded) {
            match d {
                Ok((_, _, px)) => {
                    filenames.push(index.files[i].clone());
                    classes.push(index.classes[i]);
                    if let Some(c) = cache.as_mut() {
                        c.extend(px);
                    }
                }
                Err(reason) if opts.strict => {
                    return Err(AugmentError::Dataset(cnn_datasets::DatasetError::Format {
                        file: index.files[i].display().to_string(),
                        at: "image".into(),
                        message: reason,
                    }));
                }
                Err(reason) => skipped.push(Skipped {
                    file: index.files[i].clone(),
                    reason,
                }),
            }
        }
        if opts.verbose {
            println!(
                "Found {} images belonging to {} classes.",
                filenames.len(),
                index.class_names.len()
            );
            if !skipped.is_empty() {
                let shown: Vec<String> = skipped
                    .iter()
                    .take(10)
                    .map(|s| format!("{} ({})", s.file.display(), s.reason))
                    .collect();
                let more = if skipped.len() > 10 {
                    format!(" and {} more", skipped.len() - 10)
                } else {
                    String::new()
                };
                eprintln!(
                    "warning: skipped {} unreadable image(s): {}{more}",
                    skipped.len(),
                    shown.join("; ")
                );
            }
        }
        if filenames.is_empty() {
            return Err(AugmentError::Shape(format!(
                "no usable images under {}",
                dir.display()
            )));
        }
        Ok(DirectoryFlow {
            generator,
            root: dir.to_path_buf(),
            opts,
            folder,
            class_names: index.class_names,
            filenames,
            classes,
            skipped,
            cache,
        })
    }

    /// `(class name, index)` pairs (Keras's `class_indices`).
    pub fn class_indices(&self) -> Vec<(String, usize)> {
        self.class_names
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect()
    }

    fn shape(&self) -> (usize, usize, usize) {
        (
            self.opts.target_size.0,
            self.opts.target_size.1,
            self.opts.color.channels(),
        )
    }

    fn image(&self, i: usize) -> Result<Image> {
        let (h, w, c) = self.shape();
        let px = match &self.cache {
            Some(cache) => cache[i * h * w * c..(i + 1) * h * w * c].to_vec(),
            None => {
                let path = self.root.join(&self.filenames[i]);
                let bytes = std::fs::read(&path)
                    .map_err(|e| AugmentError::Shape(format!("{}: {e}", path.display())))?;
                decode_image(&bytes, &self.folder)
                    .map_err(|e| AugmentError::Shape(format!("{}: {e}", path.display())))?
                    .2
            }
        };
        Ok(Image {
            h,
            w,
            c,
            data: px.into_iter().map(f32::from).collect(),
        })
    }

    fn flow_options(&self) -> FlowOptions {
        FlowOptions {
            batch_size: self.opts.batch_size,
            shuffle: self.opts.shuffle,
            seed: self.opts.seed,
            subset: None,
        }
    }
}

/// Gives every rank the failures every rank found in its share of `decoded` (positions and
/// reasons, sent by each rank in turn).
fn exchange_unreadable(
    c: &mut dyn cnn_nn::Collective,
    decoded: &mut [cnn_datasets::Decoded],
) -> Result<()> {
    let mine: String = decoded
        .iter()
        .enumerate()
        .filter(|(pos, _)| pos % c.size().max(1) == c.rank())
        .filter_map(|(pos, d)| d.as_ref().err().map(|r| format!("{pos}\u{1f}{r}\u{1e}")))
        .collect();
    for root in 0..c.size() {
        let mut bytes = if root == c.rank() {
            mine.clone().into_bytes()
        } else {
            Vec::new()
        };
        c.broadcast(&mut bytes, root)
            .map_err(|e| AugmentError::Config(e.to_string()))?;
        for entry in String::from_utf8_lossy(&bytes).split('\u{1e}') {
            let Some((pos, reason)) = entry.split_once('\u{1f}') else {
                continue;
            };
            match pos.parse::<usize>().ok().and_then(|p| decoded.get_mut(p)) {
                Some(d) => *d = Err(reason.to_string()),
                None => {
                    return Err(AugmentError::Config(format!(
                        "rank {root} reported an unreadable image at position {pos}, which this \
                         rank's folder does not have: do the ranks see the same files?"
                    )));
                }
            }
        }
    }
    Ok(())
}

impl BatchSource for DirectoryFlow {
    fn samples(&self) -> usize {
        self.filenames.len()
    }

    fn steps(&self) -> usize {
        self.filenames.len().div_ceil(self.opts.batch_size)
    }

    fn batch(&mut self, epoch: usize, step: usize) -> cnn_nn::Result<(Tensor, Targets)> {
        let (x, y, _) = self.batch_part(epoch, step, Part::WHOLE)?;
        Ok((x, y))
    }

    /// Reads and decodes only the part's files.
    fn batch_part(
        &mut self,
        epoch: usize,
        step: usize,
        part: Part,
    ) -> cnn_nn::Result<(Tensor, Targets, usize)> {
        let all: Vec<usize> = (0..self.filenames.len()).collect();
        let (plan, whole) = BatchPlan::new(&all, self.flow_options(), epoch, step).part(part);
        let x = plan.augment(&self.generator, self.shape(), |i| self.image(i))?;
        let k = self.class_names.len();
        let labels: Vec<usize> = plan.idx.iter().map(|&i| self.classes[i]).collect();
        let y = match self.opts.class_mode {
            ClassMode::Sparse => Targets::Sparse(labels),
            ClassMode::Categorical => {
                let mut t = vec![0.0f32; labels.len() * k];
                labels
                    .iter()
                    .enumerate()
                    .for_each(|(r, &l)| t[r * k + l] = 1.0);
                Targets::Dense(Tensor::new([labels.len(), k], t)?)
            }
            ClassMode::Binary => Targets::Dense(Tensor::new(
                [labels.len(), 1],
                labels.iter().map(|&l| l as f32).collect(),
            )?),
            ClassMode::Input => Targets::Dense(x.clone()),
            ClassMode::None => Targets::Sparse(vec![0; labels.len()]),
        };
        Ok((x, y, whole))
    }
}

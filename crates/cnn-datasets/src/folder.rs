//! Image folders laid out as `root/<class>/**/<image>`, the layout Keras's
//! `flow_from_directory` reads, from a directory or straight from a `.zip` archive.
//!
//! Discovery follows Keras exactly: classes are the sub-directories of `root` in plain string
//! order (`"10"` sorts before `"2"`) unless a class list is given, whose order then defines the
//! indices; files are found recursively, directories visited in sorted path order and files
//! sorted within each; extensions `png`, `jpg`, `jpeg`, `bmp`, `ppm`, `tif`, `tiff` in any
//! case; everything else is ignored. The file order is the iteration order, so predictions can
//! always be matched to `files`.
//!
//! Decoding happens in parallel; each image's dimensions are checked from its header against
//! a pixel limit before any pixel buffer is allocated. Unreadable or corrupt images are skipped
//! and listed, or are an error with `strict`.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use rayon::prelude::*;

use crate::ImageSet;
use crate::error::{DatasetError, Result};

/// Extensions Keras accepts (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff"];

/// How pixels are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// One channel.
    Grayscale,
    /// Three channels.
    #[default]
    Rgb,
    /// Four channels.
    Rgba,
}

impl ColorMode {
    /// Channels per pixel.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
}

/// Resampling used when an image is resized to the target size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// Nearest neighbour (Keras's `flow_from_directory` default).
    #[default]
    Nearest,
    /// Bilinear.
    Bilinear,
    /// Bicubic.
    Bicubic,
    /// Lanczos (3 lobes).
    Lanczos,
}

impl Interpolation {
    fn filter(self) -> FilterType {
        match self {
            Interpolation::Nearest => FilterType::Nearest,
            Interpolation::Bilinear => FilterType::Triangle,
            Interpolation::Bicubic => FilterType::CatmullRom,
            Interpolation::Lanczos => FilterType::Lanczos3,
        }
    }
}

/// Options for scanning and loading an image folder.
#[derive(Clone, Debug, PartialEq)]
pub struct FolderOptions {
    /// `(height, width)` to resize to; `None` keeps each image's size (they must then agree).
    pub target_size: Option<(usize, usize)>,
    /// Channels to read.
    pub color: ColorMode,
    /// The classes to use, in index order (default: every sub-directory, sorted).
    pub classes: Option<Vec<String>>,
    /// Descend into symbolically linked directories.
    pub follow_links: bool,
    /// Fail on the first unreadable image instead of skipping it.
    pub strict: bool,
    /// Resampling for resizes.
    pub interpolation: Interpolation,
    /// Largest image accepted, in pixels (width × height), checked before decoding. Default:
    /// `CNN_MAX_IMAGE_PIXELS` when set, else 2^26 (an 8192x8192 photo).
    pub max_pixels: u64,
}

/// The default of [`FolderOptions::max_pixels`]: `CNN_MAX_IMAGE_PIXELS` or 2^26.
pub fn default_max_pixels() -> u64 {
    std::env::var("CNN_MAX_IMAGE_PIXELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 26)
}

impl Default for FolderOptions {
    fn default() -> Self {
        FolderOptions {
            target_size: None,
            color: ColorMode::Rgb,
            classes: None,
            follow_links: false,
            strict: false,
            interpolation: Interpolation::Nearest,
            max_pixels: default_max_pixels(),
        }
    }
}

/// The files of an image folder, in iteration order, with their classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderIndex {
    /// Class names; a class's index is its position.
    pub class_names: Vec<String>,
    /// Paths relative to the root (`cat/0001.jpg`), in iteration order.
    pub files: Vec<PathBuf>,
    /// Class index of each file.
    pub classes: Vec<usize>,
}

/// An image that could not be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The file (relative path).
    pub file: PathBuf,
    /// The reason.
    pub reason: String,
}

fn has_image_ext(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn resolve_classes(
    found: Vec<String>,
    wanted: &Option<Vec<String>>,
    root: &str,
) -> Result<Vec<String>> {
    match wanted {
        None => {
            let mut f = found;
            f.sort();
            Ok(f)
        }
        Some(w) => {
            let missing: Vec<&String> = w.iter().filter(|c| !found.contains(c)).collect();
            if !missing.is_empty() {
                return Err(DatasetError::Mismatch(format!(
                    "{root}: no class folder for {} (found: {})",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    found.join(", ")
                )));
            }
            Ok(w.clone())
        }
    }
}

/// Lists the images under `root/<class>/`, Keras's way.
pub fn scan(root: &Path, opts: &FolderOptions) -> Result<FolderIndex> {
    let io = |p: &Path, source| DatasetError::Io {
        path: p.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for e in std::fs::read_dir(root).map_err(|e| io(root, e))? {
        let e = e.map_err(|e| io(root, e))?;
        if e.path().is_dir() {
            found.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    let class_names = resolve_classes(found, &opts.classes, &root.display().to_string())?;
    let mut files = Vec::new();
    let mut classes = Vec::new();
    for (ci, class) in class_names.iter().enumerate() {
        // Every directory under the class folder, visited in sorted path order.
        let mut dirs = vec![root.join(class)];
        let mut all_dirs = Vec::new();
        let mut seen = HashSet::new();
        while let Some(d) = dirs.pop() {
            if let Ok(canon) = d.canonicalize()
                && !seen.insert(canon)
            {
                continue; // a link loop
            }
            all_dirs.push(d.clone());
            for e in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
                let e = e.map_err(|e| io(&d, e))?;
                let ft = e.file_type().map_err(|err| io(&e.path(), err))?;
                if ft.is_dir() || (ft.is_symlink() && opts.follow_links && e.path().is_dir()) {
                    dirs.push(e.path());
                }
            }
        }
        all_dirs.sort_by(|a, b| a.to_string_lossy().cmp(&b.to_string_lossy()));
        for d in all_dirs {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&d)
                .map_err(|e| io(&d, e))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file() && has_image_ext(p))
                .collect();
            names.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
            for p in names {
                files.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
                classes.push(ci);
            }
        }
    }
    Ok(FolderIndex {
        class_names,
        files,
        classes,
    })
}

/// A decoded image: `(height, width, pixels)`, or why it could not be used.
pub type Decoded = std::result::Result<(usize, usize, Vec<u8>), String>;

/// Decodes one image from bytes into `color` pixels at `target` size (or its own size).
pub fn decode(bytes: &[u8], opts: &FolderOptions) -> Decoded {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("unreadable header: {e}"))?;
    if w as u64 * h as u64 > opts.max_pixels {
        return Err(format!(
            "{w}x{h} pixels is over the limit of {} pixels (raise it with CNN_MAX_IMAGE_PIXELS or FolderOptions::max_pixels)",
            opts.max_pixels
        ));
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(opts.max_pixels.saturating_mul(16));
    reader.limits(limits);
    let mut img = reader.decode().map_err(|e| format!("corrupt image: {e}"))?;
    if let Some((th, tw)) = opts.target_size
        && (th as u32 != img.height() || tw as u32 != img.width())
    {
        img = img.resize_exact(tw as u32, th as u32, opts.interpolation.filter());
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = match opts.color {
        ColorMode::Grayscale => img.to_luma8().into_raw(),
        ColorMode::Rgb => img.to_rgb8().into_raw(),
        ColorMode::Rgba => img.to_rgba8().into_raw(),
    };
    Ok((h, w, px))
}

/// Decodes every indexed image (reading bytes with `read`) into one image set, in index order.
fn load_with(
    index: &FolderIndex,
    opts: &FolderOptions,
    read: impl Fn(&Path) -> std::result::Result<Vec<u8>, String> + Sync,
) -> Result<(ImageSet, FolderIndex, Vec<Skipped>)> {
    let decoded: Vec<Decoded> = index
        .files
        .par_iter()
        .map(|f| read(f).and_then(|b| decode(&b, opts)))
        .collect();
    let mut skipped = Vec::new();
    let mut kept = FolderIndex {
        class_names: index.class_names.clone(),
        files: vec![],
        classes: vec![],
    };
    let mut images = Vec::new();
    let mut size = opts.target_size;
    for ((f, &c), r) in index.files.iter().zip(&index.classes).zip(decoded) {
        let r = r.and_then(|(h, w, px)| match size {
            Some((sh, sw)) if (sh, sw) != (h, w) => Err(format!(
                "is {h}x{w} but the others are {sh}x{sw}; set a target size"
            )),
            _ => {
                size = Some((h, w));
                Ok(px)
            }
        });
        match r {
            Ok(px) => {
                images.extend(px);
                kept.files.push(f.clone());
                kept.classes.push(c);
            }
            Err(reason) if opts.strict => {
                return Err(DatasetError::Format {
                    file: f.display().to_string(),
                    at: "image".into(),
                    message: reason,
                });
            }
            Err(reason) => skipped.push(Skipped {
                file: f.clone(),
                reason,
            }),
        }
    }
    let (h, w) = size.unwrap_or((0, 0));
    let labels = kept.classes.iter().map(|&c| c.min(255) as u8).collect();
    if kept.class_names.len() > 256 {
        return Err(DatasetError::Mismatch(format!(
            "{} classes; at most 256 are supported",
            kept.class_names.len()
        )));
    }
    Ok((
        ImageSet {
            images,
            labels,
            height: h,
            width: w,
            channels: opts.color.channels(),
        },
        kept,
        skipped,
    ))
}

/// Loads an image folder into memory. Returns the images, the index of the images kept (file
/// order), and the images skipped with reasons.
pub fn image_folder(
    root: &Path,
    opts: &FolderOptions,
) -> Result<(ImageSet, FolderIndex, Vec<Skipped>)> {
    load_index(root, &scan(root, opts)?, opts)
}

/// Loads the files of `index` — [`scan`]'s, perhaps with fewer files (a sample per class) —
/// under `root`, with the same checks and skipping as [`image_folder`].
///
/// # Errors
/// As [`image_folder`].
pub fn load_index(
    root: &Path,
    index: &FolderIndex,
    opts: &FolderOptions,
) -> Result<(ImageSet, FolderIndex, Vec<Skipped>)> {
    load_with(index, opts, |f| {
        std::fs::read(root.join(f)).map_err(|e| format!("unreadable: {e}"))
    })
}

/// Loads `prefix/<class>/**/<image>` from a zip archive, with the same ordering and checks as
/// [`image_folder`]; entries whose names would leave the archive are refused, and declared and
/// actual entry sizes are capped (`max_entry` bytes).
pub fn zip_folder(
    zip_path: &Path,
    prefix: &str,
    opts: &FolderOptions,
    max_entry: u64,
) -> Result<(ImageSet, FolderIndex, Vec<Skipped>)> {
    let io = |source| DatasetError::Io {
        path: zip_path.to_path_buf(),
        source,
    };
    let zerr = |m: String| DatasetError::Format {
        file: zip_path.display().to_string(),
        at: "zip".into(),
        message: m,
    };
    let file = std::fs::File::open(zip_path).map_err(io)?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| zerr(format!("not a readable zip archive: {e}")))?;
    let prefix = prefix.trim_matches('/');
    let mut entries: Vec<(PathBuf, usize)> = Vec::new();
    for i in 0..zip.len() {
        let e = zip.by_index(i).map_err(|e| zerr(e.to_string()))?;
        let Some(p) = e.enclosed_name() else {
            let name = e
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| format!("#{i}"));
            return Err(zerr(format!(
                "refusing entry `{name}`: its path leaves the archive"
            )));
        };
        if e.is_file() {
            entries.push((p, i));
        }
    }
    let under: Vec<(PathBuf, usize)> = entries
        .into_iter()
        .filter_map(|(p, i)| p.strip_prefix(prefix).ok().map(|r| (r.to_path_buf(), i)))
        .filter(|(p, _)| p.components().count() >= 2)
        .collect();
    let mut found: Vec<String> = under
        .iter()
        .filter_map(|(p, _)| {
            p.components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
        })
        .collect();
    found.sort();
    found.dedup();
    let class_names = resolve_classes(
        found,
        &opts.classes,
        &format!("{}:{prefix}", zip_path.display()),
    )?;
    let mut listed: Vec<(usize, PathBuf, usize)> = under
        .into_iter()
        .filter(|(p, _)| has_image_ext(p))
        .filter_map(|(p, i)| {
            let class = p
                .components()
                .next()?
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            class_names
                .iter()
                .position(|c| *c == class)
                .map(|ci| (ci, p, i))
        })
        .collect();
    // Keras order: by class, then directory path, then file name.
    listed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.parent().cmp(&b.1.parent()))
            .then_with(|| a.1.file_name().cmp(&b.1.file_name()))
    });
    let index = FolderIndex {
        class_names,
        files: listed.iter().map(|(_, p, _)| p.clone()).collect(),
        classes: listed.iter().map(|(c, _, _)| *c).collect(),
    };
    // Read the entries sequentially (zip readers are not shareable), decode in parallel.
    let mut bytes: std::collections::HashMap<PathBuf, std::result::Result<Vec<u8>, String>> =
        std::collections::HashMap::new();
    for (_, p, i) in &listed {
        let r = zip
            .by_index(*i)
            .map_err(|e| e.to_string())
            .and_then(|mut e| {
                if e.size() > max_entry {
                    return Err(format!(
                        "{} bytes is over the entry limit of {max_entry}",
                        e.size()
                    ));
                }
                let mut b = Vec::with_capacity(e.size() as usize);
                (&mut e)
                    .take(max_entry + 1)
                    .read_to_end(&mut b)
                    .map_err(|err| format!("corrupt entry: {err}"))?;
                if b.len() as u64 > max_entry {
                    return Err(format!("more than the entry limit of {max_entry} bytes"));
                }
                Ok(b)
            });
        bytes.insert(p.clone(), r);
    }
    load_with(&index, opts, |f| {
        bytes
            .get(f)
            .cloned()
            .unwrap_or_else(|| Err("missing".into()))
    })
}

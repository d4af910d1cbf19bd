//! `cnn augment`: a preview grid of ImageDataGenerator variants of one image.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use cnn_augment::{AugmentConfig, Axes, FillMode, Image, ImageDataGenerator, ShiftRange};

use crate::error::{CliResult, UserError, bad_input};

/// `--axes`: which axes the augmentation matrix acts on ([`Axes`]).
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AxesArg {
    /// Keras 3's (swapped) axes.
    #[default]
    Keras,
    /// The documented axes.
    Documented,
}

/// Keras `ImageDataGenerator` options on the command line, with Keras 3's results. Rotation and
/// shear are in degrees (so Chollet's `shear_range=0.2` is 0.2°); shifts below 1 are fractions of
/// the side, from 1 up pixels; `--zoom z` draws factors in `[1 − z, 1 + z]` per axis.
#[derive(Args, Debug, Clone, Default)]
pub struct AugmentFlags {
    /// Rotation range in degrees.
    #[arg(long, default_value_t = 0.0)]
    pub rotation: f32,
    /// Keras's width_shift_range: a fraction of the width if < 1, else pixels (Keras 3 shifts
    /// it vertically; see --axes).
    #[arg(long, default_value_t = 0.0)]
    pub width_shift: f32,
    /// Keras's height_shift_range: a fraction of the height if < 1, else pixels (Keras 3 shifts
    /// it horizontally; see --axes).
    #[arg(long, default_value_t = 0.0)]
    pub height_shift: f32,
    /// Shear range in degrees.
    #[arg(long, default_value_t = 0.0)]
    pub shear: f32,
    /// Zoom range z: factors in [1 − z, 1 + z], drawn per axis.
    #[arg(long, default_value_t = 0.0)]
    pub zoom: f32,
    /// Flip left-right half of the time.
    #[arg(long)]
    pub horizontal_flip: bool,
    /// With --horizontal-flip, in training: flip each image in every other epoch (at random
    /// in the first, then the other way each epoch; airbench's derandomised flip, not Keras).
    #[arg(long, requires = "horizontal_flip")]
    pub alternating_flip: bool,
    /// Flip top-bottom half of the time.
    #[arg(long)]
    pub vertical_flip: bool,
    /// nearest, constant, reflect or wrap (Keras's, i.e. scipy's: period n − 1), or grid-wrap
    /// (abcd|abcd|abcd, the pattern Keras's docs show for wrap; not a Keras option).
    #[arg(long, default_value = "nearest")]
    pub fill_mode: String,
    /// keras: Keras 3's axes, which swap height and width for shifts, zoom, rotation and shear
    /// (keras-team/keras#17398); documented: the documented axes (--height-shift moves rows).
    #[arg(long, value_enum, default_value_t = AxesArg::Keras)]
    pub axes: AxesArg,
    /// Fill value for --fill-mode constant (0–255).
    #[arg(long, default_value_t = 0.0)]
    pub cval: f32,
    /// Brightness range "lo,hi" (e.g. 0.5,1.5).
    #[arg(long)]
    pub brightness: Option<String>,
    /// Channel shift range (0–255 scale).
    #[arg(long, default_value_t = 0.0)]
    pub channel_shift: f32,
}

impl AugmentFlags {
    /// The generator options these flags describe.
    pub fn config(&self) -> Result<AugmentConfig, UserError> {
        let fill_mode = FillMode::from_name(&self.fill_mode).ok_or_else(|| {
            UserError::new(
                "bad option",
                "--fill-mode".into(),
                format!(
                    "`{}` is not nearest, constant, reflect, wrap or grid-wrap",
                    self.fill_mode
                ),
            )
        })?;
        let brightness_range = match &self.brightness {
            None => None,
            Some(s) => {
                let v: Vec<f32> = s.split(',').filter_map(|p| p.trim().parse().ok()).collect();
                match v[..] {
                    [lo, hi] if lo <= hi && lo >= 0.0 => Some((lo, hi)),
                    _ => {
                        return Err(UserError::new(
                            "bad option",
                            "--brightness".into(),
                            format!("`{s}` is not lo,hi with 0 <= lo <= hi"),
                        ));
                    }
                }
            }
        };
        if !(0.0..1.0).contains(&self.zoom) {
            return Err(UserError::new(
                "bad option",
                "--zoom".into(),
                format!("{} is not in [0, 1)", self.zoom),
            ));
        }
        let cfg = AugmentConfig {
            axes: match self.axes {
                AxesArg::Keras => Axes::Keras,
                AxesArg::Documented => Axes::Documented,
            },
            rotation_range: self.rotation,
            width_shift_range: ShiftRange::Float(self.width_shift),
            height_shift_range: ShiftRange::Float(self.height_shift),
            shear_range: self.shear,
            zoom_range: AugmentConfig::zoom(self.zoom),
            horizontal_flip: self.horizontal_flip,
            alternating_flip: self.alternating_flip,
            vertical_flip: self.vertical_flip,
            fill_mode,
            cval: self.cval,
            brightness_range,
            channel_shift_range: self.channel_shift,
            ..Default::default()
        };
        ImageDataGenerator::new(cfg.clone())
            .validate()
            .map_err(|e| UserError::new("bad option", "augmentation".into(), e.to_string()))?;
        Ok(cfg)
    }

    /// Whether any augmentation is asked for (valid or not: check values with
    /// [`AugmentFlags::config`]).
    pub fn any(&self) -> bool {
        self.rotation != 0.0
            || self.width_shift != 0.0
            || self.height_shift != 0.0
            || self.shear != 0.0
            || self.zoom != 0.0
            || self.horizontal_flip
            || self.vertical_flip
            || self.brightness.is_some()
            || self.channel_shift != 0.0
    }
}

/// Write a grid of an image and its augmented variants (like the cat pictures of Chollet §5.2).
#[derive(Args, Debug)]
pub struct AugmentArgs {
    /// An image file, or a folder (its first image in Keras's file order is used).
    input: PathBuf,
    #[command(flatten)]
    flags: AugmentFlags,
    /// Number of variants.
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// Seed of the variants.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Pixels per cell side in the grid (the image is scaled up with nearest neighbours).
    #[arg(long, default_value_t = 128)]
    cell: u32,
    /// Also write every variant as a PNG into this folder (Keras's save_to_dir).
    #[arg(long)]
    save_to_dir: Option<PathBuf>,
    /// The grid PNG to write.
    #[arg(long, short)]
    out: PathBuf,
}

fn first_image(dir: &Path) -> Result<PathBuf, UserError> {
    if dir.is_file() {
        return Ok(dir.to_path_buf());
    }
    let idx = cnn_datasets::scan_folder(dir, &cnn_datasets::FolderOptions::default())
        .map_err(|e| bad_input("cannot read folder", dir.display().to_string(), e))?;
    idx.files.first().map(|f| dir.join(f)).ok_or_else(|| {
        UserError::new(
            "no image",
            dir.display().to_string(),
            "no images in class folders".into(),
        )
    })
}

fn to_rgb(img: &Image) -> image::RgbImage {
    let px = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    image::RgbImage::from_fn(img.w as u32, img.h as u32, |x, y| {
        let i = (y as usize * img.w + x as usize) * img.c;
        if img.c == 1 {
            let v = px(img.data[i]);
            image::Rgb([v, v, v])
        } else {
            image::Rgb([px(img.data[i]), px(img.data[i + 1]), px(img.data[i + 2])])
        }
    })
}

/// Runs the command.
pub fn run(a: &AugmentArgs) -> CliResult<String> {
    let path = first_image(&a.input)?;
    let name = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|e| bad_input("cannot read image", &name, e))?;
    let folder = cnn_datasets::FolderOptions::default();
    let (h, w, data) = cnn_datasets::decode_image(&bytes, &folder)
        .map_err(|e| UserError::new("cannot decode image", name.clone(), e))?;
    let img = Image {
        h,
        w,
        c: 3,
        data: data.into_iter().map(f32::from).collect(),
    };
    if a.count == 0 || a.count > 256 || a.cell == 0 || a.cell > 1024 {
        return Err(UserError::new(
            "bad option",
            "--count/--cell".into(),
            "count in 1..=256, cell in 1..=1024".into(),
        )
        .into());
    }
    let g = ImageDataGenerator::new(a.flags.config()?);
    let variants: Vec<Image> = (0..a.count)
        .map(|i| g.random_transform(&img, cnn_augment::image_seed(a.seed, 0, i)))
        .collect();
    if let Some(dir) = &a.save_to_dir {
        std::fs::create_dir_all(dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
        for (i, v) in variants.iter().enumerate() {
            let p = dir.join(format!("aug_{i:03}.png"));
            to_rgb(v)
                .save(&p)
                .map_err(|e| anyhow!("{}: {e}", p.display()))?;
        }
    }
    // Original first, then the variants, four or more per row, with margins.
    let cells: Vec<image::RgbImage> = std::iter::once(&img)
        .chain(&variants)
        .map(|v| {
            image::imageops::resize(
                &to_rgb(v),
                a.cell,
                a.cell * h as u32 / w.max(1) as u32,
                image::imageops::FilterType::Nearest,
            )
        })
        .collect();
    let cols = ((cells.len() as f64).sqrt().ceil() as u32).max(3);
    let rows = (cells.len() as u32).div_ceil(cols);
    let (cw, ch, m) = (cells[0].width(), cells[0].height(), 6u32);
    let mut grid = image::RgbImage::from_pixel(
        cols * (cw + m) + m,
        rows * (ch + m) + m,
        image::Rgb([255, 255, 255]),
    );
    for (i, cell) in cells.iter().enumerate() {
        let (gx, gy) = (i as u32 % cols, i as u32 / cols);
        image::imageops::replace(
            &mut grid,
            cell,
            (m + gx * (cw + m)) as i64,
            (m + gy * (ch + m)) as i64,
        );
        if i == 0 {
            // A dark frame marks the original.
            for x in 0..cw + 4 {
                for (y0, y1) in [(0, 1), (ch + 3, ch + 4)] {
                    for y in y0..y1 {
                        grid.put_pixel(m + x - 2, m + y - 2, image::Rgb([40, 40, 40]));
                    }
                }
            }
            for y in 0..ch + 4 {
                for x in [0u32, 1, cw + 2, cw + 3] {
                    grid.put_pixel(m + x - 2, m + y - 2, image::Rgb([40, 40, 40]));
                }
            }
        }
    }
    cnn_tensor::io::write_atomic(&a.out, &{
        let mut buf = Vec::new();
        grid.write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
            .map_err(|e| anyhow!(e))?;
        buf
    })
    .map_err(|e| anyhow!("{}: {e}", a.out.display()))?;
    Ok(format!(
        "wrote {} (original, framed, and {} variants of {name})\n",
        a.out.display(),
        a.count
    ))
}

//! One photographed or scanned handwritten digit → an MNIST-style 28x28 image, made the way the
//! MNIST digits were made (LeCun et al.): the ink is isolated, its bounding box is scaled to fit
//! a 20x20 box keeping the aspect ratio (anti-aliased), and the result is placed in a 28x28
//! field so that its centre of mass sits at the centre.
//!
//! Steps, on a grey image: (1) decide which side is ink — the background is the median of the
//! border pixels, and a light background (paper) is inverted so ink is bright on black, as in
//! MNIST; (2) subtract the background level and stretch the ink to [0, 1]; (3) zero everything
//! below `ink_threshold` (paper texture, shadows, sensor noise); (4) crop to the bounding box of
//! what is left; (5) resize its longer side to `box_size` (triangle filter, which averages
//! over the source pixels when shrinking); (6) translate so the centre of mass is at the centre
//! of the `size` x `size` field.

use std::path::Path;

use image::{ImageBuffer, Luma, imageops};

use crate::error::{DatasetError, Result};
use crate::folder::{ColorMode, FolderOptions, decode};

/// How [`mnist_style_digit`] prepares an image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DigitOptions {
    /// Fraction of the ink range below which a pixel counts as background (0–1).
    pub ink_threshold: f32,
    /// The box the digit's longer side is scaled to (MNIST: 20).
    pub box_size: usize,
    /// The output field (MNIST: 28).
    pub size: usize,
}

impl Default for DigitOptions {
    fn default() -> Self {
        DigitOptions {
            ink_threshold: 0.25,
            box_size: 20,
            size: 28,
        }
    }
}

fn err(file: &str, why: impl Into<String>) -> DatasetError {
    DatasetError::Format {
        file: file.into(),
        at: "digit".into(),
        message: why.into(),
    }
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// Prepares a grey `h` x `w` image (`gray` row-major, 0–255) as an MNIST digit: `size²`
/// values in [0, 1], ink bright on black. `name` is used in errors.
pub fn mnist_style_digit(
    gray: &[u8],
    h: usize,
    w: usize,
    opts: &DigitOptions,
    name: &str,
) -> Result<Vec<f32>> {
    if h == 0 || w == 0 || gray.len() != h * w {
        return Err(err(
            name,
            format!("{} pixels are not a {h}x{w} image", gray.len()),
        ));
    }
    let sane = opts.box_size >= 1
        && opts.box_size <= opts.size
        && opts.size <= 1024
        && (0.0..1.0).contains(&opts.ink_threshold);
    if !sane {
        return Err(err(name, format!("bad options {opts:?}")));
    }
    // (1) Which side is ink: the border is mostly background.
    let mut border = Vec::with_capacity(2 * (h + w));
    for x in 0..w {
        border.push(gray[x] as f32 / 255.0);
        border.push(gray[(h - 1) * w + x] as f32 / 255.0);
    }
    for y in 0..h {
        border.push(gray[y * w] as f32 / 255.0);
        border.push(gray[y * w + w - 1] as f32 / 255.0);
    }
    let light = median(border.clone()) > 0.5;
    let v: Vec<f32> = gray
        .iter()
        .map(|&p| {
            let p = p as f32 / 255.0;
            if light { 1.0 - p } else { p }
        })
        .collect();
    let bg = median(
        border
            .iter()
            .map(|&p| if light { 1.0 - p } else { p })
            .collect(),
    );
    // (2) Background to 0, strongest ink to 1.
    let top = v.iter().copied().fold(0.0f32, f32::max);
    if top - bg < 0.05 {
        return Err(err(name, "no ink found: the image is almost uniform"));
    }
    let ink: Vec<f32> = v
        .iter()
        .map(|&p| {
            let t = ((p - bg) / (top - bg)).max(0.0);
            // (3) Noise below the threshold is background.
            if t < opts.ink_threshold { 0.0 } else { t }
        })
        .collect();
    // (4) Bounding box of the ink.
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if ink[y * w + x] > 0.0 {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    if x0 > x1 {
        return Err(err(name, "no ink found above the threshold"));
    }
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let crop = ImageBuffer::<Luma<f32>, Vec<f32>>::from_fn(bw as u32, bh as u32, |x, y| {
        Luma([ink[(y0 + y as usize) * w + x0 + x as usize]])
    });
    // (5) Longer side to the box, keeping the aspect ratio.
    let scale = opts.box_size as f32 / bw.max(bh) as f32;
    let (nw, nh) = (
        ((bw as f32 * scale).round() as u32).clamp(1, opts.box_size as u32),
        ((bh as f32 * scale).round() as u32).clamp(1, opts.box_size as u32),
    );
    let small = imageops::resize(&crop, nw, nh, imageops::FilterType::Triangle);
    let peak = small
        .pixels()
        .map(|p| p.0[0])
        .fold(0.0f32, f32::max)
        .max(1e-6);
    // (6) Centre of mass to the centre of the field.
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in small.enumerate_pixels() {
        let m = p.0[0] as f64;
        mass += m;
        mx += m * (x as f64 + 0.5);
        my += m * (y as f64 + 0.5);
    }
    let half = opts.size as f64 / 2.0;
    let (ox, oy) = if mass > 0.0 {
        (
            (half - mx / mass).round() as i64,
            (half - my / mass).round() as i64,
        )
    } else {
        (
            (opts.size as i64 - nw as i64) / 2,
            (opts.size as i64 - nh as i64) / 2,
        )
    };
    let n = opts.size as i64;
    let mut out = vec![0.0f32; opts.size * opts.size];
    for (x, y, p) in small.enumerate_pixels() {
        let (tx, ty) = (x as i64 + ox, y as i64 + oy);
        if (0..n).contains(&tx) && (0..n).contains(&ty) {
            out[(ty * n + tx) as usize] = (p.0[0] / peak).clamp(0.0, 1.0);
        }
    }
    Ok(out)
}

/// Reads an image file (any format the image folders accept, with the same size limit) and
/// prepares it with [`mnist_style_digit`].
pub fn load_digit(path: &Path, opts: &DigitOptions) -> Result<Vec<f32>> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DatasetError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let folder = FolderOptions {
        color: ColorMode::Grayscale,
        target_size: None,
        ..Default::default()
    };
    let (h, w, px) = decode(&bytes, &folder).map_err(|why| err(&name, why))?;
    mnist_style_digit(&px, h, w, opts, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dark stroke on light paper: a `th`-thick vertical bar at `x`, rows `y0..y1`.
    fn bar(h: usize, w: usize, x: usize, th: usize, y0: usize, y1: usize, paper: u8) -> Vec<u8> {
        let mut g = vec![paper; h * w];
        for y in y0..y1 {
            for dx in 0..th {
                g[y * w + x + dx] = 30;
            }
        }
        g
    }

    fn com(img: &[f32], n: usize) -> (f64, f64) {
        let (mut m, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for y in 0..n {
            for x in 0..n {
                let v = img[y * n + x] as f64;
                m += v;
                sx += v * (x as f64 + 0.5);
                sy += v * (y as f64 + 0.5);
            }
        }
        (sx / m, sy / m)
    }

    #[test]
    fn light_paper_is_inverted_cropped_scaled_and_centred() {
        // A "1" drawn off-centre in the top-left of a 100x80 photo.
        let g = bar(100, 80, 10, 6, 5, 65, 220);
        let d = mnist_style_digit(&g, 100, 80, &DigitOptions::default(), "t").unwrap();
        assert_eq!(d.len(), 784);
        // Ink is bright on black, and fits the 20-pixel box vertically.
        let rows: Vec<usize> = (0..28)
            .filter(|&y| (0..28).any(|x| d[y * 28 + x] > 0.1))
            .collect();
        assert_eq!(rows.len(), 20, "{rows:?}");
        assert!(d.iter().copied().fold(0.0, f32::max) > 0.99);
        assert_eq!(d[0], 0.0);
        // Centre of mass at the centre, within half a pixel.
        let (cx, cy) = com(&d, 28);
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "{cx} {cy}"
        );
    }

    #[test]
    fn dark_background_is_not_inverted() {
        let mut g = vec![10u8; 50 * 50];
        for y in 10..40 {
            for x in 20..30 {
                g[y * 50 + x] = 240;
            }
        }
        let d = mnist_style_digit(&g, 50, 50, &DigitOptions::default(), "t").unwrap();
        assert!(d[14 * 28 + 14] > 0.9);
        assert_eq!(d[0], 0.0);
    }

    #[test]
    fn noise_below_the_threshold_is_dropped() {
        let mut g = bar(60, 60, 28, 4, 10, 50, 200);
        // Faint specks far from the stroke (10 % of the ink range).
        g[2 * 60 + 2] = 183;
        g[57 * 60 + 57] = 183;
        let d = mnist_style_digit(&g, 60, 60, &DigitOptions::default(), "t").unwrap();
        // The bounding box is the bar's, so the bar spans the full 20 rows.
        let rows = (0..28)
            .filter(|&y| (0..28).any(|x| d[y * 28 + x] > 0.1))
            .count();
        assert_eq!(rows, 20);
    }

    #[test]
    fn blank_or_malformed_images_are_errors() {
        let blank = vec![200u8; 30 * 30];
        let e =
            mnist_style_digit(&blank, 30, 30, &DigitOptions::default(), "blank.png").unwrap_err();
        assert!(
            e.to_string().contains("blank.png") && e.to_string().contains("no ink"),
            "{e}"
        );
        assert!(mnist_style_digit(&[0; 5], 2, 2, &DigitOptions::default(), "x").is_err());
        assert!(mnist_style_digit(&[], 0, 0, &DigitOptions::default(), "x").is_err());
    }
}

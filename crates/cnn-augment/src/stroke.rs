//! Augmentations beyond Keras's `ImageDataGenerator` for images of strokes (handwriting,
//! scans): grey-level dilation and erosion (thicker or thinner strokes), Gaussian blur, and
//! Simard et al.'s elastic distortion (2003). Each works on an [`Image`] in place, per channel;
//! plug them into a generator with [`crate::ImageDataGenerator::with_random_preprocessing`].

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::transform::Image;

/// 3x3 grey-level morphology: each pixel becomes the max (`dilate`) or min of its neighbourhood
/// (borders use the pixels that exist).
fn morph(img: &mut Image, dilate: bool) {
    let (h, w, c) = (img.h, img.w, img.c);
    let src = img.data.clone();
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let mut v = src[(y * w + x) * c + ch];
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        let s = src[(yy * w + xx) * c + ch];
                        v = if dilate { v.max(s) } else { v.min(s) };
                    }
                }
                img.data[(y * w + x) * c + ch] = v;
            }
        }
    }
}

/// Thickens bright strokes by one pixel (3x3 grey dilation).
pub fn dilate(img: &mut Image) {
    morph(img, true);
}

/// Thins bright strokes by one pixel (3x3 grey erosion).
pub fn erode(img: &mut Image) {
    morph(img, false);
}

fn kernel(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil().max(1.0) as i64;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k.iter().sum();
    k.into_iter().map(|v| v / s).collect()
}

/// Separable convolution of one `h` x `w` plane with a symmetric kernel, edges clamped.
fn convolve(plane: &mut [f32], h: usize, w: usize, k: &[f32]) {
    let r = (k.len() / 2) as i64;
    let mut tmp = vec![0.0f32; plane.len()];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = k
                .iter()
                .enumerate()
                .map(|(i, kv)| {
                    let xx = (x as i64 + i as i64 - r).clamp(0, w as i64 - 1) as usize;
                    kv * plane[y * w + xx]
                })
                .sum();
        }
    }
    for y in 0..h {
        for x in 0..w {
            plane[y * w + x] = k
                .iter()
                .enumerate()
                .map(|(i, kv)| {
                    let yy = (y as i64 + i as i64 - r).clamp(0, h as i64 - 1) as usize;
                    kv * tmp[yy * w + x]
                })
                .sum();
        }
    }
}

fn planes(img: &Image) -> Vec<Vec<f32>> {
    (0..img.c)
        .map(|ch| img.data.iter().skip(ch).step_by(img.c).copied().collect())
        .collect()
}

/// Gaussian blur with standard deviation `sigma` pixels (no-op for `sigma <= 0`).
pub fn gaussian_blur(img: &mut Image, sigma: f32) {
    if sigma.is_nan() || sigma <= 0.0 {
        return;
    }
    let k = kernel(sigma);
    for (ch, mut p) in planes(img).into_iter().enumerate() {
        convolve(&mut p, img.h, img.w, &k);
        for (i, v) in p.into_iter().enumerate() {
            img.data[i * img.c + ch] = v;
        }
    }
}

/// Elastic distortion (Simard, Steinkraus & Platt 2003): a random displacement field, uniform
/// in [−1, 1] per pixel, smoothed by a Gaussian of `sigma` pixels and scaled by `alpha` pixels;
/// each output pixel is read bilinearly from its displaced position (outside reads 0).
pub fn elastic(img: &mut Image, alpha: f32, sigma: f32, seed: u64) {
    let (h, w, c) = (img.h, img.w, img.c);
    if h == 0 || w == 0 || alpha == 0.0 || sigma.is_nan() || sigma <= 0.0 {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = kernel(sigma);
    let mut field = |_: ()| {
        let mut f: Vec<f32> = (0..h * w).map(|_| rng.random_range(-1.0..=1.0)).collect();
        convolve(&mut f, h, w, &k);
        f.iter_mut().for_each(|v| *v *= alpha);
        f
    };
    let (dx, dy) = (field(()), field(()));
    let src = img.data.clone();
    let at = |y: i64, x: i64, ch: usize| {
        if y < 0 || x < 0 || y >= h as i64 || x >= w as i64 {
            0.0
        } else {
            src[(y as usize * w + x as usize) * c + ch]
        }
    };
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = (x as f32 + dx[y * w + x], y as f32 + dy[y * w + x]);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            for ch in 0..c {
                let v = at(y0, x0, ch) * (1.0 - fx) * (1.0 - fy)
                    + at(y0, x0 + 1, ch) * fx * (1.0 - fy)
                    + at(y0 + 1, x0, ch) * (1.0 - fx) * fy
                    + at(y0 + 1, x0 + 1, ch) * fx * fy;
                img.data[(y * w + x) * c + ch] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(h: usize, w: usize, y: usize, x: usize) -> Image {
        let mut data = vec![0.0; h * w];
        data[y * w + x] = 1.0;
        Image { h, w, c: 1, data }
    }

    #[test]
    fn dilate_grows_a_dot_to_3x3_and_erode_removes_it() {
        let mut a = dot(5, 5, 2, 2);
        dilate(&mut a);
        assert_eq!(a.data.iter().filter(|&&v| v == 1.0).count(), 9);
        assert_eq!(a.data[0], 0.0);
        erode(&mut a);
        assert_eq!(a.data, dot(5, 5, 2, 2).data);
        let mut b = dot(5, 5, 2, 2);
        erode(&mut b);
        assert!(b.data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn blur_keeps_mass_spreads_symmetrically_and_zero_sigma_is_identity() {
        let mut a = dot(15, 15, 7, 7);
        gaussian_blur(&mut a, 1.0);
        let mass: f32 = a.data.iter().sum();
        assert!((mass - 1.0).abs() < 1e-5, "{mass}");
        assert!((a.data[7 * 15 + 6] - a.data[7 * 15 + 8]).abs() < 1e-7);
        assert!((a.data[6 * 15 + 7] - a.data[7 * 15 + 6]).abs() < 1e-7);
        assert!(a.data[7 * 15 + 7] < 0.2);
        let mut b = dot(5, 5, 1, 3);
        gaussian_blur(&mut b, 0.0);
        assert_eq!(b.data, dot(5, 5, 1, 3).data);
    }

    #[test]
    fn elastic_is_seeded_moves_pixels_a_little_and_alpha_zero_is_identity() {
        let mut img = Image {
            h: 20,
            w: 20,
            c: 1,
            data: (0..400).map(|i| (i % 20) as f32 / 19.0).collect(),
        };
        let orig = img.clone();
        let mut a = img.clone();
        elastic(&mut a, 2.0, 3.0, 9);
        let mut b = img.clone();
        elastic(&mut b, 2.0, 3.0, 9);
        assert_eq!(a.data, b.data);
        let mut c = img.clone();
        elastic(&mut c, 2.0, 3.0, 10);
        assert_ne!(a.data, c.data);
        // A horizontal ramp moved by at most ~alpha pixels changes by at most ~alpha/19 inside.
        let max_diff = (2..18)
            .flat_map(|y| (2..18).map(move |x| (y, x)))
            .map(|(y, x)| (a.data[y * 20 + x] - orig.data[y * 20 + x]).abs())
            .fold(0.0f32, f32::max);
        assert!(max_diff > 0.0 && max_diff < 2.5 / 19.0, "{max_diff}");
        elastic(&mut img, 0.0, 3.0, 9);
        assert_eq!(img.data, orig.data);
    }
}

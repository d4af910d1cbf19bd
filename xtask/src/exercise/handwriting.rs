//! The bundled "handwritten" test digits (`examples/digits/`): our own images, made by this
//! generator (`cargo xtask make-digit-images`), not real handwriting. Each digit is a
//! pen trajectory (a hand-placed polyline per digit, in two styles where people write a digit
//! two ways), drawn like a person would write it — random slant, rotation, aspect, size,
//! off-centre position and wobble — with a pen (ballpoint, felt-tip, marker, pencil), then
//! "scanned": paper brightness and a lighting gradient, blur, sensor noise. They differ from
//! MNIST the way photos and scans do: dark ink on light paper, a large frame around the digit,
//! other stroke widths, blur and noise.

use std::path::Path;

use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Stroke = Vec<(f32, f32)>;

fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32, n: usize) -> Stroke {
    (0..=n)
        .map(|i| {
            let t = from + (to - from) * i as f32 / n as f32;
            (cx + rx * t.cos(), cy + ry * t.sin())
        })
        .collect()
}

const TAU: f32 = std::f32::consts::TAU;

/// The strokes of `digit` in style `style` (0 or 1), in a unit box, y down.
fn strokes(digit: u8, style: u8) -> Vec<Stroke> {
    let p = |v: &[(f32, f32)]| v.to_vec();
    match (digit, style % 2) {
        (0, 0) => vec![ellipse(0.5, 0.5, 0.3, 0.42, -1.7, -1.7 + TAU * 1.03, 40)],
        (0, _) => vec![ellipse(0.5, 0.5, 0.24, 0.44, -1.5, -1.5 + TAU, 40)],
        (1, 0) => vec![p(&[(0.52, 0.08), (0.5, 0.92)])],
        (1, _) => vec![
            p(&[(0.3, 0.28), (0.56, 0.08), (0.54, 0.92)]),
            p(&[(0.32, 0.92), (0.76, 0.92)]),
        ],
        (2, 0) => vec![p(&[
            (0.22, 0.28),
            (0.3, 0.13),
            (0.5, 0.07),
            (0.7, 0.14),
            (0.76, 0.3),
            (0.68, 0.46),
            (0.22, 0.9),
            (0.82, 0.9),
        ])],
        (2, _) => vec![p(&[
            (0.2, 0.25),
            (0.42, 0.08),
            (0.66, 0.1),
            (0.74, 0.28),
            (0.6, 0.5),
            (0.3, 0.78),
            (0.2, 0.9),
            (0.45, 0.84),
            (0.82, 0.88),
        ])],
        (3, 0) => vec![p(&[
            (0.22, 0.15),
            (0.45, 0.07),
            (0.68, 0.13),
            (0.72, 0.3),
            (0.6, 0.44),
            (0.42, 0.48),
            (0.62, 0.52),
            (0.76, 0.66),
            (0.74, 0.82),
            (0.58, 0.92),
            (0.38, 0.93),
            (0.2, 0.85),
        ])],
        (3, _) => vec![p(&[
            (0.2, 0.1),
            (0.75, 0.1),
            (0.45, 0.42),
            (0.65, 0.48),
            (0.77, 0.66),
            (0.7, 0.86),
            (0.48, 0.94),
            (0.22, 0.86),
        ])],
        (4, 0) => vec![p(&[(0.62, 0.92), (0.62, 0.08), (0.16, 0.64), (0.84, 0.64)])],
        (4, _) => vec![
            p(&[(0.3, 0.08), (0.22, 0.55), (0.8, 0.55)]),
            p(&[(0.66, 0.3), (0.64, 0.94)]),
        ],
        (5, 0) => vec![p(&[
            (0.76, 0.1),
            (0.32, 0.1),
            (0.27, 0.46),
            (0.46, 0.4),
            (0.66, 0.46),
            (0.77, 0.63),
            (0.73, 0.82),
            (0.56, 0.93),
            (0.36, 0.93),
            (0.2, 0.84),
        ])],
        (5, _) => vec![
            p(&[
                (0.34, 0.08),
                (0.3, 0.45),
                (0.5, 0.4),
                (0.7, 0.5),
                (0.74, 0.72),
                (0.6, 0.9),
                (0.38, 0.92),
                (0.22, 0.82),
            ]),
            p(&[(0.34, 0.09), (0.78, 0.07)]),
        ],
        (6, 0) => vec![p(&[
            (0.7, 0.1),
            (0.46, 0.2),
            (0.31, 0.4),
            (0.25, 0.62),
            (0.3, 0.84),
            (0.5, 0.93),
            (0.7, 0.85),
            (0.75, 0.68),
            (0.65, 0.53),
            (0.47, 0.5),
            (0.32, 0.58),
            (0.26, 0.68),
        ])],
        (6, _) => vec![p(&[
            (0.62, 0.06),
            (0.36, 0.4),
            (0.28, 0.66),
            (0.36, 0.88),
            (0.56, 0.92),
            (0.7, 0.78),
            (0.64, 0.6),
            (0.46, 0.56),
            (0.3, 0.66),
        ])],
        (7, 0) => vec![p(&[(0.2, 0.1), (0.8, 0.1), (0.44, 0.92)])],
        (7, _) => vec![
            p(&[
                (0.18, 0.16),
                (0.24, 0.1),
                (0.8, 0.1),
                (0.52, 0.5),
                (0.4, 0.92),
            ]),
            p(&[(0.36, 0.5), (0.7, 0.5)]),
        ],
        (8, 0) => vec![
            ellipse(0.5, 0.28, 0.2, 0.19, 0.0, TAU, 30),
            ellipse(0.5, 0.7, 0.25, 0.22, 0.0, TAU, 30),
        ],
        (8, _) => vec![p(&[
            (0.7, 0.2),
            (0.5, 0.07),
            (0.3, 0.18),
            (0.36, 0.38),
            (0.64, 0.6),
            (0.72, 0.8),
            (0.5, 0.94),
            (0.28, 0.8),
            (0.36, 0.6),
            (0.64, 0.38),
            (0.7, 0.2),
        ])],
        (9, 0) => vec![
            ellipse(0.48, 0.31, 0.23, 0.21, 0.0, TAU, 30),
            p(&[(0.71, 0.3), (0.7, 0.6), (0.62, 0.93)]),
        ],
        (_, _) => vec![
            ellipse(0.46, 0.3, 0.2, 0.2, 0.0, TAU, 30),
            p(&[(0.66, 0.26), (0.66, 0.93)]),
        ],
    }
}

/// A pen: stroke half-width (fraction of the digit's height) and ink darkness.
struct Pen {
    name: &'static str,
    radius: f32,
    ink: f32,
    grainy: bool,
}

const PENS: [Pen; 4] = [
    Pen {
        name: "ballpoint",
        radius: 0.018,
        ink: 0.75,
        grainy: false,
    },
    Pen {
        name: "felt-tip",
        radius: 0.035,
        ink: 0.9,
        grainy: false,
    },
    Pen {
        name: "marker",
        radius: 0.06,
        ink: 0.95,
        grainy: false,
    },
    Pen {
        name: "pencil",
        radius: 0.022,
        ink: 0.55,
        grainy: true,
    },
];

fn seg_dist(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (a.0 + t * dx - p.0, a.1 + t * dy - p.1);
    (qx * qx + qy * qy).sqrt()
}

/// Renders one digit as a grey "scan" (`size` x `size`, dark ink on light paper).
fn render(digit: u8, style: u8, pen: &Pen, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    // How this person writes: slant, rotation, aspect, size and place on the paper.
    let slant: f32 = rng.random_range(-0.35..0.2);
    let rot: f32 = rng.random_range(-0.15..0.15);
    let aspect: f32 = rng.random_range(0.75..1.15);
    let height: f32 = rng.random_range(0.45..0.75) * size as f32;
    let cx = size as f32 * rng.random_range(0.4..0.6);
    let cy = size as f32 * rng.random_range(0.4..0.6);
    let wobble: f32 = rng.random_range(0.0..0.025);
    let (s, c) = rot.sin_cos();
    let place = |(x, y): (f32, f32)| {
        let (x, y) = ((x - 0.5) * aspect, y - 0.5);
        let x = x - slant * y;
        let (x, y) = (x * c - y * s, x * s + y * c);
        (cx + x * height, cy + y * height)
    };
    let paths: Vec<Stroke> = strokes(digit, style)
        .into_iter()
        .map(|st| {
            st.into_iter()
                .map(|(x, y)| {
                    place((
                        x + rng.random_range(-wobble..=wobble),
                        y + rng.random_range(-wobble..=wobble),
                    ))
                })
                .collect()
        })
        .collect();
    let r = pen.radius * height * rng.random_range(0.8..1.25);
    // The paper: brightness, a lighting gradient across the page.
    let paper: f32 = rng.random_range(0.78..0.97);
    let (gx, gy): (f32, f32) = (rng.random_range(-0.12..0.12), rng.random_range(-0.12..0.12));
    let mut img = vec![0.0f32; size * size];
    for y in 0..size {
        for x in 0..size {
            let p = (x as f32 + 0.5, y as f32 + 0.5);
            let d = paths
                .iter()
                .flat_map(|st| st.windows(2).map(move |w| seg_dist(p, w[0], w[1])))
                .fold(f32::INFINITY, f32::min);
            // Anti-aliased pen edge, one pixel wide.
            let mut cover = (r + 0.5 - d).clamp(0.0, 1.0);
            if pen.grainy && cover > 0.0 {
                cover *= rng.random_range(0.5..1.0);
            }
            let light =
                paper + gx * (x as f32 / size as f32 - 0.5) + gy * (y as f32 / size as f32 - 0.5);
            img[y * size + x] = light * (1.0 - pen.ink * cover);
        }
    }
    // The scan: a little blur (3x3 box, once or twice) and sensor noise.
    for _ in 0..rng.random_range(0..3) {
        let src = img.clone();
        for y in 0..size {
            for x in 0..size {
                let (mut acc, mut n) = (0.0, 0.0);
                for yy in y.saturating_sub(1)..(y + 2).min(size) {
                    for xx in x.saturating_sub(1)..(x + 2).min(size) {
                        acc += src[yy * size + xx];
                        n += 1.0;
                    }
                }
                img[y * size + x] = acc / n;
            }
        }
    }
    let noise: f32 = rng.random_range(0.0..0.04);
    img.iter()
        .map(|&v| ((v + rng.random_range(-noise..=noise)).clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// Writes `per_digit` images of each digit into `dir` as `D_pen_N.png` (the leading digit is
/// the label), cycling through the pens and styles. Deterministic for a seed.
pub fn make_images(dir: &Path, per_digit: usize, seed: u64) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut n = 0;
    for digit in 0..10u8 {
        for i in 0..per_digit {
            let pen = &PENS[i % PENS.len()];
            let style = ((i / PENS.len()) % 2) as u8;
            let size = 96;
            let px = render(digit, style, pen, size, &mut rng);
            let img =
                image::GrayImage::from_raw(size as u32, size as u32, px).context("image buffer")?;
            let path = dir.join(format!("{digit}_{}_{:02}.png", pen.name, i));
            let mut bytes = std::io::Cursor::new(Vec::new());
            img.write_to(&mut bytes, image::ImageFormat::Png)?;
            cnn_tensor::io::write_atomic(&path, bytes.get_ref())
                .with_context(|| format!("writing {}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_digit_and_style_has_ink_inside_the_frame() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for d in 0..10 {
            for s in 0..2 {
                let px = render(d, s, &PENS[1], 64, &mut rng);
                let dark = px.iter().filter(|&&v| v < 120).count();
                assert!(dark > 25, "digit {d} style {s}: {dark} ink pixels");
                // The border stays paper.
                assert!(
                    px[..64].iter().all(|&v| v > 120),
                    "digit {d} style {s} touches the top"
                );
            }
        }
    }
}

//! The single affine resample of `ImageDataGenerator` (Keras's `apply_affine_transform`):
//! `M = R(θ) · T(tx, ty) · Sh(shear) · Z(zx, zy)`, about the centre `((H−1)/2, (W−1)/2)`,
//! pulled from each output pixel to its input position (as `scipy.ndimage.affine_transform`
//! does), sampled with nearest or bilinear interpolation.
//!
//! By default the output is Keras 3's, checked against Keras's own `apply_transform`
//! (`scripts/keras/augment_fixtures.py`): Keras 3 builds the matrix on `(x, y)` and swaps it
//! onto the array's `(row, column)`, so `tx` (drawn from `height_shift_range`) moves content
//! horizontally and the centre offsets trade places on non-square images
//! (keras-team/keras#17398). [`Axes::Documented`] acts on `(row, column)` instead: the
//! documented axes, as keras-preprocessing 1.1.2 (Keras 2, TF ≤ 2.8) computed them.

use crate::params::TransformParams;

/// Which axes the transform matrix acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Axes {
    /// What Keras 3's `ImageDataGenerator` does: the matrix is swapped onto `(column, row)`, so
    /// `height_shift_range` shifts horizontally, `zx` zooms the width and rotations and shears
    /// turn the other way; on a non-square image the centre's offsets trade places too.
    #[default]
    Keras,
    /// The documented axes (keras-preprocessing 1.1.2, Keras 2): `height_shift_range` shifts
    /// vertically, `zx` zooms the height.
    Documented,
}

impl Axes {
    /// Parses `keras` or `documented`.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "keras" => Axes::Keras,
            "documented" => Axes::Documented,
            _ => return None,
        })
    }
}

/// How sample points outside the input are filled. The four Keras modes are what Keras passes to
/// `scipy.ndimage.affine_transform`; patterns shown for an input `abcd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FillMode {
    /// `kkkkkkkk|abcd|kkkkkkkk` with `k = cval`.
    Constant,
    /// `aaaaaaaa|abcd|dddddddd`.
    #[default]
    Nearest,
    /// `abcddcba|abcd|dcbaabcd`.
    Reflect,
    /// Keras's `wrap`, i.e. scipy's `wrap`: coordinates wrap with period `n − 1`, so the first
    /// and last pixels meet (`bcd|abcd|abc`, not the `abcd|abcd|abcd` Keras's docstring shows).
    Wrap,
    /// `abcdabcd|abcd|abcdabcd` (scipy's `grid-wrap`): the pattern Keras documents for `wrap`.
    /// Not a Keras option; name `grid-wrap`.
    GridWrap,
}

impl FillMode {
    /// Parses a Keras `fill_mode` name, or `grid-wrap`.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "constant" => FillMode::Constant,
            "nearest" => FillMode::Nearest,
            "reflect" => FillMode::Reflect,
            "wrap" => FillMode::Wrap,
            "grid-wrap" => FillMode::GridWrap,
            _ => return None,
        })
    }

    /// The mode's name, as [`FillMode::from_name`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            FillMode::Constant => "constant",
            FillMode::Nearest => "nearest",
            FillMode::Reflect => "reflect",
            FillMode::Wrap => "wrap",
            FillMode::GridWrap => "grid-wrap",
        }
    }

    /// scipy's `wrap` on a coordinate: outside `[0, n − 1]` it moves by whole periods of
    /// `n − 1` into that range (a single pixel maps everything to 0). The mapping jumps at the
    /// edges, so a coordinate within `eps` of the range (an integer up to rounding: our
    /// coordinates are accumulated, scipy's multiplied out) counts as inside.
    #[inline]
    fn wrap_coordinate(v: f64, n: usize, eps: f64) -> f64 {
        let last = (n - 1) as f64;
        if (-eps..=last + eps).contains(&v) {
            return v.clamp(0.0, last);
        }
        if n <= 1 {
            return 0.0;
        }
        if v < 0.0 {
            v + last * ((-v / last).trunc() + 1.0)
        } else {
            v - last * (v / last).trunc()
        }
    }

    /// Maps an index (possibly outside `0..n`) into the input, or `None` for `Constant`.
    #[inline]
    fn index(self, i: i64, n: i64) -> Option<i64> {
        if (0..n).contains(&i) {
            return Some(i);
        }
        match self {
            FillMode::Constant => None,
            FillMode::Nearest => Some(i.clamp(0, n - 1)),
            FillMode::Reflect => {
                // Half-sample symmetric: period 2n, mirror in the second half.
                let p = 2 * n;
                let m = i.rem_euclid(p);
                Some(if m < n { m } else { p - 1 - m })
            }
            // Coordinates were wrapped already, so only a zero-weight tap lands here.
            FillMode::Wrap => Some(i.clamp(0, n - 1)),
            FillMode::GridWrap => Some(i.rem_euclid(n)),
        }
    }
}

/// A 2x3 affine map from output `(row, col)` to input `(row, col)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// Linear part, row-major.
    pub a: [[f64; 2]; 2],
    /// Offset.
    pub b: [f64; 2],
}

fn mul(x: &[[f64; 3]; 3], y: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut z = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            z[i][j] = (0..3).map(|k| x[i][k] * y[k][j]).sum();
        }
    }
    z
}

impl Affine {
    /// Keras's matrix for `p` on an `h × w` image, centred.
    pub fn keras(p: &TransformParams, h: usize, w: usize) -> Affine {
        let (t, s) = (p.theta.to_radians(), p.shear.to_radians());
        let r = [
            [t.cos(), -t.sin(), 0.0],
            [t.sin(), t.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let tr = [[1.0, 0.0, p.tx], [0.0, 1.0, p.ty], [0.0, 0.0, 1.0]];
        let sh = [[1.0, -s.sin(), 0.0], [0.0, s.cos(), 0.0], [0.0, 0.0, 1.0]];
        let z = [[p.zx, 0.0, 0.0], [0.0, p.zy, 0.0], [0.0, 0.0, 1.0]];
        let m = mul(&mul(&mul(&r, &tr), &sh), &z);
        let (o1, o2) = (h as f64 / 2.0 - 0.5, w as f64 / 2.0 - 0.5);
        let off = [[1.0, 0.0, o1], [0.0, 1.0, o2], [0.0, 0.0, 1.0]];
        let back = [[1.0, 0.0, -o1], [0.0, 1.0, -o2], [0.0, 0.0, 1.0]];
        let m = mul(&mul(&off, &m), &back);
        Affine {
            a: [[m[0][0], m[0][1]], [m[1][0], m[1][1]]],
            b: [m[0][2], m[1][2]],
        }
    }

    /// Whether this is the identity.
    pub fn is_identity(&self) -> bool {
        self.a == [[1.0, 0.0], [0.0, 1.0]] && self.b == [0.0, 0.0]
    }
}

/// One interior bilinear output pixel of `C` channels from the taps at `i00` (top-left) and
/// `i10` (bottom-left); `w` = weights of top-left, top-right, bottom-left, bottom-right.
#[inline(always)]
fn bilinear_fixed<const C: usize>(
    src: &[f32],
    i00: usize,
    i10: usize,
    w: [f32; 4],
    out: &mut [f32],
) {
    let tap = |at: usize| -> &[f32; C] { src[at..at + C].try_into().expect("C taps") };
    let (p00, p01, p10, p11) = (tap(i00), tap(i00 + C), tap(i10), tap(i10 + C));
    let out: &mut [f32; C] = out.try_into().expect("C outputs");
    for k in 0..C {
        out[k] = w[0] * p00[k] + w[1] * p01[k] + w[2] * p10[k] + w[3] * p11[k];
    }
}

/// Resamples an `h × w × c` image through `m` (output → input). `order` 0 is nearest, 1
/// bilinear. With [`Axes::Keras`] the map acts on `(col, row)`, as Keras 3's does.
#[allow(clippy::too_many_arguments)]
pub fn resample(
    src: &[f32],
    h: usize,
    w: usize,
    c: usize,
    m: &Affine,
    fill: FillMode,
    cval: f32,
    order: u8,
    axes: Axes,
    dst: &mut [f32],
) {
    let swap_axes = axes == Axes::Keras;
    let (hi, wi) = (h as i64, w as i64);
    // Tolerance so that coordinates that are integers up to rounding count as inside.
    const EPS: f64 = 1e-9;
    // Input position of output (r, col) is base(r) + col * step, with the roles of rows and
    // columns swapped in compat mode.
    let (step_y, step_x, row_y, row_x, b_y, b_x) = if swap_axes {
        (m.a[1][0], m.a[0][0], m.a[1][1], m.a[0][1], m.b[1], m.b[0])
    } else {
        (m.a[0][1], m.a[1][1], m.a[0][0], m.a[1][0], m.b[0], m.b[1])
    };
    let (ymax, xmax) = ((h - 1) as f64, (w - 1) as f64);
    for r in 0..h {
        let mut y = row_y * r as f64 + b_y;
        let mut x = row_x * r as f64 + b_x;
        for col in 0..w {
            let (mut yy, mut xx) = (y, x);
            if fill == FillMode::Wrap {
                yy = FillMode::wrap_coordinate(yy, h, EPS);
                xx = FillMode::wrap_coordinate(xx, w, EPS);
            }
            y += step_y;
            x += step_x;
            let out = &mut dst[(r * w + col) * c..(r * w + col + 1) * c];
            if fill == FillMode::Constant
                && (yy < -EPS || xx < -EPS || yy > ymax + EPS || xx > xmax + EPS)
            {
                out.fill(cval);
                continue;
            }
            if order == 0 {
                let (yi, xi) = ((yy + 0.5).floor() as i64, (xx + 0.5).floor() as i64);
                match (fill.index(yi, hi), fill.index(xi, wi)) {
                    (Some(a), Some(b)) => out.copy_from_slice(
                        &src[((a * wi + b) as usize) * c..((a * wi + b) as usize + 1) * c],
                    ),
                    _ => out.fill(cval),
                }
                continue;
            }
            let (yf, xf) = (yy.floor(), xx.floor());
            let (dy, dx) = ((yy - yf) as f32, (xx - xf) as f32);
            let (y0, x0) = (yf as i64, xf as i64);
            if y0 >= 0 && x0 >= 0 && y0 + 1 < hi && x0 + 1 < wi {
                // Interior: all four taps inside, no fill-mode mapping.
                let i00 = ((y0 * wi + x0) as usize) * c;
                let i10 = i00 + w * c;
                let (w00, w01, w10, w11) = (
                    (1.0 - dy) * (1.0 - dx),
                    (1.0 - dy) * dx,
                    dy * (1.0 - dx),
                    dy * dx,
                );
                match c {
                    // RGB and grey, with fixed sizes so the four taps are unrolled and
                    // bounds-checked once (the common case, about 1.4x faster for RGB).
                    3 => bilinear_fixed::<3>(src, i00, i10, [w00, w01, w10, w11], out),
                    1 => bilinear_fixed::<1>(src, i00, i10, [w00, w01, w10, w11], out),
                    _ => {
                        let (p00, p01) = (&src[i00..i00 + c], &src[i00 + c..i00 + 2 * c]);
                        let (p10, p11) = (&src[i10..i10 + c], &src[i10 + c..i10 + 2 * c]);
                        for k in 0..c {
                            out[k] = w00 * p00[k] + w01 * p01[k] + w10 * p10[k] + w11 * p11[k];
                        }
                    }
                }
                continue;
            }
            out.fill(0.0);
            for (ty, wy) in [(y0, 1.0 - dy), (y0 + 1, dy)] {
                if wy == 0.0 {
                    continue;
                }
                for (tx, wx) in [(x0, 1.0 - dx), (x0 + 1, dx)] {
                    if wx == 0.0 {
                        continue;
                    }
                    let wgt = wy * wx;
                    match (fill.index(ty, hi), fill.index(tx, wi)) {
                        (Some(a), Some(b)) => {
                            let base = ((a * wi + b) as usize) * c;
                            out.iter_mut()
                                .zip(&src[base..base + c])
                                .for_each(|(o, s)| *o += wgt * s);
                        }
                        _ => out.iter_mut().for_each(|o| *o += wgt * cval),
                    }
                }
            }
        }
    }
}

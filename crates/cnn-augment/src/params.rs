//! `ImageDataGenerator`'s options with Keras's meanings and defaults, and the per-image random
//! draw (`get_random_transform`).

use rand::RngExt;

use crate::affine::{Axes, FillMode};

/// A shift range, as Keras interprets `width_shift_range` / `height_shift_range`.
#[derive(Clone, Debug, PartialEq)]
pub enum ShiftRange {
    /// A float: `< 1` is a fraction of the image side (`U(-f, f)·side` pixels, continuous);
    /// `≥ 1` is pixels (`U(-f, f)`).
    Float(f32),
    /// An integer `n`: whole pixels in `(-n, n)`, i.e. `choice(range(n)) · ±1`.
    Int(u32),
    /// A list: one element with a random sign; fractions of the side when all are `< 1`.
    List(Vec<f32>),
}

impl Default for ShiftRange {
    fn default() -> Self {
        ShiftRange::Float(0.0)
    }
}

impl ShiftRange {
    fn is_zero(&self) -> bool {
        match self {
            ShiftRange::Float(f) => *f == 0.0,
            ShiftRange::Int(n) => *n == 0,
            ShiftRange::List(l) => l.is_empty() || l.iter().all(|&v| v == 0.0),
        }
    }

    /// Draws a shift in pixels for an image side of `side` pixels.
    pub fn draw(&self, side: usize, rng: &mut impl rand::Rng) -> f64 {
        let sign = |rng: &mut _| {
            if RngExt::random::<bool>(rng) {
                1.0
            } else {
                -1.0
            }
        };
        match self {
            ShiftRange::Float(f) => {
                let f = *f as f64;
                let t = rng.random_range(-f..=f);
                if f < 1.0 { t * side as f64 } else { t }
            }
            ShiftRange::Int(n) => {
                if *n == 0 {
                    return 0.0;
                }
                rng.random_range(0..*n) as f64 * sign(rng)
            }
            ShiftRange::List(l) => {
                if l.is_empty() {
                    return 0.0;
                }
                let v = l[rng.random_range(0..l.len())] as f64 * sign(rng);
                if l.iter().fold(f32::MIN, |m, &x| m.max(x)) < 1.0 {
                    v * side as f64
                } else {
                    v
                }
            }
        }
    }
}

/// The options of `ImageDataGenerator`, Keras defaults throughout (everything off).
#[derive(Clone, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Degrees: `theta ~ U(-r, r)`.
    pub rotation_range: f32,
    /// Horizontal shift.
    pub width_shift_range: ShiftRange,
    /// Vertical shift.
    pub height_shift_range: ShiftRange,
    /// Degrees: `shear ~ U(-s, s)`.
    pub shear_range: f32,
    /// `(lo, hi)`: `zx, zy ~ U(lo, hi)` drawn independently; Keras's float `z` is `(1 − z, 1 + z)`.
    pub zoom_range: (f32, f32),
    /// `i ~ U(-c, c)` added to every channel, clipped to the image's range.
    pub channel_shift_range: f32,
    /// How points outside the input are filled.
    pub fill_mode: FillMode,
    /// Fill value for [`FillMode::Constant`].
    pub cval: f32,
    /// Flip left-right with probability 0.5.
    pub horizontal_flip: bool,
    /// Not in Keras: with `horizontal_flip`, airbench's derandomised flip (Jordan 2024, arXiv
    /// 2404.00498, §3.6) in flows — each image is flipped at random in the first epoch and in
    /// every other epoch after that exactly when it was not in the one before, so every two
    /// epochs show each image both ways. Single images (`augment`) still flip at random.
    pub alternating_flip: bool,
    /// Flip top-bottom with probability 0.5.
    pub vertical_flip: bool,
    /// `(lo, hi)`: brightness factor `b ~ U(lo, hi)`.
    pub brightness_range: Option<(f32, f32)>,
    /// Multiply every pixel by this after augmentation (Keras `rescale`).
    pub rescale: Option<f32>,
    /// Subtract each image's mean.
    pub samplewise_center: bool,
    /// Divide each image by its standard deviation (+1e-6); implies centring.
    pub samplewise_std_normalization: bool,
    /// Subtract the per-channel dataset mean (computed by `fit`).
    pub featurewise_center: bool,
    /// Divide by the per-channel dataset std (+1e-6); implies centring.
    pub featurewise_std_normalization: bool,
    /// Spline order: 0 nearest, 1 bilinear (Keras's default).
    pub interpolation_order: u8,
    /// Fraction held out for `subset = Validation`, in (0, 1) when used.
    pub validation_split: f32,
    /// Which axes the matrix acts on: Keras 3's (the default, what Keras users get) or the
    /// documented ones.
    pub axes: Axes,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            rotation_range: 0.0,
            width_shift_range: ShiftRange::default(),
            height_shift_range: ShiftRange::default(),
            shear_range: 0.0,
            zoom_range: (1.0, 1.0),
            channel_shift_range: 0.0,
            fill_mode: FillMode::Nearest,
            cval: 0.0,
            horizontal_flip: false,
            alternating_flip: false,
            vertical_flip: false,
            brightness_range: None,
            rescale: None,
            samplewise_center: false,
            samplewise_std_normalization: false,
            featurewise_center: false,
            featurewise_std_normalization: false,
            interpolation_order: 1,
            validation_split: 0.0,
            axes: Axes::Keras,
        }
    }
}

impl AugmentConfig {
    /// Keras's float `zoom_range = z`, i.e. `(1 − z, 1 + z)`.
    pub fn zoom(z: f32) -> (f32, f32) {
        (1.0 - z, 1.0 + z)
    }

    /// Whether any geometric transform can happen.
    pub fn has_affine(&self) -> bool {
        self.rotation_range != 0.0
            || !self.width_shift_range.is_zero()
            || !self.height_shift_range.is_zero()
            || self.shear_range != 0.0
            || self.zoom_range != (1.0, 1.0)
    }
}

/// One image's transform, as Keras's `get_random_transform` returns it. `tx` (from the height
/// range) and `zx` act on the first axis of the matrix: columns with [`Axes::Keras`], rows with
/// [`Axes::Documented`]; `ty` and `zy` on the other.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformParams {
    /// Rotation in degrees.
    pub theta: f64,
    /// Shift drawn from `height_shift_range`, in pixels (pull mapping: content moves by −tx).
    pub tx: f64,
    /// Shift drawn from `width_shift_range`, in pixels.
    pub ty: f64,
    /// Shear in degrees.
    pub shear: f64,
    /// Zoom factor on the first axis (pull mapping: > 1 shrinks the content).
    pub zx: f64,
    /// Zoom factor on the second axis.
    pub zy: f64,
    /// Flip left-right.
    pub flip_horizontal: bool,
    /// Flip top-bottom.
    pub flip_vertical: bool,
    /// Intensity added to every channel.
    pub channel_shift_intensity: Option<f32>,
    /// Brightness factor.
    pub brightness: Option<f32>,
}

impl Default for TransformParams {
    fn default() -> Self {
        TransformParams {
            theta: 0.0,
            tx: 0.0,
            ty: 0.0,
            shear: 0.0,
            zx: 1.0,
            zy: 1.0,
            flip_horizontal: false,
            flip_vertical: false,
            channel_shift_intensity: None,
            brightness: None,
        }
    }
}

impl AugmentConfig {
    /// Draws one image's transform for an `h × w` image, in Keras's order (theta, tx from the
    /// height range, ty from the width range, shear, zx and zy, h-flip, v-flip, channel shift,
    /// brightness).
    pub fn draw(&self, h: usize, w: usize, rng: &mut impl rand::Rng) -> TransformParams {
        let mut p = TransformParams::default();
        if self.rotation_range != 0.0 {
            let r = self.rotation_range as f64;
            p.theta = rng.random_range(-r..=r);
        }
        // Keras scales the height range by the height and the width range by the width for
        // either `axes`; `axes` only changes which axis the matrix moves.
        let (h_side, w_side) = (h, w);
        if !self.height_shift_range.is_zero() {
            p.tx = self.height_shift_range.draw(h_side, rng);
        }
        if !self.width_shift_range.is_zero() {
            p.ty = self.width_shift_range.draw(w_side, rng);
        }
        if self.shear_range != 0.0 {
            let s = self.shear_range as f64;
            p.shear = rng.random_range(-s..=s);
        }
        let (lo, hi) = (self.zoom_range.0 as f64, self.zoom_range.1 as f64);
        if (lo, hi) != (1.0, 1.0) {
            p.zx = rng.random_range(lo..=hi);
            p.zy = rng.random_range(lo..=hi);
        }
        let fh: f64 = rng.random();
        let fv: f64 = rng.random();
        p.flip_horizontal = self.horizontal_flip && fh < 0.5;
        p.flip_vertical = self.vertical_flip && fv < 0.5;
        if self.channel_shift_range != 0.0 {
            let c = self.channel_shift_range;
            p.channel_shift_intensity = Some(rng.random_range(-c..=c));
        }
        if let Some((lo, hi)) = self.brightness_range {
            p.brightness = Some(rng.random_range(lo..=hi));
        }
        p
    }
}

//! The resolved shapes of one convolution, and the tiles of output pixels the im2col path
//! works on.

use crate::error::{Result, shape_err};
use crate::geometry::Window2d;

use super::Conv2dOptions;

/// The resolved shapes of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Batch size N.
    pub batch: usize,
    /// Input channels C.
    pub channels: usize,
    /// Filters F (output channels).
    pub filters: usize,
    /// The window geometry.
    pub window: Window2d,
}

impl Conv2dGeometry {
    /// Checks an input shape `[N, H, W, C]` against a kernel shape `[kh, kw, C, F]`.
    pub fn new(x: &[usize], w: &[usize], opts: &Conv2dOptions) -> Result<Self> {
        let [n, h, wd, c] = *x else {
            return Err(shape_err(
                "conv2d",
                format!("input must be rank 4 NHWC, got {x:?}"),
            ));
        };
        let [kh, kw, kc, f] = *w else {
            return Err(shape_err(
                "conv2d",
                format!("kernel must be rank 4 [kh, kw, in, out], got {w:?}"),
            ));
        };
        if kc != c {
            return Err(shape_err(
                "conv2d",
                format!("kernel {w:?} expects {kc} input channels but the input {x:?} has {c}"),
            ));
        }
        if f == 0 || c == 0 {
            return Err(shape_err(
                "conv2d",
                format!("zero channels or filters: input {x:?}, kernel {w:?}"),
            ));
        }
        let window = Window2d::new(
            "conv2d",
            (h, wd),
            (kh, kw),
            opts.strides,
            opts.dilation,
            opts.padding,
        )?;
        Ok(Conv2dGeometry {
            batch: n,
            channels: c,
            filters: f,
            window,
        })
    }

    /// The output shape `[N, OH, OW, F]`.
    pub fn output_dims(&self) -> [usize; 4] {
        [
            self.batch,
            self.window.out_h,
            self.window.out_w,
            self.filters,
        ]
    }

    /// Rows of the unfolded patch matrix: `kh·kw·C`.
    pub fn patch_len(&self) -> usize {
        self.window.k_h * self.window.k_w * self.channels
    }

    pub(crate) fn pixels_out(&self) -> usize {
        self.window.out_h * self.window.out_w
    }

    pub(crate) fn pixels_in(&self) -> usize {
        self.window.in_h * self.window.in_w
    }

    /// A 1x1 kernel with stride 1 and no padding: the input pixels are the patches.
    pub(crate) fn is_pointwise(&self) -> bool {
        let g = &self.window;
        g.k_h == 1
            && g.k_w == 1
            && g.stride_h == 1
            && g.stride_w == 1
            && g.pad_top + g.pad_bottom + g.pad_left + g.pad_right == 0
    }

    /// Multiply-adds of the forward pass.
    pub fn macs(&self) -> u64 {
        (self.batch as u64)
            .saturating_mul(self.pixels_out() as u64)
            .saturating_mul(self.patch_len() as u64)
            .saturating_mul(self.filters as u64)
    }

    /// Splits every sample's output pixels into tiles whose patch matrix fits the budget.
    pub(crate) fn tiles(&self) -> Vec<Tile> {
        const TILE_FLOATS: usize = 1 << 16;
        let p = self.pixels_out();
        let rows = (TILE_FLOATS / self.patch_len().max(1))
            .clamp(16, 4096)
            .min(p);
        let mut tiles = Vec::new();
        for n in 0..self.batch {
            let mut p0 = 0;
            while p0 < p {
                let p1 = (p0 + rows).min(p);
                tiles.push(Tile { n, p0, p1 });
                p0 = p1;
            }
        }
        tiles
    }
}

/// A range `[p0, p1)` of output pixels of sample `n`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tile {
    pub n: usize,
    pub p0: usize,
    pub p1: usize,
}

impl Tile {
    pub(crate) fn rows(&self) -> usize {
        self.p1 - self.p0
    }
}

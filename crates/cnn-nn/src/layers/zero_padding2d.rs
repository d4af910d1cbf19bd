//! `ZeroPadding2D`: rows and columns of zeros around each image (ResNet-50's stem, MobileNetV2's
//! strided blocks).

use cnn_ops::{Pad2d, Var};
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType, shape_str};
use crate::error::Result;

/// Keras's `padding` argument: `1` (all sides), `[1, 2]` (rows, columns, each on both sides) or
/// `[[0, 1], [0, 1]]` (`[[top, bottom], [left, right]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "PaddingRepr", into = "PaddingRepr")]
pub struct Padding2 {
    /// Rows above and below.
    pub rows: (usize, usize),
    /// Columns left and right.
    pub cols: (usize, usize),
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
enum PaddingRepr {
    All(usize),
    Symmetric([usize; 2]),
    Sides([[usize; 2]; 2]),
}

impl From<PaddingRepr> for Padding2 {
    fn from(r: PaddingRepr) -> Self {
        match r {
            PaddingRepr::All(p) => Padding2 {
                rows: (p, p),
                cols: (p, p),
            },
            PaddingRepr::Symmetric([r, c]) => Padding2 {
                rows: (r, r),
                cols: (c, c),
            },
            PaddingRepr::Sides([[t, b], [l, r]]) => Padding2 {
                rows: (t, b),
                cols: (l, r),
            },
        }
    }
}

impl From<Padding2> for PaddingRepr {
    fn from(p: Padding2) -> Self {
        let (rows, cols) = (p.rows, p.cols);
        if rows.0 == rows.1 && cols.0 == cols.1 {
            if rows.0 == cols.0 {
                PaddingRepr::All(rows.0)
            } else {
                PaddingRepr::Symmetric([rows.0, cols.0])
            }
        } else {
            PaddingRepr::Sides([[rows.0, rows.1], [cols.0, cols.1]])
        }
    }
}

fn one_all() -> Padding2 {
    Padding2 {
        rows: (1, 1),
        cols: (1, 1),
    }
}

/// `ZeroPadding2D(padding=1)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroPadding2D {
    /// How many rows and columns of zeros go on each side.
    #[serde(default = "one_all")]
    pub padding: Padding2,
}

impl ZeroPadding2D {
    /// `ZeroPadding2D(((top, bottom), (left, right)))`.
    pub fn new(rows: (usize, usize), cols: (usize, usize)) -> Self {
        ZeroPadding2D {
            padding: Padding2 { rows, cols },
        }
    }

    /// The padding as the kernels take it.
    pub(crate) fn pad(&self) -> Pad2d {
        Pad2d {
            rows: self.padding.rows,
            cols: self.padding.cols,
        }
    }
}

impl LayerType for ZeroPadding2D {
    const PREFIX: &'static str = "zero_padding2d";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        let (h, w, c) = b.image()?;
        let (oh, ow) = self.pad().output_size(h, w).ok_or_else(|| {
            b.err(format!(
                "padding {:?} overflows on input {}",
                self.padding,
                shape_str(b.input())
            ))
        })?;
        Ok(Built::shape(vec![oh, ow, c]))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        if cx.pad_into_next {
            return Ok(x[0]);
        }
        Ok(cx.g.zero_pad2d(x[0], &self.pad())?)
    }
}

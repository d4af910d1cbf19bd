//! Image grids and contact sheets: tiles in rows, each with an optional caption, scaled up by
//! whole pixels (nearest neighbour, so small images stay sharp), with margins and a title.

use image::{Rgb, RgbImage, imageops};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Result, VizError, draw_err};
use crate::font::{self, FAMILY};

const WHAT: &str = "image grid";
/// The largest grid drawn, in pixels per side.
const MAX_SIDE: u64 = 16_384;

/// One picture in a grid.
#[derive(Clone, Debug)]
pub struct Tile {
    /// The picture.
    pub image: RgbImage,
    /// Text under it (empty for none).
    pub caption: String,
    /// The caption's colour.
    pub caption_color: [u8; 3],
}

impl Tile {
    /// A tile from an HxWxC `f32` image (C = 1 grey or 3 RGB), mapping `[lo, hi]` to 0–255.
    pub fn from_f32(data: &[f32], h: usize, w: usize, c: usize, lo: f32, hi: f32) -> Result<Tile> {
        if !(c == 1 || c == 3) || h * w * c != data.len() || h == 0 || w == 0 {
            return Err(VizError::Input {
                what: WHAT.into(),
                why: format!(
                    "{} values are not a {h}x{w}x{c} image (1 or 3 channels)",
                    data.len()
                ),
            });
        }
        let span = if hi > lo { hi - lo } else { 1.0 };
        let to_u8 = |v: f32| {
            let t = (v - lo) / span;
            if t.is_nan() {
                0
            } else {
                (t.clamp(0.0, 1.0) * 255.0).round() as u8
            }
        };
        let image = RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let i = (y as usize * w + x as usize) * c;
            if c == 1 {
                let g = to_u8(data[i]);
                Rgb([g, g, g])
            } else {
                Rgb([to_u8(data[i]), to_u8(data[i + 1]), to_u8(data[i + 2])])
            }
        });
        Ok(Tile {
            image,
            caption: String::new(),
            caption_color: [0, 0, 0],
        })
    }

    /// The same tile with a caption in a colour.
    pub fn captioned(mut self, caption: impl Into<String>, color: [u8; 3]) -> Tile {
        self.caption = caption.into();
        self.caption_color = color;
        self
    }
}

/// How a grid is laid out.
#[derive(Clone, Debug)]
pub struct GridOptions {
    /// Tiles per row.
    pub columns: usize,
    /// Whole-pixel upscaling of every tile.
    pub scale: u32,
    /// Pixels between tiles and around the grid.
    pub margin: u32,
    /// Height reserved under each tile for its caption (0 for none).
    pub caption_height: u32,
    /// A title above the grid (black on light backgrounds, white on dark ones).
    pub title: Option<String>,
    /// The background colour.
    pub background: [u8; 3],
}

impl Default for GridOptions {
    fn default() -> Self {
        GridOptions {
            columns: 8,
            scale: 1,
            margin: 4,
            caption_height: 0,
            title: None,
            background: [255, 255, 255],
        }
    }
}

const TITLE_HEIGHT: u32 = 34;

/// Lays `tiles` out in rows of `opts.columns`. Every cell is as large as the largest tile;
/// smaller tiles sit in their cell's top-left corner.
pub fn image_grid(tiles: &[Tile], opts: &GridOptions) -> Result<RgbImage> {
    if tiles.is_empty() || opts.columns == 0 || opts.scale == 0 {
        return Err(VizError::Input {
            what: WHAT.into(),
            why: "needs at least one tile, one column and a scale of at least 1".into(),
        });
    }
    let cell_w =
        tiles.iter().map(|t| t.image.width()).max().unwrap_or(1) as u64 * opts.scale as u64;
    let cell_h =
        tiles.iter().map(|t| t.image.height()).max().unwrap_or(1) as u64 * opts.scale as u64;
    let cols = opts.columns.min(tiles.len()) as u64;
    let rows = tiles.len().div_ceil(opts.columns) as u64;
    let m = opts.margin as u64;
    let title_h = if opts.title.is_some() {
        TITLE_HEIGHT as u64
    } else {
        0
    };
    let step_y = cell_h + opts.caption_height as u64 + m;
    let w = m + cols * (cell_w + m);
    let h = title_h + m + rows * step_y;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(VizError::Input {
            what: WHAT.into(),
            why: format!(
                "{w}x{h} pixels is larger than {MAX_SIDE} per side; use fewer tiles or a smaller scale"
            ),
        });
    }
    let (w, h) = (w as u32, h as u32);
    let mut img = RgbImage::from_pixel(w, h, Rgb(opts.background));
    for (n, t) in tiles.iter().enumerate() {
        let (x, y) = cell_origin(n, opts, cell_w as u32, cell_h as u32, title_h as u32);
        let scaled = if opts.scale == 1 {
            t.image.clone()
        } else {
            imageops::resize(
                &t.image,
                t.image.width() * opts.scale,
                t.image.height() * opts.scale,
                imageops::FilterType::Nearest,
            )
        };
        imageops::replace(&mut img, &scaled, x as i64, y as i64);
    }
    let has_text = opts.title.is_some()
        || (opts.caption_height > 0 && tiles.iter().any(|t| !t.caption.is_empty()));
    if !has_text {
        return Ok(img);
    }
    font::ensure();
    let mut buf = img.into_raw();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        if let Some(title) = &opts.title {
            root.draw(&Text::new(
                title.clone(),
                (w as i32 / 2, 8),
                (FAMILY, 18)
                    .into_font()
                    .color(&{
                        let [r, g, b] = crate::colormap::text_on(opts.background);
                        RGBColor(r, g, b)
                    })
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(draw_err(WHAT))?;
        }
        if opts.caption_height > 0 {
            let size = (opts.caption_height * 3 / 4).clamp(8, 18);
            for (n, t) in tiles
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.caption.is_empty())
            {
                let (x, y) = cell_origin(n, opts, cell_w as u32, cell_h as u32, title_h as u32);
                let c = t.caption_color;
                root.draw(&Text::new(
                    t.caption.clone(),
                    (x as i32 + cell_w as i32 / 2, (y + cell_h as u32 + 2) as i32),
                    (FAMILY, size)
                        .into_font()
                        .color(&RGBColor(c[0], c[1], c[2]))
                        .pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(draw_err(WHAT))?;
            }
        }
        root.present().map_err(draw_err(WHAT))?;
    }
    Ok(RgbImage::from_raw(w, h, buf).expect("buffer sized w*h*3"))
}

/// The top-left pixel of tile `n`'s cell.
fn cell_origin(n: usize, opts: &GridOptions, cell_w: u32, cell_h: u32, title_h: u32) -> (u32, u32) {
    let (r, c) = ((n / opts.columns) as u32, (n % opts.columns) as u32);
    let m = opts.margin;
    (
        m + c * (cell_w + m),
        title_h + m + r * (cell_h + opts.caption_height + m),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, v: u8) -> Tile {
        Tile {
            image: RgbImage::from_pixel(w, h, Rgb([v, 0, 0])),
            caption: String::new(),
            caption_color: [0, 0, 0],
        }
    }

    #[test]
    fn layout_sizes_margins_and_placement() {
        let tiles: Vec<Tile> = (0..5).map(|i| solid(3, 2, 10 + i)).collect();
        let opts = GridOptions {
            columns: 2,
            scale: 2,
            margin: 1,
            ..Default::default()
        };
        let img = image_grid(&tiles, &opts).unwrap();
        // 2 columns of 6 px + 3 margins; 3 rows of 4 px + 4 margins.
        assert_eq!(img.dimensions(), (2 * 6 + 3, 3 * 4 + 4));
        // Margin pixels stay background.
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
        // Tile 3 is row 1, column 1: origin (1 + 7, 1 + 5); its scaled pixels fill 6x4.
        assert_eq!(img.get_pixel(8, 6).0, [13, 0, 0]);
        assert_eq!(img.get_pixel(13, 9).0, [13, 0, 0]);
        assert_eq!(img.get_pixel(14, 9).0, [255, 255, 255]);
        // The empty sixth cell is background.
        assert_eq!(img.get_pixel(8, 11).0, [255, 255, 255]);
    }

    #[test]
    fn captions_and_title_reserve_space_and_draw_text() {
        let tiles: Vec<Tile> = (0..2)
            .map(|i| solid(10, 10, 0).captioned(format!("{i}"), [0, 0, 255]))
            .collect();
        let opts = GridOptions {
            columns: 2,
            margin: 2,
            caption_height: 16,
            title: Some("T".into()),
            ..Default::default()
        };
        let img = image_grid(&tiles, &opts).unwrap();
        assert_eq!(
            img.dimensions(),
            (2 + 2 * 12, TITLE_HEIGHT + 2 + 10 + 16 + 2)
        );
        let blue = img
            .pixels()
            .filter(|p| p.0[2] > 150 && p.0[0] < 100)
            .count();
        assert!(blue > 3, "captions drawn in their colour");
    }

    #[test]
    fn from_f32_maps_the_range_and_checks_the_shape() {
        let t = Tile::from_f32(&[0.0, 0.5, 1.0, 2.0], 2, 2, 1, 0.0, 1.0).unwrap();
        assert_eq!(t.image.get_pixel(1, 0).0, [128, 128, 128]);
        assert_eq!(t.image.get_pixel(1, 1).0, [255, 255, 255]);
        assert!(Tile::from_f32(&[0.0; 5], 2, 2, 1, 0.0, 1.0).is_err());
        assert!(Tile::from_f32(&[0.0; 8], 2, 2, 2, 0.0, 1.0).is_err());
    }

    #[test]
    fn absurd_grids_are_refused() {
        let tiles = vec![solid(1000, 1000, 1); 4];
        let opts = GridOptions {
            columns: 4,
            scale: 8,
            ..Default::default()
        };
        assert!(image_grid(&tiles, &opts).is_err());
        assert!(image_grid(&[], &GridOptions::default()).is_err());
    }
}

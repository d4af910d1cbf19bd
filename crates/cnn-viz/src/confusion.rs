//! The confusion matrix as a labelled heat map: rows are true classes, columns predictions,
//! each cell shows its count and is shaded by its share of the row (the class's recall in the
//! diagonal), with each class's accuracy at the end of its row.

use cnn_nn::ConfusionMatrix;
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colormap::{blues, text_on};
use crate::error::{Result, VizError, draw_err};
use crate::font::{self, FAMILY};

const WHAT: &str = "confusion matrix";
const CELL: i32 = 58;
const MAX_CLASSES: usize = 100;

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Draws `cm` with `names` for the classes (numbers where a name is missing) and `title`.
pub fn confusion_chart(cm: &ConfusionMatrix, names: &[String], title: &str) -> Result<RgbImage> {
    let k = cm.counts.len();
    if k == 0 || k > MAX_CLASSES || cm.counts.iter().any(|r| r.len() != k) {
        return Err(VizError::Input {
            what: WHAT.into(),
            why: format!("needs a square matrix of 1 to {MAX_CLASSES} classes"),
        });
    }
    font::ensure();
    let label = |i: usize| {
        format!(
            "[{i}] {}",
            names.get(i).map(String::as_str).unwrap_or_default()
        )
    };
    let label_font = (FAMILY, 15).into_font();
    let widest = (0..k)
        .map(|i| {
            label_font
                .box_size(&label(i))
                .map(|(w, _)| w as i32)
                .unwrap_or(8 * label(i).len() as i32)
        })
        .max()
        .unwrap_or(40);
    let left = widest + 24;
    let top = 92;
    let right = 96;
    let bottom = 20;
    let (w, h) = (
        (left + CELL * k as i32 + right) as u32,
        (top + CELL * k as i32 + bottom) as u32,
    );
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err(WHAT))?;
        let centre = |hp, vp| Pos::new(hp, vp);
        let text = |s: &str, size: u32, colour: RGBColor, at: (i32, i32), pos: Pos| {
            root.draw(&Text::new(
                s.to_string(),
                at,
                (FAMILY, size).into_font().color(&colour).pos(pos),
            ))
            .map_err(draw_err(WHAT))
        };
        text(
            title,
            20,
            BLACK,
            (w as i32 / 2, 14),
            centre(HPos::Center, VPos::Top),
        )?;
        text(
            "predicted class →",
            15,
            BLACK,
            (left + CELL * k as i32 / 2, 46),
            centre(HPos::Center, VPos::Top),
        )?;
        text(
            "true class ↓",
            15,
            BLACK,
            (12, 46),
            centre(HPos::Left, VPos::Top),
        )?;
        text(
            "accuracy",
            15,
            BLACK,
            (left + CELL * k as i32 + right / 2, top - 8),
            centre(HPos::Center, VPos::Bottom),
        )?;
        let per_class = cm.per_class_accuracy();
        for (i, row) in cm.counts.iter().enumerate() {
            let y = top + CELL * i as i32;
            let total: u64 = row.iter().sum();
            text(
                &label(i),
                15,
                BLACK,
                (left - 10, y + CELL / 2),
                centre(HPos::Right, VPos::Center),
            )?;
            text(
                &format!("[{i}]"),
                15,
                BLACK,
                (left + CELL * i as i32 + CELL / 2, top - 8),
                centre(HPos::Center, VPos::Bottom),
            )?;
            for (j, &c) in row.iter().enumerate() {
                let x = left + CELL * j as i32;
                let share = if total == 0 {
                    0.0
                } else {
                    c as f32 / total as f32
                };
                let bg = blues(share);
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    rgb(bg).filled(),
                ))
                .map_err(draw_err(WHAT))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    RGBColor(210, 210, 210).stroke_width(1),
                ))
                .map_err(draw_err(WHAT))?;
                if c > 0 {
                    text(
                        &c.to_string(),
                        14,
                        rgb(text_on(bg)),
                        (x + CELL / 2, y + CELL / 2),
                        centre(HPos::Center, VPos::Center),
                    )?;
                }
            }
            let acc = per_class[i];
            let acc = if acc.is_nan() {
                "–".to_string()
            } else {
                format!("{:.1}%", acc * 100.0)
            };
            text(
                &acc,
                15,
                BLACK,
                (left + CELL * k as i32 + right / 2, y + CELL / 2),
                centre(HPos::Center, VPos::Center),
            )?;
        }
        root.present().map_err(draw_err(WHAT))?;
    }
    Ok(RgbImage::from_raw(w, h, buf).expect("buffer sized w*h*3"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm() -> ConfusionMatrix {
        ConfusionMatrix {
            counts: vec![vec![90, 10, 0], vec![5, 95, 0], vec![0, 0, 0]],
        }
    }

    #[test]
    fn cells_are_shaded_by_row_share() {
        let names = vec!["cat".to_string(), "dog".to_string(), "bird".to_string()];
        let img = confusion_chart(&cm(), &names, "t").unwrap();
        let (w, h) = img.dimensions();
        assert_eq!(h, 92 + 3 * CELL as u32 + 20);
        // Cell (0,0) holds 90 % of its row; sample near its corner (away from the text).
        let left = w as i32 - 96 - 3 * CELL;
        let px = |i: i32, j: i32| {
            img.get_pixel((left + CELL * j + 4) as u32, (92 + CELL * i + 4) as u32)
                .0
        };
        assert_eq!(px(0, 0), blues(0.9));
        assert_eq!(px(0, 1), blues(0.1));
        assert_eq!(px(1, 1), blues(0.95));
        // An empty row is white, not NaN-coloured.
        assert_eq!(px(2, 2), blues(0.0));
    }

    #[test]
    fn non_square_or_empty_is_an_error() {
        let bad = ConfusionMatrix {
            counts: vec![vec![1, 2]],
        };
        assert!(confusion_chart(&bad, &[], "t").is_err());
        let empty = ConfusionMatrix { counts: vec![] };
        assert!(confusion_chart(&empty, &[], "t").is_err());
    }
}

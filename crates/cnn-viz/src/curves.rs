//! Training curves: loss and accuracy per epoch, training and validation, side by side —
//! Chollet's two plots (training as dots, validation as a line) in one picture.

use cnn_nn::History;
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Result, VizError, draw_err};
use crate::font::{self, FAMILY};

const WHAT: &str = "training curves";
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VAL: RGBColor = RGBColor(255, 127, 14);

/// Draws `history` as two panels (loss, accuracy) with `title` on top. Validation curves are
/// drawn when the history has them; non-finite values are left out.
pub fn history_chart(history: &History, title: &str) -> Result<RgbImage> {
    let n = history.epoch.len();
    if n == 0 {
        return Err(VizError::Input {
            what: WHAT.into(),
            why: "the history has no epochs".into(),
        });
    }
    font::ensure();
    let (w, h) = (1100u32, 440u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err(WHAT))?;
        let (title, size) = fit_title(&root, title, w - 20)?;
        let root = root
            .titled(&title, (FAMILY, size))
            .map_err(draw_err(WHAT))?;
        let panels = root.split_evenly((1, 2));
        let epochs: Vec<f64> = history.epoch.iter().map(|&e| e as f64).collect();
        panel(
            &panels[0],
            "Loss",
            &epochs,
            &history.loss,
            &history.val_loss,
        )?;
        panel(
            &panels[1],
            "Accuracy",
            &epochs,
            &history.accuracy,
            &history.val_accuracy,
        )?;
        root.present().map_err(draw_err(WHAT))?;
    }
    Ok(RgbImage::from_raw(w, h, buf).expect("buffer sized w*h*3"))
}

fn points(epochs: &[f64], values: &[f32]) -> Vec<(f64, f64)> {
    epochs
        .iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite())
        .map(|(&e, &v)| (e, v as f64))
        .collect()
}

/// The title at the largest font size from 22 down to 12 pixels that fits `width` pixels, and
/// shortened in the middle with "…" when it does not fit even at 12 (a long data path would
/// otherwise run off both edges of the picture).
fn fit_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    width: u32,
) -> Result<(String, u32)> {
    let fits = |t: &str, size: u32| -> Result<bool> {
        let (tw, _) = area
            .estimate_text_size(t, &(FAMILY, size).into_font().into_text_style(area))
            .map_err(draw_err(WHAT))?;
        Ok(tw <= width)
    };
    for size in (12..=22).rev().step_by(2) {
        if fits(title, size)? {
            return Ok((title.to_string(), size));
        }
    }
    let chars: Vec<char> = title.chars().collect();
    let mut keep = chars.len();
    while keep > 2 {
        keep -= 1;
        let (head, tail) = (keep.div_ceil(2), keep / 2);
        let short: String = chars[..head]
            .iter()
            .chain(std::iter::once(&'…'))
            .chain(&chars[chars.len() - tail..])
            .collect();
        if fits(&short, 12)? {
            return Ok((short, 12));
        }
    }
    Ok(("…".into(), 12))
}

/// The y range of all finite values with a 5 % margin (a unit range around a constant).
fn y_range(series: &[&[(f64, f64)]]) -> (f64, f64) {
    let ys = series.iter().flat_map(|s| s.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    name: &str,
    epochs: &[f64],
    train: &[f32],
    val: &[f32],
) -> Result<()> {
    let t = points(epochs, train);
    let v = points(epochs, val);
    let (y0, y1) = y_range(&[&t, &v]);
    let (x0, x1) = (epochs[0], *epochs.last().unwrap_or(&epochs[0]));
    let (x0, x1) = if x1 > x0 {
        (x0 - 0.2, x1 + 0.2)
    } else {
        (x0 - 1.0, x0 + 1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Training and validation {}", name.to_lowercase()),
            (FAMILY, 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_err(WHAT))?;
    let last = epochs.last().copied().unwrap_or(1.0) as usize;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(name)
        .x_labels(last.clamp(2, 12))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .light_line_style(WHITE)
        .draw()
        .map_err(draw_err(WHAT))?;
    chart
        .draw_series(LineSeries::new(t.iter().copied(), TRAIN.stroke_width(1)))
        .map_err(draw_err(WHAT))?;
    chart
        .draw_series(t.iter().map(|&p| Circle::new(p, 4, TRAIN.filled())))
        .map_err(draw_err(WHAT))?
        .label("training")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, TRAIN.filled()));
    if !v.is_empty() {
        chart
            .draw_series(LineSeries::new(v.iter().copied(), VAL.stroke_width(3)))
            .map_err(draw_err(WHAT))?
            .label("validation")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], VAL.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(if name == "Loss" {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .draw()
        .map_err(draw_err(WHAT))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(n: usize, with_val: bool) -> History {
        let mut h = History::default();
        for e in 1..=n {
            h.epoch.push(e);
            h.loss.push(1.0 / e as f32);
            h.accuracy.push(1.0 - 0.5 / e as f32);
            if with_val {
                h.val_loss.push(1.2 / e as f32);
                h.val_accuracy.push(1.0 - 0.6 / e as f32);
            }
            h.learning_rate.push(1e-3);
            h.seconds.push(1.0);
            h.samples_per_second.push(100.0);
        }
        h
    }

    fn count(img: &RgbImage, c: RGBColor) -> usize {
        img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count()
    }

    #[test]
    fn a_long_title_is_shrunk_then_shortened_to_fit() {
        font::ensure();
        let mut buf = vec![255u8; 400 * 50 * 3];
        let area = BitMapBackend::with_buffer(&mut buf, (400, 50)).into_drawing_area();
        let width = |t: &str, size: u32| {
            area.estimate_text_size(t, &(FAMILY, size).into_font().into_text_style(&area))
                .unwrap()
                .0
        };
        let (t, size) = fit_title(&area, "short", 380).unwrap();
        assert_eq!((t.as_str(), size), ("short", 22));
        let medium = "augmented (cifar-cnn) on CIFAR-10 JPEG folders";
        assert!(width(medium, 22) > 380, "the case must need shrinking");
        let (t, size) = fit_title(&area, medium, 380).unwrap();
        assert!(
            size < 22 && t == medium && width(&t, size) <= 380,
            "{size} {t}"
        );
        let long = format!("augmented (cifar-cnn) on {}", "/very/long/path".repeat(12));
        let (t, size) = fit_title(&area, &long, 380).unwrap();
        assert_eq!(size, 12);
        assert!(
            t.starts_with("augmented (") && t.contains('…') && t.ends_with("path"),
            "{t}"
        );
        assert!(width(&t, 12) <= 380);
    }

    #[test]
    fn draws_both_series_when_validation_exists() {
        let img = history_chart(&history(10, true), "t").unwrap();
        assert_eq!(img.dimensions(), (1100, 440));
        assert!(count(&img, TRAIN) > 200, "training dots drawn");
        assert!(count(&img, VAL) > 200, "validation line drawn");
        // Text was rendered: some dark, non-series pixels exist.
        assert!(img.pixels().filter(|p| p.0 == [0, 0, 0]).count() > 100);
    }

    #[test]
    fn no_validation_no_orange() {
        let img = history_chart(&history(3, false), "t").unwrap();
        assert!(count(&img, TRAIN) > 50);
        assert_eq!(count(&img, VAL), 0);
    }

    #[test]
    fn single_epoch_and_nan_values_draw() {
        let mut h = history(1, true);
        h.val_loss[0] = f32::NAN;
        history_chart(&h, "one").unwrap();
    }

    #[test]
    fn empty_history_is_an_error() {
        assert!(history_chart(&History::default(), "t").is_err());
    }
}

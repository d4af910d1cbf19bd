//! Colormaps from a value in `[0, 1]` to an RGB colour. Values outside are clamped and `NaN`
//! maps to the low end, so a degenerate input never produces garbage pixels.

use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};

fn unit(t: f32) -> f32 {
    if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) }
}

/// matplotlib's default `viridis` (dark purple → blue → green → yellow), as plotters defines it.
pub fn viridis(t: f32) -> [u8; 3] {
    let c = ViridisRGB.get_color(unit(t));
    [c.0, c.1, c.2]
}

/// The classic `jet` (dark blue → cyan → yellow → dark red), as used by Grad-CAM overlays:
/// each channel is a clipped tent, `clip(1.5 − |4t − k|)` with k = 3, 2, 1 for red, green, blue.
pub fn jet(t: f32) -> [u8; 3] {
    let t = unit(t);
    let ch = |k: f32| ((1.5 - (4.0 * t - k).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
    [ch(3.0), ch(2.0), ch(1.0)]
}

/// A white → dark blue ramp (matplotlib's `Blues`, linearised), for heat maps of counts.
pub fn blues(t: f32) -> [u8; 3] {
    let t = unit(t);
    let lo = [247.0, 251.0, 255.0];
    let hi = [8.0, 48.0, 107.0];
    let mix = |i: usize| (lo[i] + (hi[i] - lo[i]) * t).round() as u8;
    [mix(0), mix(1), mix(2)]
}

/// Black or white, whichever reads better on `bg` (by perceived luminance).
pub fn text_on(bg: [u8; 3]) -> [u8; 3] {
    let l = 0.299 * bg[0] as f32 + 0.587 * bg[1] as f32 + 0.114 * bg[2] as f32;
    if l < 140.0 {
        [255, 255, 255]
    } else {
        [0, 0, 0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_are_matplotlibs() {
        assert_eq!(viridis(0.0), [68, 1, 84]);
        assert_eq!(viridis(1.0), [254, 232, 37]);
        // Monotonic in brightness, as viridis is designed to be.
        let lum = |c: [u8; 3]| c.iter().map(|&v| v as u32).sum::<u32>();
        let mut last = 0;
        for i in 0..=20 {
            let l = lum(viridis(i as f32 / 20.0));
            assert!(l + 2 >= last, "step {i}: {l} < {last}");
            last = l;
        }
    }

    #[test]
    fn jet_goes_blue_cyan_yellow_red() {
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(0.375), [0, 255, 255]);
        assert_eq!(jet(0.5), [128, 255, 128]);
        assert_eq!(jet(1.0), [128, 0, 0]);
    }

    #[test]
    fn out_of_range_and_nan_are_clamped() {
        assert_eq!(viridis(-3.0), viridis(0.0));
        assert_eq!(viridis(f32::NAN), viridis(0.0));
        assert_eq!(jet(7.0), jet(1.0));
        assert_eq!(blues(2.0), [8, 48, 107]);
    }

    #[test]
    fn text_colour_contrasts() {
        assert_eq!(text_on(blues(1.0)), [255, 255, 255]);
        assert_eq!(text_on(blues(0.0)), [0, 0, 0]);
    }
}

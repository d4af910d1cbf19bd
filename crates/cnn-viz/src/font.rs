//! The bundled font (DejaVu Sans, Bitstream Vera licence in `fonts/DejaVu-LICENSE.txt`),
//! registered with plotters once so charts look the same on every machine.

use std::sync::Once;

use plotters::style::FontStyle;

static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// The family name charts use.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the bundled font under [`FAMILY`] for every style (idempotent).
pub(crate) fn ensure() {
    REGISTER.call_once(|| {
        for style in [
            FontStyle::Normal,
            FontStyle::Bold,
            FontStyle::Italic,
            FontStyle::Oblique,
        ] {
            // The bytes are a known-good TrueType file compiled into the crate.
            let _ = plotters::style::register_font(FAMILY, style, DEJAVU_SANS);
        }
    });
}

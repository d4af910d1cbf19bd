//! PNG encoding and atomic saving.

use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, RgbImage};

use crate::error::{Result, VizError};

/// Encodes an RGB image as PNG bytes.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| VizError::Draw {
            what: "PNG".into(),
            why: e.to_string(),
        })?;
    Ok(out.into_inner())
}

/// Writes `img` as a PNG file atomically: a crash or a full disk leaves the previous file
/// intact and no temporary file behind.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let bytes = encode_png(img)?;
    cnn_tensor::io::write_atomic(path, &bytes).map_err(|e| VizError::Write {
        path: path.to_path_buf(),
        why: match e {
            cnn_tensor::TensorError::Io { source, .. } => source.to_string(),
            e => e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_png_decodes_to_the_same_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        let mut img = RgbImage::new(3, 2);
        img.put_pixel(2, 1, image::Rgb([1, 2, 3]));
        save_png(&img, &p).unwrap();
        let back = image::open(&p).unwrap().to_rgb8();
        assert_eq!(back, img);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn unwritable_directory_is_an_error_naming_the_file() {
        let err = save_png(&RgbImage::new(1, 1), Path::new("/nonexistent-dir/x.png")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.png"), "{err}");
    }
}

//! Test pictures: real PNG files of a given size, as a phone or a screenshot tool would send.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

/// A PNG of `width` × `height` pixels: a gradient with a red square in the top left corner,
/// so a scaled copy can still be told apart from another picture.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = RgbImage::from_fn(width, height, |x, y| {
        if x < width / 4 && y < height / 4 {
            Rgb([220, 20, 20])
        } else {
            Rgb([(x * 255 / width.max(1)) as u8, (y * 255 / height.max(1)) as u8, 160])
        }
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(picture).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).expect("encode a PNG");
    out
}

/// The width and height of an encoded image, `None` if it is not one.
pub fn size_of(bytes: &[u8]) -> Option<(u32, u32)> {
    let picture = image::load_from_memory(bytes).ok()?;
    Some((picture.width(), picture.height()))
}

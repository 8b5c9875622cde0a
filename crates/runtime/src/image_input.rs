//! Images shown to a brain: the bytes fetched from the platform, decoded (JPEG, PNG, WebP,
//! GIF; the first frame of an animation), downscaled so that neither side passes
//! [`MAX_IMAGE_SIDE`] and the whole stays under [`MAX_IMAGE_PIXELS_SENT`], and re-encoded
//! as JPEG, which both model APIs take inline (base64).

use std::io::Cursor;
use std::sync::Arc;

use base64::Engine;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

/// The longest side sent, in pixels (what Anthropic recommends; OpenAI scales to 2048 anyway).
pub const MAX_IMAGE_SIDE: u32 = 1568;
/// The most pixels sent (about 1.15 megapixels: Anthropic's limit before it scales itself).
pub const MAX_IMAGE_PIXELS_SENT: u64 = 1_150_000;
/// The largest picture decoded, in pixels on each side (a decompression bomb is refused).
const MAX_DECODED_SIDE: u32 = 12_000;
/// The most memory the decoder may take: a 48-megapixel photo with transparency (192 MB) fits.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// JPEG quality of the image sent.
const JPEG_QUALITY: u8 = 85;

/// An image ready for a model.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageInput {
    /// Always `image/jpeg`.
    pub mime_type: &'static str,
    /// The JPEG bytes.
    pub data: Arc<Vec<u8>>,
    /// Its width, in pixels.
    pub width: u32,
    /// Its height, in pixels.
    pub height: u32,
}

impl std::fmt::Debug for ImageInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageInput")
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.data.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl ImageInput {
    /// The bytes in standard base64, as both APIs take them.
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.data.as_slice())
    }

    /// A `data:` URL of the image (OpenAI's `image_url`).
    pub fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.mime_type, self.base64())
    }
}

/// Why an image could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Not an image format read here, or broken.
    #[error("not a readable image: {0}")]
    Unreadable(String),
    /// Larger than [`MAX_DECODED_SIDE`] on a side, or needing too much memory.
    #[error("the image is too large to read")]
    TooLarge,
}

/// One image decoded at a time, so a burst of large pictures holds at most one decoder's
/// memory ([`MAX_DECODE_BYTES`]) however many chats send them.
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// [`prepare`] on a blocking thread, one image at a time.
pub async fn prepare_off_thread(bytes: Vec<u8>) -> Result<ImageInput, ImageError> {
    let _turn = DECODING.acquire().await.map_err(|_| ImageError::Unreadable("shutting down".into()))?;
    match tokio::task::spawn_blocking(move || prepare(&bytes)).await {
        Ok(prepared) => prepared,
        Err(err) => Err(ImageError::Unreadable(format!("the decoding task failed: {err}"))),
    }
}

/// Decodes `bytes` (its format guessed from its content), turns it upright as its EXIF
/// orientation says (phone photos are often stored sideways), scales it down to the limits
/// and encodes it as JPEG.
pub fn prepare(bytes: &[u8]) -> Result<ImageInput, ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Unreadable(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let failed = |err: image::ImageError| match err {
        image::ImageError::Limits(_) => ImageError::TooLarge,
        other => ImageError::Unreadable(other.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(failed)?;
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(ImageError::TooLarge);
    }
    // A broken orientation tag is no reason to refuse the picture: it is shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut decoded = DynamicImage::from_decoder(decoder).map_err(failed)?;
    decoded.apply_orientation(orientation);
    let (width, height) = fitted(decoded.width(), decoded.height());
    let scaled = if (width, height) == (decoded.width(), decoded.height()) {
        decoded
    } else {
        decoded.resize_exact(width, height, image::imageops::FilterType::Triangle)
    };
    // JPEG has no transparency: it is laid over white, as a chat shows it.
    let rgb = flatten(scaled);
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
    rgb.write_with_encoder(encoder).map_err(|e| ImageError::Unreadable(e.to_string()))?;
    Ok(ImageInput { mime_type: "image/jpeg", data: Arc::new(out), width, height })
}

/// The size within both limits, keeping the aspect ratio (never scaled up).
fn fitted(width: u32, height: u32) -> (u32, u32) {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let by_side = f64::from(MAX_IMAGE_SIDE) / w.max(h);
    let by_pixels = (MAX_IMAGE_PIXELS_SENT as f64 / (w * h)).sqrt();
    let scale = by_side.min(by_pixels).min(1.0);
    if scale >= 1.0 {
        return (width.max(1), height.max(1));
    }
    let side = |v: f64| ((v * scale).floor() as u32).max(1);
    (side(w), side(h))
}

/// The image as RGB, transparent pixels over white.
fn flatten(image: DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return DynamicImage::ImageRgb8(image.into_rgb8());
    }
    let rgba = image.into_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (out, pixel) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u16::from(pixel[3]);
        for channel in 0..3 {
            let over_white = (u16::from(pixel[channel]) * alpha + 255 * (255 - alpha)) / 255;
            out[channel] = u8::try_from(over_white).unwrap_or(u8::MAX);
        }
    }
    DynamicImage::ImageRgb8(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageFormat;
    use proptest::prelude::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image =
            image::RgbaImage::from_fn(width, height, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 128]));
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(image).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn a_large_image_is_scaled_down_and_sent_as_jpeg() {
        let prepared = prepare(&png(4000, 1000)).unwrap();
        assert_eq!((prepared.width, prepared.height), (MAX_IMAGE_SIDE, 392));
        let again = image::load_from_memory(&prepared.data).unwrap();
        assert_eq!((again.width(), again.height()), (MAX_IMAGE_SIDE, 392));
        assert_eq!(image::guess_format(&prepared.data).unwrap(), ImageFormat::Jpeg);
        assert!(prepared.data_url().starts_with("data:image/jpeg;base64,/9j/"));
    }

    #[test]
    fn a_small_image_keeps_its_size_and_garbage_is_refused() {
        let prepared = prepare(&png(300, 200)).unwrap();
        assert_eq!((prepared.width, prepared.height), (300, 200));
        assert!(matches!(prepare(b"not an image at all"), Err(ImageError::Unreadable(_))));
    }

    /// A JPEG of `width` x `height`, red on the left half and blue on the right, stored with
    /// EXIF orientation 6 ("rotate 90° clockwise to show"), as phones save portrait photos.
    fn sideways_jpeg(width: u32, height: u32) -> Vec<u8> {
        use image::ImageEncoder;
        let image = image::RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 { image::Rgb([230, 20, 20]) } else { image::Rgb([20, 20, 230]) }
        });
        // A little-endian TIFF header and one IFD entry: Orientation (0x0112), SHORT, 1, 6.
        let exif = [b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        let mut out = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
        encoder.set_exif_metadata(exif.to_vec()).unwrap();
        encoder.write_image(image.as_raw(), width, height, image::ExtendedColorType::Rgb8).unwrap();
        out
    }

    #[test]
    fn a_photo_is_turned_upright_as_its_orientation_says() {
        let prepared = prepare(&sideways_jpeg(300, 200)).unwrap();
        assert_eq!((prepared.width, prepared.height), (200, 300), "turned a quarter");
        let upright = image::load_from_memory(&prepared.data).unwrap().to_rgb8();
        // Turned clockwise, the stored left half (red) is now on top.
        let (top, bottom) = (upright.get_pixel(100, 20).0, upright.get_pixel(100, 280).0);
        assert!(top[0] > 180 && top[2] < 80, "top {top:?}");
        assert!(bottom[2] > 180 && bottom[0] < 80, "bottom {bottom:?}");
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_it_is_decoded() {
        // 11,000 x 11,000 RGBA would need 484 MB: within the side limit, over the memory one.
        let header = png_header(11_000, 11_000);
        assert_eq!(prepare(&header), Err(ImageError::TooLarge));
        assert_eq!(prepare(&png_header(12_001, 10)), Err(ImageError::TooLarge));
    }

    /// A PNG announcing `width` x `height` RGBA pixels, with an empty data chunk: a few dozen
    /// bytes that would ask a careless decoder for the whole buffer.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", &[]), (b"IEND", &[])] {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let chunk: Vec<u8> = kind.iter().chain(data).copied().collect();
            png.extend_from_slice(&chunk);
            png.extend_from_slice(&crc32(&chunk).to_be_bytes());
        }
        png
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    proptest! {
        #[test]
        fn fitted_sizes_stay_within_both_limits_and_keep_the_shape(width in 1u32..20_000, height in 1u32..20_000) {
            let (w, h) = fitted(width, height);
            prop_assert!(w <= MAX_IMAGE_SIDE && h <= MAX_IMAGE_SIDE, "{width}x{height} -> {w}x{h}");
            prop_assert!(u64::from(w) * u64::from(h) <= MAX_IMAGE_PIXELS_SENT, "{width}x{height} -> {w}x{h}");
            prop_assert!(w <= width && h <= height);
            let (before, after) = (f64::from(width) / f64::from(height), f64::from(w) / f64::from(h));
            if w > 20 && h > 20 {
                prop_assert!((before / after - 1.0).abs() < 0.1, "{width}x{height} -> {w}x{h}");
            }
        }
    }
}

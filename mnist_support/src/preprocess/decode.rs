//! Step 1: decoding PNG and JPEG, bounded.

use super::*;

/// The width and height a PNG or JPEG declares in its header, read without
/// decoding the picture.
pub fn image_size(bytes: &[u8]) -> Result<(u32, u32)> {
    let err = |reason: String| Error::Decode {
        what: "the uploaded image".into(),
        reason,
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    if !matches!(
        reader.format(),
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg)
    ) {
        return Err(err("it is not a PNG or JPEG image".into()));
    }
    reader.into_dimensions().map_err(|e| err(e.to_string()))
}

/// Decode a PNG or JPEG: colour to luminance, transparency over white, EXIF
/// orientation applied; at most [`MAX_SIDE`] pixels a side and 256 MB of
/// decoding memory.
pub fn decode_image(bytes: &[u8]) -> Result<Gray> {
    let err = |reason: String| Error::Decode {
        what: "the uploaded image".into(),
        reason,
    };
    if bytes.is_empty() {
        return Err(err("it is empty".into()));
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    if reader.format().is_none() {
        return Err(err("it is not a PNG or JPEG image".into()));
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        // The decoder would fill the missing rows with grey and answer.
        return Err(err(
            "the JPEG is truncated (no end-of-image marker after its image data)".into(),
        ));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| err(e.to_string()))?;
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| err(e.to_string()))?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width() as usize, img.height() as usize);
    // The common 8-bit layouts are read as they are (converting them to RGBA
    // first cost more than the rest of decoding); others go through RGBA.
    let pixels: Vec<u8> = match &img {
        image::DynamicImage::ImageLuma8(g) => {
            let lut: [u8; 256] = std::array::from_fn(|v| luminance(v as u8, v as u8, v as u8, 255));
            g.as_raw().iter().map(|&v| lut[v as usize]).collect()
        }
        image::DynamicImage::ImageLumaA8(g) => g
            .as_raw()
            .chunks_exact(2)
            .map(|p| luminance(p[0], p[0], p[0], p[1]))
            .collect(),
        image::DynamicImage::ImageRgb8(g) => g
            .as_raw()
            .chunks_exact(3)
            .map(|p| luminance(p[0], p[1], p[2], 255))
            .collect(),
        image::DynamicImage::ImageRgba8(g) => g
            .as_raw()
            .chunks_exact(4)
            .map(|p| luminance(p[0], p[1], p[2], p[3]))
            .collect(),
        other => other
            .to_rgba8()
            .pixels()
            .map(|p| luminance(p.0[0], p.0[1], p.0[2], p.0[3]))
            .collect(),
    };
    Gray::new(w, h, pixels)
}

/// A pixel's luminance, transparency over white.
fn luminance(r: u8, g: u8, b: u8, a: u8) -> u8 {
    let lum = 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
    let a = a as f32 / 255.0;
    super::round(a * lum + (1.0 - a) * 255.0) as u8
}

/// Whether a JPEG's image data ends: walking its header segments by their
/// lengths (so an EXIF thumbnail inside them is skipped) to the first
/// start-of-scan, then an end-of-image marker (FF D9) after it. Inside the
/// scans a data byte FF is always followed by 00 or a restart marker, so FF D9
/// there is the real end; bytes after it (some phones append data) do not matter.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI (FF D8)
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        if marker == 0xDA {
            let scan = (i + 2 + len).min(bytes.len());
            return bytes[scan..].windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        i += 2 + len;
    }
    false
}

//! Step 1: decoding PNG and JPEG, bounded.

use super::*;

/// What the PNG decoder may allocate for itself (row buffers, the inflater's
/// window), beside the picture's own buffer, which is sized from the header
/// and bounded by [`MAX_SIDE`].
const PNG_DECODER_BYTES: usize = 4 << 20;

/// A PNG decoder that reads only what the models need. An iCCP colour profile
/// and compressed text chunks are not inflated at all: a small file can hold
/// either inflating to hundreds of megabytes, and neither changes a pixel.
fn png_decoder(bytes: &[u8]) -> png::Decoder<std::io::Cursor<&[u8]>> {
    let limits = png::Limits {
        bytes: PNG_DECODER_BYTES,
    };
    let mut decoder = png::Decoder::new_with_limits(std::io::Cursor::new(bytes), limits);
    decoder.set_ignore_iccp_chunk(true);
    decoder.set_ignore_text_chunk(true);
    decoder
}

fn upload_error(reason: impl std::fmt::Display) -> Error {
    Error::Decode {
        what: "the uploaded image".into(),
        reason: reason.to_string(),
    }
}

/// PNG or JPEG, from the first bytes; anything else is an error.
fn format_of(bytes: &[u8]) -> Result<image::ImageFormat> {
    if bytes.is_empty() {
        return Err(upload_error("it is empty"));
    }
    match image::guess_format(bytes) {
        Ok(f @ (image::ImageFormat::Png | image::ImageFormat::Jpeg)) => Ok(f),
        _ => Err(upload_error("it is not a PNG or JPEG image")),
    }
}

/// The width and height a PNG or JPEG declares in its header, read without
/// decoding the picture or inflating anything: a PNG's from its IHDR chunk,
/// a JPEG's from its frame header.
pub fn image_size(bytes: &[u8]) -> Result<(u32, u32)> {
    if format_of(bytes)? == image::ImageFormat::Png {
        let mut decoder = png_decoder(bytes);
        let info = decoder.read_header_info().map_err(upload_error)?;
        return Ok((info.width, info.height));
    }
    image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Jpeg)
        .into_dimensions()
        .map_err(upload_error)
}

/// How many scans a JPEG's image data holds (1 for a baseline JPEG, about
/// 10 for a usual progressive one; every scan is another pass over the
/// picture's coefficients), or `None` for anything that is not a JPEG.
pub fn jpeg_scans(bytes: &[u8]) -> Option<usize> {
    let layout = jpeg_layout(bytes)?;
    Some(layout.scans)
}

/// Decode a PNG or JPEG: colour to luminance, transparency over white, EXIF
/// orientation applied; at most [`MAX_SIDE`] pixels a side, and for a JPEG
/// 256 MB of decoding memory.
pub fn decode_image(bytes: &[u8]) -> Result<Gray> {
    let img = match format_of(bytes)? {
        image::ImageFormat::Png => decode_png(bytes)?,
        _ => decode_jpeg(bytes)?,
    };
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

/// A PNG through [`png_decoder`], as `image` would give it (8- or 16-bit
/// grey, grey and alpha, RGB or RGBA; palettes and fewer bits expanded), its
/// eXIf orientation applied.
fn decode_png(bytes: &[u8]) -> Result<image::DynamicImage> {
    use image::{DynamicImage as D, ImageBuffer};
    let mut decoder = png_decoder(bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(upload_error)?;
    let (w, h) = (reader.info().width, reader.info().height);
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(upload_error(format!(
            "the picture is {w}×{h}; at most {MAX_SIDE} pixels a side are accepted"
        )));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| upload_error("the picture is too large"))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(upload_error)?;
    buf.truncate(frame.buffer_size());
    let orientation = reader
        .info()
        .exif_metadata
        .as_deref()
        .and_then(image::metadata::Orientation::from_exif_chunk)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let wide = |buf: Vec<u8>| -> Vec<u16> {
        buf.chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect()
    };
    let short = || upload_error("the picture's data is shorter than its size");
    use png::{BitDepth as B, ColorType as C};
    let mut img = match (frame.color_type, frame.bit_depth) {
        (C::Grayscale, B::Eight) => {
            D::ImageLuma8(ImageBuffer::from_raw(w, h, buf).ok_or_else(short)?)
        }
        (C::GrayscaleAlpha, B::Eight) => {
            D::ImageLumaA8(ImageBuffer::from_raw(w, h, buf).ok_or_else(short)?)
        }
        (C::Rgb, B::Eight) => D::ImageRgb8(ImageBuffer::from_raw(w, h, buf).ok_or_else(short)?),
        (C::Rgba, B::Eight) => D::ImageRgba8(ImageBuffer::from_raw(w, h, buf).ok_or_else(short)?),
        (C::Grayscale, B::Sixteen) => {
            D::ImageLuma16(ImageBuffer::from_raw(w, h, wide(buf)).ok_or_else(short)?)
        }
        (C::GrayscaleAlpha, B::Sixteen) => {
            D::ImageLumaA16(ImageBuffer::from_raw(w, h, wide(buf)).ok_or_else(short)?)
        }
        (C::Rgb, B::Sixteen) => {
            D::ImageRgb16(ImageBuffer::from_raw(w, h, wide(buf)).ok_or_else(short)?)
        }
        (C::Rgba, B::Sixteen) => {
            D::ImageRgba16(ImageBuffer::from_raw(w, h, wide(buf)).ok_or_else(short)?)
        }
        (c, d) => {
            return Err(upload_error(format!(
                "unsupported PNG layout: {c:?} at {d:?} bits"
            )))
        }
    };
    img.apply_orientation(orientation);
    Ok(img)
}

/// A JPEG through `image` (zune-jpeg): at most [`MAX_SIDE`] pixels a side
/// and 256 MB of decoding memory, refused when truncated, its EXIF
/// orientation applied.
fn decode_jpeg(bytes: &[u8]) -> Result<image::DynamicImage> {
    if !jpeg_layout(bytes).is_some_and(|l| l.complete) {
        // The decoder would fill the missing rows with grey and answer.
        return Err(upload_error(
            "the JPEG is truncated (no end-of-image marker after its image data)",
        ));
    }
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Jpeg);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(upload_error)?;
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(upload_error)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// A pixel's luminance, transparency over white.
fn luminance(r: u8, g: u8, b: u8, a: u8) -> u8 {
    let lum = 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
    let a = a as f32 / 255.0;
    super::round(a * lum + (1.0 - a) * 255.0) as u8
}

/// What walking a JPEG's markers finds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct JpegLayout {
    /// Start-of-scan segments.
    scans: usize,
    /// Whether an end-of-image marker (FF D9) follows the image data.
    complete: bool,
}

/// A JPEG's segments walked by their lengths (so an EXIF thumbnail inside
/// them is skipped), counting start-of-scan segments, through to an
/// end-of-image marker. Inside a scan's data a byte FF is always followed by
/// 00 or a restart marker, so any other marker there ends the scan (another
/// scan, or a table between the scans of a progressive JPEG); bytes after
/// the end (some phones append data) do not matter. `None` when it does not
/// start as a JPEG.
fn jpeg_layout(bytes: &[u8]) -> Option<JpegLayout> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut layout = JpegLayout {
        scans: 0,
        complete: false,
    };
    let mut i = 2; // after SOI (FF D8)
    while i + 2 <= bytes.len() {
        if bytes[i] != 0xFF {
            return Some(layout);
        }
        let marker = bytes[i + 1];
        match marker {
            0xFF => {
                i += 1; // fill byte
                continue;
            }
            0xD9 => {
                layout.complete = layout.scans > 0;
                return Some(layout);
            }
            _ => {}
        }
        let Some(len) = bytes.get(i + 2..i + 4) else {
            return Some(layout);
        };
        i += 2 + u16::from_be_bytes([len[0], len[1]]) as usize;
        if marker == 0xDA {
            layout.scans += 1;
            // The scan's entropy-coded data, up to the next marker.
            while i + 1 < bytes.len() {
                if bytes[i] == 0xFF
                    && bytes[i + 1] != 0x00
                    && !(0xD0..=0xD7).contains(&bytes[i + 1])
                {
                    break;
                }
                i += 1;
            }
        }
    }
    Some(layout)
}

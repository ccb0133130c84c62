//! A generated picture and the file it is sent as: the pixels, where the
//! ink is, the crops around it, and PNG or JPEG (with an EXIF orientation,
//! as phones store photos sideways).

use image::{GrayImage, ImageEncoder, RgbImage};

use super::{Crop, Source};
use crate::error::{Error, Result};

/// One generated input: the encoded file a person would send.
#[derive(Debug, Clone)]
pub struct Sample {
    pub source: Source,
    /// The digit, or [`NOT_A_DIGIT`](super::NOT_A_DIGIT).
    pub label: u8,
    /// How closely it is cropped around its ink.
    pub crop: Crop,
    /// e.g. `pad-0007-label3.png`.
    pub name: String,
    /// PNG or JPEG bytes.
    pub bytes: Vec<u8>,
}

impl Sample {
    /// The 784 values the models see: the file through the server's
    /// preprocessing (`None`: refused, e.g. as holding no digit).
    pub fn to_mnist(&self) -> Option<Vec<f32>> {
        let gray = crate::preprocess::decode_image(&self.bytes).ok()?;
        crate::preprocess::to_mnist(&gray).ok()
    }

    /// `data:` URL of the file, as the page sends it.
    pub fn data_url(&self) -> String {
        use base64::Engine;
        let mime = if self.name.ends_with(".jpg") {
            "image/jpeg"
        } else {
            "image/png"
        };
        format!(
            "data:{mime};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }
}

/// A generated picture before it is encoded: its pixels and how they are
/// sent, and where its ink is (x0, y0, x1, y1, inclusive).
pub(super) struct Picture {
    pub(super) canvas: Canvas,
    pub(super) ink: (u32, u32, u32, u32),
}

pub(super) enum Canvas {
    /// Grey pixels, sent as PNG (the pad, typed digits).
    Gray(GrayImage),
    /// Colour pixels (paper), sent as the [`Send`] says.
    Rgb(RgbImage, Send),
}

#[derive(Clone, Copy)]
pub(super) enum Send {
    Png,
    /// Quality, and an EXIF orientation to store it sideways.
    Jpeg(u8, Option<u16>),
}

/// `img` cut to `rect` (x, y, width, height), or whole.
fn cut<P: image::Pixel + 'static>(
    img: &image::ImageBuffer<P, Vec<P::Subpixel>>,
    rect: Option<(u32, u32, u32, u32)>,
) -> image::ImageBuffer<P, Vec<P::Subpixel>> {
    match rect {
        Some((x, y, w, h)) => image::imageops::crop_imm(img, x, y, w, h).to_image(),
        None => img.clone(),
    }
}

impl Picture {
    /// The picture as one sample per crop in `crops`, each named by
    /// `name(crop suffix, file extension)`.
    pub(super) fn samples(
        &self,
        crops: &[Crop],
        source: Source,
        label: u8,
        name: impl Fn(&str, &str) -> String,
    ) -> Result<Vec<Sample>> {
        crops
            .iter()
            .map(|&crop| {
                let (bytes, ext) = self.encode(crop)?;
                Ok(Sample {
                    source,
                    label,
                    crop,
                    name: name(crop.suffix(), ext),
                    bytes,
                })
            })
            .collect()
    }

    /// The picture cropped as `crop` says, encoded.
    pub(super) fn encode(&self, crop: Crop) -> Result<(Vec<u8>, &'static str)> {
        let (x0, y0, x1, y1) = self.ink;
        let (w, h) = match &self.canvas {
            Canvas::Gray(g) => g.dimensions(),
            Canvas::Rgb(c, _) => c.dimensions(),
        };
        let rect = crop.margin(y1 - y0 + 1).map(|m| {
            let (cx0, cy0) = (x0.saturating_sub(m), y0.saturating_sub(m));
            let (cx1, cy1) = ((x1 + m).min(w - 1), (y1 + m).min(h - 1));
            (cx0, cy0, cx1 - cx0 + 1, cy1 - cy0 + 1)
        });
        Ok(match &self.canvas {
            Canvas::Gray(g) => (png_gray(&cut(g, rect))?, "png"),
            Canvas::Rgb(c, Send::Png) => (png_rgb(&cut(c, rect))?, "png"),
            Canvas::Rgb(c, Send::Jpeg(q, o)) => {
                (jpeg_with_orientation(&cut(c, rect), *q, *o)?, "jpg")
            }
        })
    }
}

/// The bounding box of the cells of `cover` (w×h) over one half.
pub(super) fn cover_box(cover: &[f32], w: u32) -> (u32, u32, u32, u32) {
    let mut b = (u32::MAX, u32::MAX, 0, 0);
    for (i, &c) in cover.iter().enumerate() {
        if c > 0.5 {
            let (x, y) = (i as u32 % w, i as u32 / w);
            b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        }
    }
    if b.0 == u32::MAX {
        (0, 0, w - 1, (cover.len() as u32 / w).saturating_sub(1))
    } else {
        b
    }
}

/// The bounding box of the pixels of `img` darker than `level`.
pub(super) fn dark_box(img: &GrayImage, level: u8) -> (u32, u32, u32, u32) {
    let cover: Vec<f32> = img
        .as_raw()
        .iter()
        .map(|&v| if v < level { 1.0 } else { 0.0 })
        .collect();
    cover_box(&cover, img.width())
}

pub(super) fn png_gray(img: &GrayImage) -> Result<Vec<u8>> {
    png(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::L8,
    )
}

pub(super) fn png_rgb(img: &RgbImage) -> Result<Vec<u8>> {
    png(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
}

fn png(bytes: &[u8], w: u32, h: u32, color: image::ExtendedColorType) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(bytes, w, h, color)
        .map_err(|e| Error::Plot(e.to_string()))?;
    Ok(out)
}

/// JPEG at `quality`; with `orientation` (an EXIF value, e.g. 6 = "rotate
/// 90° clockwise to view"), the pixels are stored turned the other way and
/// the EXIF tag says how to show them, as a phone held sideways writes them.
pub fn jpeg_with_orientation(
    img: &RgbImage,
    quality: u8,
    orientation: Option<u16>,
) -> Result<Vec<u8>> {
    let stored = match orientation {
        None | Some(1) => img.clone(),
        Some(6) => image::imageops::rotate270(img),
        Some(8) => image::imageops::rotate90(img),
        Some(3) => image::imageops::rotate180(img),
        Some(o) => {
            return Err(Error::UnknownName {
                what: "EXIF orientation",
                name: o.to_string(),
                choices: "1 (none), 3, 6 or 8".into(),
            })
        }
    };
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality)
        .write_image(
            stored.as_raw(),
            stored.width(),
            stored.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::Plot(e.to_string()))?;
    let Some(o) = orientation else {
        return Ok(jpeg);
    };
    // APP1 "Exif": a big-endian TIFF header and one IFD entry, Orientation (0x0112).
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01".to_vec();
    tiff.extend_from_slice(&o.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let len = (app1.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

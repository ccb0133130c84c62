//! Fonts for typed digits and letters: the ones the typed benchmark uses
//! (the machine's), the ones the models may train on (embedded in the
//! crate), and the renderer both share ([`typed`]). Training data
//! ([`crate::augment`], [`crate::gate`]) and the benchmark
//! ([`crate::real_inputs`]) both draw on it.
//!
//! The two font sets never share a family ([`TRAINING_FAMILIES`] are dropped
//! from the benchmark's), so the typed column of `mnist bench-inputs` measures
//! typefaces the models have never seen.

use std::path::PathBuf;

use ab_glyph::{Font, FontArc, PxScale};
use image::{GrayImage, Luma};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Families of the training fonts: serif, italic and bold faces of
/// Libertinus Serif and New Computer Modern (Typst's assets) and the sans
/// Ubuntu Light (egui's).
pub const TRAINING_FAMILIES: [&str; 3] = ["Libertinus Serif", "NewComputerModern", "Ubuntu"];

/// The family name a font file gives itself (`None` when unreadable).
fn family(bytes: &[u8]) -> Option<String> {
    let face = ttf_parser::Face::parse(bytes, 0).ok()?;
    let names = face.names();
    let name = |id| {
        names
            .into_iter()
            .find(|n| n.name_id == id && n.is_unicode())
            .and_then(|n| n.to_string())
    };
    name(ttf_parser::name_id::TYPOGRAPHIC_FAMILY).or_else(|| name(ttf_parser::name_id::FAMILY))
}

fn is_training_family(family: &str) -> bool {
    TRAINING_FAMILIES.iter().any(|f| family.starts_with(f))
}

fn has_digits(font: &FontArc) -> bool {
    ('0'..='9').all(|c| font.glyph_id(c).0 != 0)
}

/// The fonts the models may train on: every embedded face of
/// [`TRAINING_FAMILIES`] (maths fonts excluded), named by family and
/// subfamily.
pub fn training_fonts() -> Result<Vec<(String, FontArc)>> {
    let embedded = typst_assets::fonts().chain([epaint_default_fonts::UBUNTU_LIGHT]);
    let mut fonts = Vec::new();
    for bytes in embedded {
        let Some(family) = family(bytes) else {
            continue;
        };
        if !is_training_family(&family) || family.contains("Math") {
            continue;
        }
        let font = FontArc::try_from_slice(bytes)
            .map_err(|e| Error::Plot(format!("embedded font {family}: {e}")))?;
        if has_digits(&font) {
            let sub = ttf_parser::Face::parse(bytes, 0)
                .ok()
                .and_then(|f| {
                    f.names()
                        .into_iter()
                        .find(|n| n.name_id == ttf_parser::name_id::FULL_NAME && n.is_unicode())
                        .and_then(|n| n.to_string())
                })
                .unwrap_or(family);
            fonts.push((sub, font));
        }
    }
    if fonts.is_empty() {
        return Err(Error::Plot(
            "no embedded training font has the ten digits".into(),
        ));
    }
    Ok(fonts)
}

/// The fonts the typed benchmark draws in: the embedded DejaVu Sans and
/// every TrueType/OpenType font under `/usr/share/fonts` that has all ten
/// digits, by file name, except maths and symbol fonts and the
/// [`TRAINING_FAMILIES`].
pub fn benchmark_fonts() -> Result<Vec<(String, FontArc)>> {
    let mut fonts = vec![(
        "DejaVuSans (embedded)".to_string(),
        FontArc::try_from_slice(dejavu::sans::regular())
            .map_err(|e| Error::Plot(format!("embedded font: {e}")))?,
    )];
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![PathBuf::from("/usr/share/fonts")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("ttf" | "otf" | "TTF" | "OTF")
            ) {
                files.push(p);
            }
        }
    }
    files.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    files.dedup_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    for p in files {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        if family(&bytes).is_some_and(|f| is_training_family(&f)) {
            continue;
        }
        let Ok(font) = FontArc::try_from_vec(bytes) else {
            continue;
        };
        let name = p
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Symbol and maths fonts: digits missing or not text digits.
        if name.contains("Math") || name.contains("Symbol") || name.contains("Emoji") {
            continue;
        }
        if has_digits(&font) {
            fonts.push((name, font));
        }
    }
    Ok(fonts)
}

/// A typed digit, dark on light, any size and place.
pub(crate) fn typed(font: &FontArc, glyph: char, rng: &mut ChaCha8Rng) -> GrayImage {
    let (w, h) = (rng.gen_range(60u32..320), rng.gen_range(60u32..320));
    let paper = rng.gen_range(200u8..=255);
    let ink = rng.gen_range(0u8..=70);
    let mut img = GrayImage::from_pixel(w, h, Luma([paper]));
    let text = glyph.to_string();
    // Font size such that the glyph is 40–85% of the image's height.
    let target = rng.gen_range(0.4f32..0.85) * h as f32;
    let (_, gh) = imageproc::drawing::text_size(PxScale::from(100.0), font, &text);
    let scale = 100.0 * target / gh.max(1) as f32;
    let (gw, _) = imageproc::drawing::text_size(PxScale::from(scale), font, &text);
    let fit = (w as f32 * 0.9 / gw.max(1) as f32).min(1.0);
    let scale = scale * fit;
    let (gw, gh) = imageproc::drawing::text_size(PxScale::from(scale), font, &text);
    let x = rng.gen_range(0..=w.saturating_sub(gw)) as i32;
    let y = rng.gen_range(0..=h.saturating_sub(gh)) as i32;
    imageproc::drawing::draw_text_mut(
        &mut img,
        Luma([ink]),
        x,
        y,
        PxScale::from(scale),
        font,
        &text,
    );
    img
}

/// The bold and black faces among `fonts`, by their names.
pub(crate) fn bold_faces(fonts: &[(String, FontArc)]) -> Vec<(String, FontArc)> {
    fonts
        .iter()
        .filter(|(name, _)| {
            let n = name.to_lowercase();
            ["bold", "black", "heavy"].iter().any(|w| n.contains(w))
        })
        .cloned()
        .collect()
}

/// The bold and black faces among `fonts` (by their names), and the
/// embedded DejaVu Sans Bold: the benchmark's heavy type.
pub fn bold_benchmark_fonts(fonts: &[(String, FontArc)]) -> Result<Vec<(String, FontArc)>> {
    let mut out = vec![(
        "DejaVuSansBold (embedded)".to_string(),
        FontArc::try_from_slice(dejavu::sans::bold())
            .map_err(|e| Error::Plot(format!("embedded font: {e}")))?,
    )];
    out.extend(bold_faces(fonts));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_and_benchmark_fonts_share_no_family() {
        let train = training_fonts().unwrap();
        assert!(train.len() >= 5, "{} training fonts", train.len());
        let bench = benchmark_fonts().unwrap();
        for (name, _) in &bench {
            assert!(
                !TRAINING_FAMILIES
                    .iter()
                    .any(|f| name.replace(' ', "").starts_with(&f.replace(' ', ""))),
                "{name} is a training family"
            );
        }
    }
}

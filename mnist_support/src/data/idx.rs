//! The IDX format of the MNIST files: a big-endian header (magic number with
//! the element type and the number of dimensions, then each dimension) and
//! the raw bytes. [`read_images`] and [`read_labels`] read such a file, raw or
//! gzipped, checking the magic number, the payload length and the labels;
//! [`read_pair`] reads an image file with its label file and checks that they
//! agree.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

use super::{CLASSES, SIDE};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// A decoded IDX image file.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// `count * rows * cols` bytes, row-major, 0 = background, 255 = ink.
    pub pixels: Vec<u8>,
}

/// Read a file fully; gzip is detected by its magic bytes, so both
/// `foo.gz` and a raw `foo` work whatever they are called.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        let mut out = Vec::with_capacity(bytes.len() * 5);
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::Gzip {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Parse an IDX file's header with `ndims` dimensions and check its payload length.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    what: &'static str,
) -> Result<(Vec<usize>, &'a [u8])> {
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected: header,
            found: bytes.len(),
        });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    if bytes.len() < header {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected: header,
            found: bytes.len(),
        });
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| be_u32(bytes, 4 + 4 * i) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Truncated {
            path: path.to_path_buf(),
            expected: usize::MAX,
            found: bytes.len() - header,
        })?;
    let payload = &bytes[header..];
    if payload.len() < expected {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected,
            found: payload.len(),
        });
    }
    if payload.len() > expected {
        return Err(Error::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            found: payload.len() - expected,
        });
    }
    Ok((dims, payload))
}

/// Read an IDX3 image file (raw or gzip).
pub fn read_images(path: &Path) -> Result<Images> {
    let bytes = read_maybe_gz(path)?;
    let (dims, payload) = parse_idx(path, &bytes, IMAGES_MAGIC, "IDX3 unsigned-byte images")?;
    Ok(Images {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: payload.to_vec(),
    })
}

/// Read an IDX1 label file (raw or gzip); every label must be a digit 0–9.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_maybe_gz(path)?;
    let (_, payload) = parse_idx(path, &bytes, LABELS_MAGIC, "IDX1 unsigned-byte labels")?;
    if let Some((index, &label)) = payload
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= CLASSES)
    {
        return Err(Error::BadLabel {
            path: path.to_path_buf(),
            index,
            label,
        });
    }
    Ok(payload.to_vec())
}

/// Read an image file and its label file, checking they agree.
pub fn read_pair(images: &Path, labels: &Path) -> Result<(Images, Vec<u8>)> {
    let imgs = read_images(images)?;
    if imgs.rows != SIDE || imgs.cols != SIDE {
        return Err(Error::BadImageSize {
            path: images.to_path_buf(),
            rows: imgs.rows,
            cols: imgs.cols,
        });
    }
    let labs = read_labels(labels)?;
    if imgs.count != labs.len() {
        return Err(Error::CountMismatch {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            n_images: imgs.count,
            n_labels: labs.len(),
        });
    }
    Ok((imgs, labs))
}

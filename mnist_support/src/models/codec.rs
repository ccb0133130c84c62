//! The model file format and little-endian binary helpers.
//!
//! A model file is a small header and the model's own parameter bytes:
//! `b"MNISTRS\x01"`, the kind's name (u8 length + UTF-8), the payload length
//! (u64), the payload's MD5 (16 bytes), then the payload. Loading checks each
//! part, so a truncated, corrupt or wrong-kind file is a clear error before
//! any model code reads it.

use std::path::Path;

use crate::error::{Error, Result};

use super::ModelKind;

const MAGIC: &[u8; 8] = b"MNISTRS\x01";

/// Wrap a model's parameter bytes into a model file.
pub fn encode_file(kind: ModelKind, payload: &[u8]) -> Vec<u8> {
    let name = kind.name().as_bytes();
    let mut out = Vec::with_capacity(payload.len() + 64);
    out.extend_from_slice(MAGIC);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&md5::compute(payload).0);
    out.extend_from_slice(payload);
    out
}

/// Check a model file's header and checksum and return its payload (the
/// file's tail: nothing may follow it).
pub fn decode_file<'a>(path: &Path, expected: ModelKind, bytes: &'a [u8]) -> Result<&'a [u8]> {
    let bad = |reason: String| Error::Decode {
        what: path.display().to_string(),
        reason,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not an mnist-rs model file (bad magic bytes)".into()));
    }
    let mut r = Reader::new(&bytes[MAGIC.len()..], &path.display().to_string());
    let name_len = r.u8()? as usize;
    let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
    if name != expected.name() {
        return Err(bad(format!(
            "file holds a {name:?} model, expected {}",
            expected.name()
        )));
    }
    let len = r.u64()?;
    let sum: [u8; 16] = r
        .take(16)?
        .try_into()
        .map_err(|_| bad("short checksum".into()))?;
    let rest = r.rest();
    if (rest.len() as u64) < len {
        return Err(bad(format!(
            "truncated: {} of {len} payload bytes",
            rest.len()
        )));
    }
    if rest.len() as u64 > len {
        return Err(bad(format!(
            "{} unexpected bytes after the payload",
            rest.len() as u64 - len
        )));
    }
    if md5::compute(rest).0 != sum {
        return Err(bad("payload checksum mismatch (the file is corrupt)".into()));
    }
    Ok(rest)
}

/// Append little-endian values to a buffer.
pub trait Put {
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_f32s(&mut self, v: &[f32]);
}

impl Put for Vec<u8> {
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_f32s(&mut self, v: &[f32]) {
        self.reserve(v.len() * 4);
        for x in v {
            self.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// Bounds-checked little-endian reading; every failure is an [`Error::Decode`].
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: String,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], what: &str) -> Self {
        Reader {
            bytes,
            pos: 0,
            what: what.to_string(),
        }
    }

    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::Decode {
            what: self.what.clone(),
            reason: reason.into(),
        }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() - self.pos < n {
            return Err(self.error(format!("truncated at byte {} (needed {n} more)", self.pos)));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A count that must not exceed `max` (guards allocations against corrupt lengths).
    pub fn count(&mut self, max: usize, what: &str) -> Result<usize> {
        let n = self.u64()?;
        if n > max as u64 {
            return Err(self.error(format!("{what} = {n} exceeds the limit {max}")));
        }
        Ok(n as usize)
    }

    /// `n` finite f32 values.
    pub fn f32s(&mut self, n: usize) -> Result<Vec<f32>> {
        let bytes = self.take(
            n.checked_mul(4)
                .ok_or_else(|| self.error("length overflow"))?,
        )?;
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(self.error("non-finite parameter value"));
        }
        Ok(v)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        s
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// Error unless every byte was read.
    pub fn finish(&self) -> Result<()> {
        if self.pos != self.bytes.len() {
            return Err(self.error(format!(
                "{} unexpected trailing bytes",
                self.bytes.len() - self.pos
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_another_kind_or_format_is_an_error() {
        let path = Path::new("models/tree.bin");
        let file = encode_file(ModelKind::Svm, b"parameters");
        assert_eq!(
            decode_file(path, ModelKind::Svm, &file).unwrap(),
            b"parameters"
        );
        let err = decode_file(path, ModelKind::Tree, &file)
            .unwrap_err()
            .to_string();
        assert!(err.contains("svm"), "{err}");
        assert!(decode_file(path, ModelKind::Tree, b"PK\x03\x04 not a model").is_err());
        assert!(decode_file(path, ModelKind::Svm, &file[..file.len() - 1]).is_err());
    }
}

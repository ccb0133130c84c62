//! NumPy's `.npy` format, written: the split as byte arrays, for the
//! Python side of `mnist compare` (`scripts/compare.py` reads them with
//! `numpy.load`).

use std::io::Write;
use std::path::Path;

use super::split::{Labelled, Parts, Split};
use crate::error::{Error, Result};

/// `bytes` (row-major, `shape`) as an `.npy` file of unsigned bytes at `path`.
pub fn write_npy(path: &Path, shape: &[usize], bytes: &[u8]) -> Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n', padded to 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let io = |e| Error::io(path, e);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    f.write_all(b"\x93NUMPY\x01\x00").map_err(io)?;
    f.write_all(&(header.len() as u16).to_le_bytes())
        .map_err(io)?;
    f.write_all(header.as_bytes()).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.flush().map_err(io)
}

impl Split {
    /// The split as `X_<part>.npy` (n×784 bytes, the raw pixels) and
    /// `y_<part>.npy` (n labels) in `dir`.
    pub fn write_npy(&self, dir: &Path) -> Result<()> {
        for (name, Labelled { x, y }) in self.parts() {
            let bytes: Vec<u8> = x
                .iter()
                .map(|&v| v.round().clamp(0.0, 255.0) as u8)
                .collect();
            write_npy(
                &dir.join(format!("X_{name}.npy")),
                &[x.nrows(), x.ncols()],
                &bytes,
            )?;
            write_npy(&dir.join(format!("y_{name}.npy")), &[y.len()], &y.to_vec())?;
        }
        Ok(())
    }
}

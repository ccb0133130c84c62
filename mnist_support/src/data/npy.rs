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
            let bytes: Vec<u8> = x.iter().map(|&v| super::to_byte(v)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_padded_and_names_the_shape() {
        let dir = std::env::temp_dir().join(format!("npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.npy");
        write_npy(&path, &[2, 3], &[1, 2, 3, 4, 5, 6]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + len) % 64, 0, "the data starts on a 64-byte boundary");
        let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
        assert!(
            header.contains("'shape': (2, 3)") && header.ends_with('\n'),
            "{header}"
        );
        assert_eq!(&bytes[10 + len..], &[1, 2, 3, 4, 5, 6]);
        write_npy(&path, &[4], &[9, 8, 7, 6]).unwrap();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
        assert!(text.contains("'shape': (4,)"), "a 1-D shape is a one-tuple");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

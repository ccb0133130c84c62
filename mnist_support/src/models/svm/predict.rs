//! The fitted SVM and its prediction: the kernel to every support vector,
//! the 45 decision values, the votes.

use super::kernel::*;
use super::*;
use crate::models::pca::Pca;

/// A fitted SVM: support vectors (scaled features) and the 45 pairs.
#[derive(Debug, Clone)]
pub struct FittedSvm {
    /// Support vectors, in the principal directions' coordinates when there are some.
    pub support: Array2<f32>,
    pub pairs: Vec<Binary>,
    /// The directions the kernel measures distances in (none: pixels).
    pub pca: Option<Pca>,
    tables: std::sync::OnceLock<(Array2<f32>, Array1<f32>)>,
}

impl FittedSvm {
    pub fn new(support: Array2<f32>, pairs: Vec<Binary>) -> Self {
        FittedSvm {
            support,
            pairs,
            pca: None,
            tables: std::sync::OnceLock::new(),
        }
    }

    /// Support vectors given in `pca`'s coordinates; queries are projected.
    pub fn with_pca(self, pca: Pca) -> Self {
        FittedSvm {
            pca: Some(pca),
            ..self
        }
    }
}

impl PartialEq for FittedSvm {
    fn eq(&self, other: &Self) -> bool {
        self.support == other.support && self.pairs == other.pairs && self.pca == other.pca
    }
}

impl FittedSvm {
    /// Support vector `i` as 784 bytes: back from the principal directions
    /// when the SVM measures in them, and through `scaler`'s inverse (a
    /// deskewed digit stays deskewed).
    pub(crate) fn picture(&self, i: usize, scaler: &Scaler) -> Result<Vec<u8>> {
        let sv = self.support.row(i).insert_axis(Axis(0));
        let scaled = match &self.pca {
            Some(pca) => sv.dot(&pca.basis.t()) + &pca.mean,
            None => sv.to_owned(),
        };
        let pixels = scaler.inverse_transform(&scaled.view())?;
        Ok(pixels.iter().map(|&v| crate::data::to_byte(v)).collect())
    }
}

/// Most query rows per kernel block at prediction time.
pub(super) const PREDICT_BLOCK: usize = 1024;

impl FittedSvm {
    /// Decision values (n×45, pair order as in `pairs`).
    /// Coefficients of every support vector in every pair (nsv × pairs), and
    /// the support vectors' squared norms.
    fn tables(&self) -> &(Array2<f32>, Array1<f32>) {
        self.tables.get_or_init(|| {
            let mut coef = Array2::<f32>::zeros((self.support.nrows(), self.pairs.len()));
            for (p, pair) in self.pairs.iter().enumerate() {
                for (&i, &c) in pair.sv.iter().zip(&pair.coef) {
                    coef[[i as usize, p]] = c;
                }
            }
            (coef, row_norms(&self.support.view()))
        })
    }

    pub fn decision(&self, x: ArrayView2<f32>, gamma: f32) -> Result<Array2<f32>> {
        let projected;
        let x = match &self.pca {
            Some(pca) => {
                projected = pca.project(x)?;
                projected.view()
            }
            None => x.view(),
        };
        if x.ncols() != self.support.ncols() {
            return Err(Error::Shape(format!(
                "SVM has {} inputs, got rows of {}",
                self.support.ncols(),
                x.ncols()
            )));
        }
        let nsv = self.support.nrows();
        let (coef, sv_norms) = self.tables();
        let rho = Array1::from_iter(self.pairs.iter().map(|p| p.rho));
        let mut out = Array2::<f32>::zeros((x.nrows(), self.pairs.len()));
        let mut kbuf = Array2::<f32>::zeros((PREDICT_BLOCK.min(x.nrows()).max(1), nsv));
        for start in (0..x.nrows()).step_by(PREDICT_BLOCK) {
            let end = (start + PREDICT_BLOCK).min(x.nrows());
            let q = x.slice(s![start..end, ..]);
            let qn = row_norms(&q);
            let mut kb = kbuf.slice_mut(s![..end - start, ..]);
            if end - start < 8 {
                // A handful of rows (the web server): dot products, no packing.
                for (mut k, q) in kb.rows_mut().into_iter().zip(q.rows()) {
                    k.assign(&self.support.dot(&q));
                }
                finish_rbf(&mut kb, &qn.view(), &sv_norms.view(), gamma);
            } else {
                rbf_into(
                    &q,
                    &qn.view(),
                    &self.support.view(),
                    &sv_norms.view(),
                    gamma,
                    &mut kb,
                );
            }
            let mut ob = out.slice_mut(s![start..end, ..]);
            general_mat_mul(1.0, &kb, coef, 0.0, &mut ob);
            ob -= &rho;
        }
        Ok(out)
    }

    /// Normalized decision values: softmax over digits of the pairwise votes
    /// plus tie-breaking soft votes (see the module docs).
    pub fn proba(&self, x: ArrayView2<f32>, gamma: f32) -> Result<Array2<f32>> {
        let f = self.decision(x, gamma)?;
        let mut p = Array2::<f32>::zeros((x.nrows(), CLASSES));
        Zip::from(p.rows_mut())
            .and(f.rows())
            .par_for_each(|mut p, f| {
                // One vote per pair to the winner (libsvm's rule), plus soft votes
                // scaled to stay below one vote in total, which only break ties.
                let soft = 0.5 / (CLASSES - 1) as f32;
                for (pair, &v) in self.pairs.iter().zip(f.iter()) {
                    let s = 1.0 / (1.0 + (-v).exp());
                    let winner = if v > 0.0 { pair.a } else { pair.b };
                    p[winner as usize] += 1.0;
                    p[pair.a as usize] += soft * s;
                    p[pair.b as usize] += soft * (1.0 - s);
                }
                let m = p.fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                p.mapv_inplace(|v| (v - m).exp());
                let total = p.sum();
                p.mapv_inplace(|v| v / total);
            });
        Ok(p)
    }
}

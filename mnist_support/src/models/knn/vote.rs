//! From neighbours to class probabilities, and choosing k on validation.

use super::*;

/// Class probabilities from the first `k` neighbours: vote shares (uniform) or
/// shares of 1/distance (distance; exact matches take all the weight).
pub(crate) fn vote(
    nb: &Neighbours,
    labels: &[u8],
    k: usize,
    weighting: Weighting,
) -> Result<Array2<f32>> {
    if k == 0 || k > nb.index.ncols() {
        return Err(invalid(
            ModelKind::Knn,
            "k",
            format!("k = {k} but {} neighbours were searched", nb.index.ncols()),
        ));
    }
    let mut p = Array2::<f32>::zeros((nb.index.nrows(), CLASSES));
    let one = |mut p: ndarray::ArrayViewMut1<f32>,
               idx: ndarray::ArrayView1<u32>,
               d2: ndarray::ArrayView1<f32>| {
        let exact = d2.iter().take(k).any(|&d| d == 0.0);
        for (&i, &d) in idx.iter().zip(d2.iter()).take(k) {
            let w = match weighting {
                Weighting::Uniform => 1.0,
                Weighting::Distance if exact => (d == 0.0) as u8 as f32,
                Weighting::Distance => 1.0 / d.sqrt(),
            };
            p[labels[i as usize] as usize] += w;
        }
        let total = p.sum();
        p.mapv_inplace(|v| v / total);
    };
    let rows = Zip::from(p.rows_mut())
        .and(nb.index.rows())
        .and(nb.dist2.rows());
    if nb.index.nrows() < FEW_QUERIES {
        rows.for_each(one);
    } else {
        rows.par_for_each(one);
    }
    Ok(p)
}

/// Labels from vote shares; ties go to the class of the nearest neighbour
/// among the tied classes.
pub(crate) fn decide(p: &Array2<f32>, nb: &Neighbours, labels: &[u8]) -> Array1<u8> {
    Array1::from_iter(p.rows().into_iter().zip(nb.index.rows()).map(|(p, idx)| {
        let top = p.fold(0.0f32, |a, &v| a.max(v));
        idx.iter()
            .map(|&i| labels[i as usize])
            .find(|&c| p[c as usize] == top)
            .unwrap_or(0)
    }))
}

/// Validation accuracy per (k, weighting) and the best choice.
#[derive(Debug, Clone, PartialEq)]
pub struct KChoice {
    pub rows: Vec<(usize, Weighting, f64)>,
    pub k: usize,
    pub weighting: Weighting,
    pub accuracy: f64,
}

impl KChoice {
    pub fn table(&self) -> crate::display::Table {
        let mut ks: Vec<usize> = self.rows.iter().map(|r| r.0).collect();
        ks.dedup();
        let acc = |k: usize, w: Weighting| {
            self.rows
                .iter()
                .find(|r| r.0 == k && r.1 == w)
                .map(|r| crate::metrics::percent(r.2))
                .unwrap_or_default()
        };
        crate::display::Table::new(
            vec![
                "k".into(),
                "uniform votes".into(),
                "distance-weighted".into(),
            ],
            ks.iter()
                .map(|&k| {
                    vec![
                        k.to_string(),
                        acc(k, Weighting::Uniform),
                        acc(k, Weighting::Distance),
                    ]
                })
                .collect(),
        )
        .with_caption(format!(
            "Validation accuracy; best: k = {}, {:?} votes ({:.2}%)",
            self.k,
            self.weighting,
            100.0 * self.accuracy
        ))
    }
}

impl crate::display::Rich for KChoice {
    fn bundle(&self) -> crate::display::Bundle {
        self.table().bundle()
    }
}

crate::display::inherent_rich!(KChoice);

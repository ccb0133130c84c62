//! Training the 45 one-vs-one machines.

use super::kernel::*;
use super::*;

/// Train the 45 one-vs-one machines (two at a time) on scaled features.
pub(crate) fn train(
    x: ArrayView2<f32>,
    y: ArrayView1<u8>,
    params: &SvmParams,
    progress: &dyn Progress,
) -> Result<FittedSvm> {
    check_xy(&x, &y)?;
    params.check()?;
    let by_class: Vec<Vec<usize>> = (0..CLASSES as u8)
        .map(|c| (0..y.len()).filter(|&i| y[i] == c).collect())
        .collect();
    let present: Vec<u8> = (0..CLASSES as u8)
        .filter(|&c| !by_class[c as usize].is_empty())
        .collect();
    if present.len() < 2 {
        return Err(Error::InvalidData(
            "an SVM needs training images of at least two digits".into(),
        ));
    }
    let pairs: Vec<(u8, u8)> = present
        .iter()
        .flat_map(|&a| {
            present
                .iter()
                .filter(move |&&b| b > a)
                .map(move |&b| (a, b))
        })
        .collect();
    progress.begin(
        &format!("SVM: {} one-vs-one pairs", pairs.len()),
        pairs.len() as u64,
    );
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    // Each pair: (a, b, row indices, alpha*y, rho, iterations).
    let trained: Vec<(u8, u8, Vec<usize>, Vec<f32>, f32, usize)> = pool.install(|| {
        pairs
            .par_iter()
            .map(|&(a, b)| {
                let rows: Vec<usize> = by_class[a as usize]
                    .iter()
                    .chain(&by_class[b as usize])
                    .copied()
                    .collect();
                let labels: Vec<f32> = rows
                    .iter()
                    .map(|&i| if y[i] == a { 1.0 } else { -1.0 })
                    .collect();
                let xp = x.select(Axis(0), &rows);
                let norms = row_norms(&xp.view());
                let mut k = Array2::<f32>::zeros((rows.len(), rows.len()));
                rbf_into(
                    &xp.view(),
                    &norms.view(),
                    &xp.view(),
                    &norms.view(),
                    params.gamma as f32,
                    &mut k.view_mut(),
                );
                let (alpha, rho, iterations) = smo(
                    &k,
                    &labels,
                    params.c as f32,
                    params.tol as f32,
                    params.max_iter,
                );
                drop(k);
                let (sv_rows, coef): (Vec<usize>, Vec<f32>) = alpha
                    .iter()
                    .zip(&labels)
                    .zip(&rows)
                    .filter(|((&al, _), _)| al > 0.0)
                    .map(|((&al, &yl), &r)| (r, al * yl))
                    .unzip();
                progress.advance(1);
                (a, b, sv_rows, coef, rho, iterations)
            })
            .collect()
    });
    progress.end();
    // The union of support vectors, in training order.
    let mut slot = vec![u32::MAX; y.len()];
    let mut support_rows = Vec::new();
    for (_, _, rows, _, _, _) in &trained {
        for &r in rows {
            if slot[r] == u32::MAX {
                slot[r] = 0;
                support_rows.push(r);
            }
        }
    }
    support_rows.sort_unstable();
    for (k, &r) in support_rows.iter().enumerate() {
        slot[r] = k as u32;
    }
    let pairs = trained
        .into_iter()
        .map(|(a, b, rows, coef, rho, iterations)| Binary {
            a,
            b,
            sv: rows.iter().map(|&r| slot[r]).collect(),
            coef,
            rho,
            iterations,
        })
        .collect::<Vec<_>>();
    let iterations: usize = pairs.iter().map(|p| p.iterations).sum();
    progress.note(&format!(
        "{} support vectors in all ({} per pair on average), {iterations} SMO iterations",
        support_rows.len(),
        pairs.iter().map(|p| p.sv.len()).sum::<usize>() / pairs.len().max(1)
    ));
    Ok(FittedSvm::new(x.select(Axis(0), &support_rows), pairs))
}

//! A forest of trees grown in parallel, each on its own bootstrap sample.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::Result;

use super::check::check_data;
use super::grow::Grower;
use super::{Binned, Tree, TreeParams};

/// Grow a random forest of `n_trees` trees in parallel. Tree `t` uses its own
/// ChaCha8 stream seeded from `(seed, t)`: with `bootstrap`, `n` draws with
/// replacement become its sample weights; `params.max_features` features are
/// drawn at each split. The result does not depend on the thread count.
/// `on_tree` is called after each finished tree (progress bars).
pub fn grow_forest(
    data: &Binned,
    y: &[u8],
    params: &TreeParams,
    n_trees: usize,
    bootstrap: bool,
    seed: u64,
    on_tree: &(dyn Fn() + Sync),
) -> Result<Vec<Tree>> {
    check_data(data, y, params)?;
    if n_trees == 0 {
        return Err(crate::models::invalid(
            crate::models::ModelKind::Forest,
            "n_trees",
            "must be at least 1",
        ));
    }
    let n = data.n;
    // Bootstrap or not, the weights of each tree sum to n.
    let grower = Grower::new(data, y, params, n as u64);
    Ok((0..n_trees)
        .into_par_iter()
        .map(|t| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(t as u64);
            let weights = if bootstrap {
                let mut w = vec![0u32; n];
                for _ in 0..n {
                    w[rng.gen_range(0..n as u32) as usize] += 1;
                }
                w
            } else {
                vec![1u32; n]
            };
            let tree = grower.grow(&weights, Some(&mut rng), false);
            on_tree();
            tree
        })
        .collect())
}

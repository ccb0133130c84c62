//! Random forest over the histogram CART learner ([`super::cart`]): trees
//! grown in parallel, each on a bootstrap sample, with a fresh random subset
//! of features examined at every split; probabilities are the average of the
//! trees' leaf distributions (scikit-learn's `RandomForestClassifier`).
//!
//! Why not linfa-trees / linfa-ensemble: linfa-trees rescans every sample at
//! every node, and linfa-ensemble grows the trees one after another with one
//! feature subset per tree rather than per split; see the README's dependency
//! table. [`ForestParams`] implements linfa's `Fit` and [`Forest`] linfa's `Predict`.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::cart::{self, Binned, Criterion, Tree, TreeParams};
use super::top_two;
use super::{invalid, Estimator, ModelKind, Params, Progress, Training};
use crate::api::why::{ForestWhy, Why};
use crate::error::Result;
use crate::scale::{Scaler, Scaling};

/// Hyperparameters of the random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub n_trees: usize,
    /// Each tree trains on n draws with replacement.
    pub bootstrap: bool,
    pub seed: u64,
    /// Growth of each tree (`max_features` per split).
    pub tree: TreeParams,
    /// Pixel scaling: deskewing or none (thresholds need no other; a tree
    /// saved before this field was fit without).
    #[serde(default)]
    pub scaling: Scaling,
    /// Train on the digits plus distorted copies of them (handwriting
    /// distortions; see [`crate::augment`]).
    #[serde(default)]
    pub augment: crate::augment::Augment,
}

impl Default for ForestParams {
    fn default() -> Self {
        // Chosen on the validation split (notebooks/04_6_random_forest.ipynb).
        ForestParams {
            n_trees: 300,
            bootstrap: true,
            seed: 42,
            tree: TreeParams {
                criterion: Criterion::Gini,
                max_depth: None,
                min_samples_split: 2,
                min_samples_leaf: 1,
                max_features: Some(40),
            },
            // Deskewed: an upright digit asks far fewer splits than one at
            // any slant (validation 98.68% → 98.84%).
            scaling: Scaling::Deskew,
            augment: crate::augment::Augment::copies(1)
                .with_typed(crate::augment::TYPED_PER_CLASS)
                .with_pictures(crate::augment::PICTURES_PER_SOURCE),
        }
    }
}

impl ForestParams {
    /// The configuration `mnist compare` gives scikit-learn's
    /// `RandomForestClassifier` too: 100 Gini trees on bootstraps, 40
    /// features per split, raw pixels, `seed`.
    pub fn as_scikit_learn(seed: u64) -> Self {
        ForestParams {
            n_trees: 100,
            bootstrap: true,
            seed,
            tree: TreeParams {
                criterion: Criterion::Gini,
                max_features: Some(40),
                ..TreeParams::default()
            },
            scaling: Scaling::None,
            augment: crate::augment::Augment::NONE,
        }
    }
}

impl Params for ForestParams {
    fn kind(&self) -> ModelKind {
        ModelKind::Forest
    }

    /// Deskewed or not, then the raw pixel values (a threshold needs no
    /// other scaling).
    fn scaling(&self) -> Scaling {
        self.scaling
    }

    fn augmentation(&self) -> crate::augment::Augment {
        self.augment
    }
}

impl Estimator for ForestParams {
    type Fitted = Vec<Tree>;

    fn check(&self) -> Result<()> {
        if self.n_trees == 0 {
            return Err(invalid(ModelKind::Forest, "n_trees", "must be at least 1"));
        }
        TreeParams::check_scaling(ModelKind::Forest, self.scaling)?;
        self.tree.check(ModelKind::Forest)
    }

    fn learn(
        &self,
        data: Training<'_>,
        progress: &dyn Progress,
    ) -> Result<(Vec<Tree>, Option<super::History>)> {
        let binned = Binned::from_pixels(data.x)?;
        let y: Vec<u8> = data.y.to_vec();
        progress.begin(
            &format!("random forest: {} trees", self.n_trees),
            self.n_trees as u64,
        );
        let trees = cart::grow_forest(
            &binned,
            &y,
            &self.tree,
            self.n_trees,
            self.bootstrap,
            self.seed,
            &|| progress.advance(1),
        );
        progress.end();
        let trees = trees?;
        let nodes: usize = trees.iter().map(|t| t.n_nodes()).sum();
        let depth = trees.iter().map(|t| t.depth()).max().unwrap_or(0);
        progress.note(&format!(
            "{} trees, {nodes} nodes in all, deepest {depth}",
            trees.len()
        ));
        Ok((trees, None))
    }

    /// Each tree's vote (its leaf's most frequent digit) and the pixels
    /// tested on the paths.
    fn why(&self, trees: &Vec<Tree>, scaler: &Scaler, pixels: ArrayView2<f32>) -> Result<Why> {
        let scaled = scaler.transform(&pixels)?;
        let x = scaled.view();
        let row = cart::one_row(x)?;
        let mut votes = vec![0u32; crate::data::CLASSES];
        let mut tested = vec![0u32; row.len()];
        for tree in trees {
            let (path, leaf) = tree.path(&row)?;
            votes[top_two(leaf).0] += 1;
            for test in path {
                tested[usize::from(test.pixel)] += 1;
            }
        }
        Ok(Why::Forest(ForestWhy { votes, tested }))
    }

    fn predict_proba(&self, trees: &Vec<Tree>, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        cart::predict_proba(trees, x)
    }

    fn to_bytes(&self, trees: &Vec<Tree>) -> Result<Vec<u8>> {
        let first = trees.first().ok_or_else(|| {
            crate::Error::InvalidData("a random forest of no trees has no model file".into())
        })?;
        Ok(cart::write_trees(trees, first.n_features()))
    }

    fn fitted_from_bytes(&self, _scaler: &Scaler, payload: &[u8]) -> Result<Vec<Tree>> {
        Ok(cart::read_trees(payload, "random forest parameters")?.0)
    }
}

super::linfa_fit!(ForestParams);

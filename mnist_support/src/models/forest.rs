//! Random forest over the histogram CART learner ([`super::cart`]): trees
//! grown in parallel, each on a bootstrap sample, with a fresh random subset
//! of features examined at every split; probabilities are the average of the
//! trees' leaf distributions (scikit-learn's `RandomForestClassifier`).
//!
//! Why not linfa-trees / linfa-ensemble: linfa-trees rescans every sample at
//! every node, and linfa-ensemble grows the trees one after another with one
//! feature subset per tree rather than per split; see the README's dependency
//! table. [`ForestParams`] implements linfa's `Fit` and [`Forest`] linfa's `Predict`.

use ndarray::{Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::cart::{self, Binned, Criterion, Tree, TreeParams};
use super::{check_xy, codec, not_fitted, Classifier, Kind, Progress};
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
            augment: crate::augment::Augment::copies(1).with_typed(crate::augment::TYPED_PER_CLASS),
        }
    }
}

/// Trees as model-file bytes: features per row, tree count, then each tree.
pub(crate) fn write_trees(trees: &[Tree], d: usize) -> Vec<u8> {
    use codec::Put;
    let mut out = Vec::new();
    out.put_u64(d as u64);
    out.put_u64(trees.len() as u64);
    for t in trees {
        t.write_bytes(&mut out);
    }
    out
}

/// Inverse of [`write_trees`]; every byte must be used.
pub(crate) fn read_trees(payload: &[u8], what: &str) -> Result<(Vec<Tree>, usize)> {
    let mut r = codec::Reader::new(payload, what);
    let d = r.count(cart::MAX_TREE_FEATURES, "features")?;
    let n = r.count(payload.len(), "trees")?;
    if n == 0 {
        return Err(r.error("no trees"));
    }
    let mut pos = r.position();
    let mut trees = Vec::with_capacity(n);
    for _ in 0..n {
        trees.push(Tree::read_bytes(payload, &mut pos, d)?);
    }
    if pos != payload.len() {
        return Err(r.error(format!("{} unexpected trailing bytes", payload.len() - pos)));
    }
    Ok((trees, d))
}

/// A random forest as a [`Classifier`] (raw pixels, no scaling: trees only
/// compare pixel values with thresholds).
#[derive(Debug, Clone)]
pub struct Forest {
    pub params: ForestParams,
    trees: Vec<Tree>,
}

impl Forest {
    pub fn new(params: ForestParams) -> Self {
        Forest {
            params,
            trees: Vec::new(),
        }
    }

    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    pub fn restore(params: ForestParams, _scaler: Scaler, payload: &[u8]) -> Result<Self> {
        let (trees, _) = read_trees(payload, "random forest parameters")?;
        Ok(Forest { params, trees })
    }
}

impl Classifier for Forest {
    fn restore_in_place(
        &mut self,
        scaler: Scaler,
        payload: &[u8],
        _: Option<super::History>,
    ) -> Result<()> {
        *self = Self::restore(self.params.clone(), scaler, payload)?;
        Ok(())
    }
    fn kind(&self) -> Kind {
        Kind::Forest
    }

    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).expect("plain data serializes")
    }

    fn augmentation(&self) -> crate::augment::Augment {
        self.params.augment
    }

    fn scaling(&self) -> Scaling {
        Scaling::None
    }

    fn scaler(&self) -> &Scaler {
        &Scaler::None
    }

    fn is_fitted(&self) -> bool {
        !self.trees.is_empty()
    }

    fn fit_scaled(
        &mut self,
        _scaler: Scaler,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_xy(&x, &y)?;
        let data = Binned::from_pixels(x)?;
        let y: Vec<u8> = y.to_vec();
        progress.begin(
            &format!("random forest: {} trees", self.params.n_trees),
            self.params.n_trees as u64,
        );
        let trees = cart::grow_forest(
            &data,
            &y,
            &self.params.tree,
            self.params.n_trees,
            self.params.bootstrap,
            self.params.seed,
            &|| progress.advance(1),
        );
        progress.end();
        self.trees = trees?;
        let nodes: usize = self.trees.iter().map(|t| t.n_nodes()).sum();
        let depth = self.trees.iter().map(|t| t.depth()).max().unwrap_or(0);
        progress.note(&format!(
            "{} trees, {nodes} nodes in all, deepest {depth}",
            self.trees.len()
        ));
        Ok(())
    }

    fn predict_proba_scaled(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        if self.trees.is_empty() {
            return Err(not_fitted(Kind::Forest));
        }
        cart::predict_proba(&self.trees, x)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        let first = self.trees.first().ok_or_else(|| not_fitted(Kind::Forest))?;
        Ok(write_trees(&self.trees, first.n_features()))
    }
}

super::linfa_traits!(ForestParams, Forest);

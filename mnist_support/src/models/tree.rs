//! A single decision tree (CART) grown by the histogram learner in
//! [`super::cart`], like scikit-learn's `DecisionTreeClassifier`.
//!
//! Why not linfa-trees: it rescans every sample at every node (cost grows with
//! nodes × features × samples); see the README's dependency table.
//! [`DecisionTreeParams`] implements linfa's `Fit` and [`DecisionTree`] linfa's `Predict`.

use ndarray::{Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::cart::{self, Binned, Criterion, Tree, TreeParams};
use super::forest::{read_trees, write_trees};
use super::{check_xy, not_fitted, Classifier, Kind, Progress};
use crate::error::{Error, Result};
use crate::scale::{Scaler, Scaling};

/// Hyperparameters of the decision tree (all features at every split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTreeParams {
    pub tree: TreeParams,
    /// Train on the digits plus distorted copies of them (handwriting
    /// distortions; see [`crate::augment`]).
    #[serde(default)]
    pub augment: crate::augment::Augment,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        // Chosen on the validation split (notebooks/04_5_decision_tree.ipynb).
        DecisionTreeParams {
            tree: TreeParams {
                criterion: Criterion::Entropy,
                max_depth: None,
                min_samples_split: 2,
                min_samples_leaf: 1,
                max_features: None,
            },
            augment: crate::augment::Augment::copies(1).with_typed(crate::augment::TYPED_PER_CLASS),
        }
    }
}

/// A decision tree as a [`Classifier`] (raw pixels, no scaling).
#[derive(Debug, Clone)]
pub struct DecisionTree {
    pub params: DecisionTreeParams,
    tree: Option<Tree>,
}

impl DecisionTree {
    pub fn new(params: DecisionTreeParams) -> Self {
        DecisionTree { params, tree: None }
    }

    pub fn tree(&self) -> Option<&Tree> {
        self.tree.as_ref()
    }

    pub fn restore(params: DecisionTreeParams, _scaler: Scaler, payload: &[u8]) -> Result<Self> {
        let (mut trees, _) = read_trees(payload, "decision tree parameters")?;
        if trees.len() != 1 {
            return Err(Error::Decode {
                what: "decision tree parameters".into(),
                reason: format!("{} trees instead of one", trees.len()),
            });
        }
        Ok(DecisionTree {
            params,
            tree: trees.pop(),
        })
    }
}

impl Classifier for DecisionTree {
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
        Kind::Tree
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
        self.tree.is_some()
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
        let weights = vec![1u32; y.len()];
        // The generator is only used when max_features is set.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let tree = Tree::grow(&data, &y, &weights, &self.params.tree, &mut rng)?;
        progress.note(&format!(
            "{} nodes, {} leaves, depth {}",
            tree.n_nodes(),
            tree.n_leaves(),
            tree.depth()
        ));
        self.tree = Some(tree);
        Ok(())
    }

    fn predict_proba_scaled(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let tree = self.tree.as_ref().ok_or_else(|| not_fitted(Kind::Tree))?;
        cart::predict_proba(std::slice::from_ref(tree), x)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        let tree = self.tree.as_ref().ok_or_else(|| not_fitted(Kind::Tree))?;
        Ok(write_trees(std::slice::from_ref(tree), tree.n_features()))
    }
}

super::linfa_traits!(DecisionTreeParams, DecisionTree);

//! Why a fitted model gave its answer for one picture, in the model's own
//! terms: plain data, which each model fills
//! ([`Classifier::why`](crate::models::Classifier::why)),
//! [`crate::explain`] completes and the server sends as JSON.

use serde::{Deserialize, Serialize};

/// One model's reasons for its answer to one picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Why {
    Softmax(SoftmaxWhy),
    Knn(KnnWhy),
    Tree(TreeWhy),
    Forest(ForestWhy),
    Svm(SvmWhy),
    Network(NetworkWhy),
    /// A model that explains itself only by the common saliency.
    Saliency,
}

impl Why {
    /// The model's own saliency, where it has one (the networks' integrated
    /// gradients, kNN's margin); the others are explained by occlusion.
    pub fn saliency(&self) -> Option<&[f32]> {
        match self {
            Why::Network(n) => Some(&n.attributions),
            Why::Knn(k) => Some(&k.saliency),
            _ => None,
        }
    }
}

/// Softmax regression: the logits are sums of per-pixel contributions
/// (weight × scaled pixel) and a bias, for the answer and the runner-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxWhy {
    /// The ten logits (`x·W + b` of the scaled picture).
    pub logits: Vec<f32>,
    /// The answer's and the runner-up's side.
    pub classes: [ClassEvidence; 2],
}

/// One class of [`SoftmaxWhy`]: its weight template, the contributions of
/// the scaled pixels (template × pixel), which with `bias` sum to its logit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassEvidence {
    pub digit: u8,
    /// 784 weights.
    pub template: Vec<f32>,
    /// 784 contributions.
    pub contributions: Vec<f32>,
    pub bias: f32,
}

/// k-nearest neighbours: the k training digits nearest the scaled picture,
/// and the vote they cast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnWhy {
    /// Nearest first.
    pub neighbours: Vec<Neighbour>,
    /// The vote's share of each digit (uniform or by inverse distance).
    pub votes: Vec<f32>,
    /// kNN's saliency: for each pixel, how much blanking it narrows the
    /// answer's margin (the mean distance to the nearest other digits less
    /// the mean distance to the nearest digits of the answer).
    pub saliency: Vec<f32>,
}

/// One training digit of [`KnnWhy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Its row in the stored training set.
    pub index: u32,
    pub label: u8,
    /// Euclidean distance in the space searched (scaled pixels, or their
    /// principal directions).
    pub distance: f32,
    /// The stored training digit, 784 bytes (0–255, deskewed as stored).
    pub picture: Vec<u8>,
}

/// A decision tree: the pixel tests from the root to the leaf, and the
/// leaf's class distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeWhy {
    pub path: Vec<PixelTest>,
    /// The leaf's class fractions (its training digits).
    pub leaf: Vec<f32>,
}

/// One split of a tree's path: `value <= threshold` went left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelTest {
    /// Pixel index, row-major (`row * 28 + column`).
    pub pixel: u16,
    pub threshold: u8,
    /// The picture's pixel as the tree reads it (scaled, quantized).
    pub value: u8,
    pub left: bool,
}

/// A random forest: its trees' votes and how often each pixel was tested
/// on this picture's paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestWhy {
    /// Trees whose leaf favours each digit.
    pub votes: Vec<u32>,
    /// For each of the 784 pixels, the tests of it on the paths.
    pub tested: Vec<u32>,
}

/// The RBF SVM: its 45 pairwise votes, and in the machine between the answer
/// and the runner-up, the support vectors that pulled hardest toward each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvmWhy {
    /// Pairwise machines won by each digit (45 in all).
    pub votes: Vec<u32>,
    /// The answer and the runner-up.
    pub pair: [u8; 2],
    /// Their machine's decision value, above 0 toward the answer.
    pub decision: f32,
    /// The strongest pulls toward the answer, then toward the runner-up
    /// (three each at most), strongest first.
    pub pulls: Vec<Pull>,
}

/// One support vector's pull (|y·α·K(x, sv)|) in [`SvmWhy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pull {
    /// Its row in the support-vector table.
    pub index: u32,
    /// The digit it pulls toward (its own).
    pub toward: u8,
    pub pull: f32,
    /// The support vector as 784 bytes (0–255; deskewed, and back from the
    /// principal directions when the SVM measures in them).
    pub picture: Vec<u8>,
}

/// A network (DNN, CNN): integrated gradients of the answer's logit, from
/// the blank picture to this one (8 points of the straight path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkWhy {
    /// The answer's logit for the picture, and for the blank picture.
    pub logit: f32,
    pub blank_logit: f32,
    /// 784 values: each pixel's share of `logit − blank_logit`, which they
    /// sum to (within the path's discretization).
    pub attributions: Vec<f32>,
}

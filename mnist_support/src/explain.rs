//! Every answer explained: for one picture and one model, why the model gave
//! its answer, in the model's own terms ([`Why`]: the softmax's pixel
//! contributions, kNN's neighbours, the SVM's strongest support vectors, the
//! tree's path, the forest's votes, the networks' integrated gradients), and
//! in one form common to all of them, the **saliency**, 784 values, the
//! evidence each pixel gives for the answer: for the networks their
//! integrated gradients (the same on candle as on libtorch), for kNN how
//! much blanking the pixel narrows its answer's margin over the other
//! digits; for the others occlusion, how much the probability of the answer
//! falls when that pixel is blanked (the background, which blanking leaves
//! as it is, scores 0, and a pixel whose blanking raises the probability
//! scores below 0). An [`Explanation`] renders inline
//! as a figure; [`answers_and_errors`] shows a model's correct answers and
//! errors side by side, [`side_by_side`] several models on one picture.

use ndarray::{Array1, Array2, ArrayView1, Axis};

use crate::api::why::Why;
pub use crate::api::Explanation;
use crate::data::{PIXELS, SIDE};
use crate::display::{Bundle, Figure, Panel, Rich};
use crate::error::{Error, Result};
use crate::models::{argmax_rows, check_pixels, Classifier, ModelKind};
use crate::plot::{self, Picture};

/// Explain `model`'s answer for `pixels` (784 raw pixels, 0–255).
pub fn explain(model: &dyn Classifier, pixels: ArrayView1<f32>) -> Result<Explanation> {
    let x = pixels.insert_axis(Axis(0));
    check_pixels(&x)?;
    let p = model.predict_proba(x)?;
    let answer = argmax_rows(&p)[0];
    let why = model.why(pixels)?;
    let saliency = match why.saliency() {
        Some(own) => own.to_vec(),
        None => occlusion(
            model,
            pixels,
            answer,
            p[[0, usize::from(answer)]],
            patch_radius(model.kind()),
        )?,
    };
    Ok(Explanation {
        model: model.name().into(),
        input: (pixels.iter()).map(|&v| crate::data::to_byte(v)).collect(),
        answer,
        probabilities: p.row(0).to_vec(),
        saliency,
        why,
        map: None,
    })
}

/// The occlusion patch of `kind`: the pixel alone (0), or for the trees,
/// whose probabilities change only where a test's threshold is crossed and
/// which read the deskewed picture (a pixel may move by one), the 3×3
/// square around it (1).
fn patch_radius(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Tree | ModelKind::Forest => 1,
        _ => 0,
    }
}

/// For every ink pixel (above 0) of `pixels`, `p0` less the probability of
/// `answer` with the square of `radius` around it blanked; 0 for the
/// background. One batch.
fn occlusion(
    model: &dyn Classifier,
    pixels: ArrayView1<f32>,
    answer: u8,
    p0: f32,
    radius: usize,
) -> Result<Vec<f32>> {
    let ink: Vec<usize> = (0..PIXELS).filter(|&i| pixels[i] > 0.0).collect();
    let mut saliency = vec![0.0; PIXELS];
    if ink.is_empty() {
        return Ok(saliency);
    }
    let mut blanked = Array2::<f32>::zeros((ink.len(), PIXELS));
    for (mut row, &i) in blanked.rows_mut().into_iter().zip(&ink) {
        row.assign(&pixels);
        let (r, c) = (i / SIDE, i % SIDE);
        for y in r.saturating_sub(radius)..(r + radius + 1).min(SIDE) {
            for x in c.saturating_sub(radius)..(c + radius + 1).min(SIDE) {
                row[y * SIDE + x] = 0.0;
            }
        }
    }
    let p = model.predict_proba(blanked.view())?;
    for (r, &i) in ink.iter().enumerate() {
        saliency[i] = p0 - p[[r, usize::from(answer)]];
    }
    Ok(saliency)
}

/// `model`'s explanations of the first `n` digits of `x` it gets right and
/// the first `n` it gets wrong (`y` the labels): a model notebook's *Why*
/// cell, on its test split.
pub fn answers_and_errors(
    model: &dyn Classifier,
    x: &Array2<f32>,
    y: &Array1<u8>,
    n: usize,
) -> Result<Panel> {
    if x.nrows() != y.len() {
        return Err(Error::Shape(format!(
            "{} pictures and {} labels",
            x.nrows(),
            y.len()
        )));
    }
    let predicted = model.predict(x.view())?;
    let pick = |right: bool| -> Vec<usize> {
        (0..y.len())
            .filter(|&i| (predicted[i] == y[i]) == right)
            .take(n)
            .collect()
    };
    let mut panel = Panel::new();
    for (right, heading) in [(true, "answered right"), (false, "answered wrong")] {
        let chosen = pick(right);
        panel = panel.paragraph(format!(
            "{}: {} test digits {heading} ({} in all)",
            model.name(),
            chosen.len(),
            (0..y.len())
                .filter(|&i| (predicted[i] == y[i]) == right)
                .count()
        ));
        for i in chosen {
            let e = explain(model, x.row(i))?;
            panel = panel.figure(&e.figure(Some(y[i]), &format!("test digit {i}"))?);
        }
    }
    Ok(panel)
}

/// Several models' explanations of one picture, one row each.
pub fn side_by_side(
    models: &[&dyn Classifier],
    pixels: ArrayView1<f32>,
    label: Option<u8>,
) -> Result<Figure> {
    let rows = (models.iter())
        .map(|m| Ok(explain(*m, pixels)?.pictures(label)))
        .collect::<Result<Vec<_>>>()?;
    plot::picture_rows(
        &format!(
            "The same digit{}, explained by {} models (red: evidence for the answer, blue: against)",
            label.map(|l| format!(" (a {l})")).unwrap_or_default(),
            models.len()
        ),
        &rows,
        112,
    )
}

impl Explanation {
    /// The probability of the answer.
    pub fn confidence(&self) -> f32 {
        self.probabilities
            .get(usize::from(self.answer))
            .copied()
            .unwrap_or(0.0)
    }

    /// One row of pictures: the input, the saliency over it, then the
    /// model's own reasons (`label`: the true digit, when known).
    pub fn pictures(&self, label: Option<u8>) -> Vec<Picture> {
        let input: Vec<f32> = self.input.iter().map(|&v| f32::from(v)).collect();
        let verdict = match label {
            Some(l) if l == self.answer => " ✓".to_string(),
            Some(l) => format!(" ✗ (a {l})"),
            None => String::new(),
        };
        let mut row = vec![
            Picture::mnist(
                &input,
                vec![
                    self.model.clone(),
                    format!("says {}{verdict}", self.answer),
                    format!("p = {:.2}", self.confidence()),
                ],
            ),
            Picture::mnist(&input, vec!["saliency".into()]).with_heat(&self.saliency),
        ];
        row.extend(self.reasons(&input));
        row
    }

    /// The model's own reasons as pictures.
    fn reasons(&self, input: &[f32]) -> Vec<Picture> {
        let stored = |bytes: &[u8], caption: Vec<String>| {
            Picture::mnist(
                &bytes.iter().map(|&v| f32::from(v)).collect::<Vec<_>>(),
                caption,
            )
        };
        match &self.why {
            Why::Softmax(s) => (s.classes.iter())
                .flat_map(|c| {
                    [
                        Picture::heat(&c.template, vec![format!("weights of {}", c.digit)]),
                        Picture::heat(
                            &c.contributions,
                            vec![
                                format!("{}: logit {:.1}", c.digit, s.logits[usize::from(c.digit)]),
                                format!("bias {:.1}", c.bias),
                            ],
                        ),
                    ]
                })
                .collect(),
            Why::Knn(k) => (k.neighbours.iter())
                .map(|n| {
                    stored(
                        &n.picture,
                        vec![
                            format!("a {}", n.label),
                            format!("distance {:.2}", n.distance),
                        ],
                    )
                })
                .collect(),
            Why::Svm(s) => (s.pulls.iter())
                .map(|p| {
                    stored(
                        &p.picture,
                        vec![
                            format!("pulls to {}", p.toward),
                            format!("by {:.2}", p.pull),
                        ],
                    )
                })
                .collect(),
            Why::Tree(t) => {
                // Ink found (+) or missing (−) where the path looked.
                let mut marks = vec![0.0; PIXELS];
                for test in &t.path {
                    marks[usize::from(test.pixel)] = if test.left { -1.0 } else { 1.0 };
                }
                let top = t.leaf.iter().fold(0f32, |m, &v| m.max(v));
                vec![Picture::mnist(
                    input,
                    vec![
                        format!("{} pixel tests", t.path.len()),
                        format!("leaf: {:.0}% a {}", 100.0 * top, self.answer),
                    ],
                )
                .with_heat(&marks)]
            }
            Why::Forest(f) => {
                let tested: Vec<f32> = f.tested.iter().map(|&n| n as f32).collect();
                let trees: u32 = f.votes.iter().sum();
                vec![Picture::mnist(
                    input,
                    vec![
                        "pixels tested".into(),
                        format!("{} of {trees} trees", f.votes[usize::from(self.answer)]),
                    ],
                )
                .with_heat(&tested)]
            }
            Why::Network(_) | Why::Saliency => Vec::new(),
        }
    }

    /// The row of [`pictures`](Explanation::pictures) as a figure.
    pub fn figure(&self, label: Option<u8>, what: &str) -> Result<Figure> {
        plot::picture_rows(
            &format!("Why {} said {} for {what}", self.model, self.answer),
            &[self.pictures(label)],
            112,
        )
    }
}

impl Rich for Explanation {
    fn bundle(&self) -> Bundle {
        match self.figure(None, "this picture") {
            Ok(f) => f.bundle(),
            Err(e) => Panel::new()
                .paragraph(format!("(explanation figure unavailable: {e})"))
                .bundle(),
        }
    }
}

crate::display::inherent_rich!(Explanation);

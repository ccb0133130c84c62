//! The grader's checklist: one row per requirement of the assignment, each
//! with the notebook and cell that meets it and the evidence (a shape, a
//! file, an accuracy), read from the run's executed notebooks
//! ([`Config::executed_dir`]) and the files they saved. Notebook 05 shows it
//! last, and [`Checklist::require`] fails the run when a row has no evidence.

use std::path::{Path, PathBuf};

use crate::config::{project_root, Config};
use crate::display::{Bundle, Rich, Table};
use crate::error::{Error, Result};
use crate::metrics::percent;
use crate::models::ModelKind;

/// One requirement and where it is met.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub requirement: String,
    /// The notebook that meets it (its file name without `.ipynb`).
    pub notebook: String,
    /// The cell's id in that notebook.
    pub cell: Option<String>,
    /// What shows it is met; `None`: missing.
    pub evidence: Option<String>,
    /// The nbgrader task (a manually graded markdown cell, the one above
    /// the answering cell) that grades it, and its points.
    pub task: Option<(String, u32)>,
}

/// Every requirement of the assignment, met or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Checklist {
    pub rows: Vec<Row>,
    /// Where the executed notebooks were read from.
    pub executed: PathBuf,
}

/// The model notebooks, in the assignment's order.
const MODEL_NOTEBOOKS: [(ModelKind, &str); 7] = [
    (ModelKind::Softmax, "04_1_softmax"),
    (ModelKind::Knn, "04_2_knn"),
    (ModelKind::Dnn, "04_3_dnn"),
    (ModelKind::Svm, "04_4_svm"),
    (ModelKind::Tree, "04_5_decision_tree"),
    (ModelKind::Forest, "04_6_random_forest"),
    (ModelKind::Cnn, "04_7_cnn"),
];

/// An executed notebook's code cells: id, the text of their outputs, images.
struct Executed {
    cells: Vec<(String, String, usize)>,
}

impl Executed {
    /// `<dir>/<name>.ipynb`, or `None` when it is missing or unreadable.
    fn read(dir: &Path, name: &str) -> Option<Executed> {
        let nb = read_json(&dir.join(format!("{name}.ipynb")))?;
        let joined = |v: &serde_json::Value| match v {
            serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
            other => other.as_str().unwrap_or("").to_string(),
        };
        let cells = (nb["cells"].as_array()?.iter())
            .filter(|c| c["cell_type"] == "code")
            .enumerate()
            .map(|(i, c)| {
                let (mut text, mut images) = (String::new(), 0);
                for out in c["outputs"].as_array().into_iter().flatten() {
                    text.push_str(&joined(&out["text"]));
                    let data = &out["data"];
                    text.push_str(&joined(&data["text/plain"]));
                    let html = joined(&data["text/html"]);
                    images += html.matches("data:image/png;base64,").count();
                    images += usize::from(data.get("image/png").is_some());
                    text.push_str(&html);
                    text.push('\n');
                }
                let id = c["id"]
                    .as_str()
                    .map_or_else(|| format!("code cell {}", i + 1), String::from);
                (id, text, images)
            })
            .collect();
        Some(Executed { cells })
    }

    /// The first cell whose outputs hold every one of `needles` (and at
    /// least `images` pictures): its id and the output lines that hold
    /// `show`.
    fn find(&self, needles: &[&str], images: usize, show: &str) -> Option<(String, Vec<String>)> {
        let (id, text, _) = self
            .cells
            .iter()
            .find(|(_, text, n)| *n >= images && needles.iter().all(|s| text.contains(s)))?;
        let lines = (text.lines())
            .filter(|l| l.contains(show) && !l.contains('<'))
            .map(|l| l.trim().to_string())
            .collect();
        Some((id.clone(), lines))
    }
}

/// `path` (its folder and name) and size, when it is a non-empty file.
fn file(path: &Path) -> Option<String> {
    let len = std::fs::metadata(path).ok().filter(|m| m.is_file())?.len();
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let shown = match path.parent().and_then(name) {
        Some(dir) => format!("{dir}/{}", name(path)?),
        None => name(path)?,
    };
    (len > 0).then(|| format!("{shown} ({} KB)", len.div_ceil(1024)))
}

impl Checklist {
    /// The checklist of the run `config` describes: its executed notebooks,
    /// models directory and figures, and the Space written under the
    /// project's `space/`.
    pub fn of_run(config: &Config) -> Checklist {
        let root = project_root();
        Checklist::build(
            &config.executed_dir,
            &config.models_dir,
            &root.join("notebooks").join("figures"),
            &root.join("space"),
            &root.join("notebooks"),
        )
    }

    /// The checklist from the executed notebooks in `executed` and the files
    /// in `models`, `figures` and `space`; `notebooks` holds the notebooks
    /// themselves (the last one's cells are named from it, as it runs).
    pub fn build(
        executed: &Path,
        models: &Path,
        figures: &Path,
        space: &Path,
        notebooks: &Path,
    ) -> Checklist {
        let mut rows = Vec::new();
        // Each notebook's source, read once.
        let mut sources = std::collections::HashMap::new();
        let mut row = |requirement: String, notebook: &str, found: Option<(String, String)>| {
            let (cell, evidence) = found.map_or((None, None), |(c, e)| (Some(c), Some(e)));
            let source = sources
                .entry(notebook.to_string())
                .or_insert_with(|| read_json(&notebooks.join(format!("{notebook}.ipynb"))));
            let task = (cell.as_deref()).and_then(|c| task_above(source.as_ref()?, c));
            rows.push(Row {
                requirement,
                notebook: notebook.into(),
                cell,
                evidence: evidence.filter(|_| task.is_some()),
                task,
            });
        };
        let nb = |name: &str| Executed::read(executed, name);
        let first = |lines: Vec<String>| lines.into_iter().next().unwrap_or_default();

        let n01 = nb("01_prepare_data");
        row(
            "X_train, X_valid, X_test, y_train, y_valid, y_test and their shapes".into(),
            "01_prepare_data",
            n01.as_ref().and_then(|n| {
                let needles = [
                    "X_train: (",
                    "y_train: (",
                    "X_valid: (",
                    "y_valid: (",
                    "X_test:",
                ];
                let (id, lines) = n.find(&needles, 0, "X_")?;
                let shapes: Vec<String> = lines.into_iter().filter(|l| l.contains("y_")).collect();
                (shapes.len() >= 3).then(|| (id, shapes.join("; ")))
            }),
        );
        let n02 = nb("02_visualize_digits");
        row(
            "9 random training digits in a 3×3 grid, saved as one figure".into(),
            "02_visualize_digits",
            n02.as_ref().and_then(|n| {
                let (id, _) = n.find(&["digits_3x3.png"], 1, "digits_3x3")?;
                Some((id, file(&figures.join("digits_3x3.png"))?))
            }),
        );
        let n03 = nb("03_class_frequency");
        row(
            "Class frequencies of each split, printed and plotted".into(),
            "03_class_frequency",
            n03.as_ref().and_then(|n| {
                n.find(&["Class frequency per split", "valid", "test"], 0, "Class")?;
                let (id, _) = n.find(&["class_frequency.png"], 0, "class_frequency")?;
                Some((id, file(&figures.join("class_frequency.png"))?))
            }),
        );
        row(
            "A balanced or imbalanced verdict for each split".into(),
            "03_class_frequency",
            n03.as_ref().and_then(|n| {
                let (id, lines) = n.find(&["train: ", "valid: ", "test: "], 0, "balanced (")?;
                (lines.len() >= 3).then(|| (id, lines.join("; ")))
            }),
        );
        for (kind, name) in MODEL_NOTEBOOKS {
            let n = nb(name);
            let card = crate::store::Store::new(models).card(kind.name()).ok();
            let title = kind.title();
            let find = |needles: &[&str], images: usize, show: &str| {
                n.as_ref().and_then(|n| n.find(needles, images, show))
            };
            row(
                format!("{title}: feature scaling"),
                name,
                find(
                    &["(fit on the training split only)"],
                    0,
                    "(fit on the training",
                )
                .map(|(id, lines)| (id, first(lines))),
            );
            row(
                format!("{title}: training time"),
                name,
                find(&["trained in "], 0, "trained in ").map(|(id, lines)| (id, first(lines))),
            );
            let report = find(
                &["train accuracy", "valid accuracy", "test accuracy"],
                1,
                "",
            );
            row(
                format!("{title}: accuracy on train, valid and test"),
                name,
                report.clone().and_then(|(id, _)| {
                    let r = &card.as_ref()?.report;
                    let acc = |p| r.accuracy(p).map(percent);
                    use crate::data::Part;
                    let (train, valid, test) =
                        (acc(Part::Train)?, acc(Part::Valid)?, acc(Part::Test)?);
                    Some((id, format!("train {train}, valid {valid}, test {test}")))
                }),
            );
            row(
                format!("{title}: per-class accuracy on train, valid and test"),
                name,
                find(&["Per-class accuracy", "digit"], 0, "Per-class")
                    .map(|(id, _)| (id, "a table of 10 digits × 3 splits".into())),
            );
            row(
                format!("{title}: confusion matrices on train, valid and test"),
                name,
                report.and_then(|(id, _)| {
                    Some((
                        id,
                        file(&models.join(format!("{}.confusion.png", kind.name())))?,
                    ))
                }),
            );
            row(
                format!("{title}: the model saved to disk"),
                name,
                find(&["Saved", format!("{}.bin", kind.name()).as_str()], 0, "").and_then(
                    |(id, _)| {
                        card.as_ref()?;
                        Some((id, file(&models.join(format!("{}.bin", kind.name())))?))
                    },
                ),
            );
        }
        let n48 = nb("04_8_summary");
        row(
            "A summary dataframe of all seven models".into(),
            "04_8_summary",
            n48.as_ref().and_then(|n| {
                let (id, _) = n.find(&["polars DataFrame: 7 rows"], 0, "")?;
                Some((
                    id,
                    format!("7 rows; {}", file(&models.join("summary.csv"))?),
                ))
            }),
        );
        row(
            "Deployment: a Hugging Face Space with the page and the models".into(),
            "05_serve",
            deployment(space).map(|e| {
                let cell = source_cell(&notebooks.join("05_serve.ipynb"), "space::write");
                (cell.unwrap_or_else(|| "the Space cell".into()), e)
            }),
        );
        Checklist {
            rows,
            executed: executed.to_path_buf(),
        }
    }

    /// The rows without evidence.
    pub fn missing(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.evidence.is_none()).collect()
    }

    /// `Ok` when every row has its evidence, else an error naming the
    /// missing ones (what fails the run).
    pub fn require(&self) -> Result<()> {
        let missing = self.missing();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Incomplete(format!(
            "the grader's checklist misses {} of {} items (executed notebooks of this run in {}; `cargo run --release -- notebooks` writes them): {}",
            missing.len(),
            self.rows.len(),
            self.executed.display(),
            (missing.iter())
                .map(|r| format!("{} ({})", r.requirement, r.notebook))
                .collect::<Vec<_>>()
                .join("; ")
        )))
    }

    pub fn table(&self) -> Table {
        let rows = (self.rows.iter())
            .map(|r| {
                vec![
                    if r.evidence.is_some() { "✔" } else { "✘" }.to_string(),
                    r.requirement.clone(),
                    format!("{} {}", r.notebook, r.cell.as_deref().unwrap_or("")),
                    match (&r.evidence, &r.task) {
                        (Some(e), _) => e.clone(),
                        (None, None) if r.cell.is_some() => {
                            "no nbgrader task above the cell".into()
                        }
                        (None, _) => "missing".into(),
                    },
                    (r.task.as_ref())
                        .map(|(id, points)| format!("{id} ({points})"))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        let met = self.rows.len() - self.missing().len();
        Table::new(
            [
                "",
                "requirement",
                "notebook and cell",
                "evidence",
                "nbgrader task (points)",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        )
        .with_caption(format!(
            "The grader's checklist: {met} of {} requirements met",
            self.rows.len()
        ))
    }
}

/// The JSON file at `path`, when it reads and parses.
fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The nbgrader task that grades the cell `id` of notebook `nb`: the
/// nearest markdown cell above it, when it is a manually graded task
/// (`grade_id`, points).
fn task_above(nb: &serde_json::Value, id: &str) -> Option<(String, u32)> {
    let cells = nb["cells"].as_array()?;
    let at = cells.iter().position(|c| c["id"] == id)?;
    let above = cells[..at]
        .iter()
        .rev()
        .find(|c| c["cell_type"] == "markdown")?;
    let task = &above["metadata"]["nbgrader"];
    (task["task"] == true).then_some(())?;
    Some((
        task["grade_id"].as_str()?.to_string(),
        u32::try_from(task["points"].as_u64()?).ok()?,
    ))
}

/// The id of the first code cell of the notebook at `path` whose source holds `needle`.
fn source_cell(path: &Path, needle: &str) -> Option<String> {
    let nb = read_json(path)?;
    let cell = nb["cells"].as_array()?.iter().find(|c| {
        let src = &c["source"];
        if c["cell_type"] != "code" {
            return false;
        }
        match src {
            serde_json::Value::Array(lines) => lines
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.contains(needle))),
            other => other.as_str().is_some_and(|s| s.contains(needle)),
        }
    })?;
    cell["id"].as_str().map(String::from)
}

/// The Space written under `space`: its Dockerfile, a README that tells
/// Hugging Face to build it with Docker, and the seven models.
fn deployment(space: &Path) -> Option<String> {
    file(&space.join("Dockerfile"))?;
    let readme = std::fs::read_to_string(space.join("README.md")).ok()?;
    readme.contains("sdk: docker").then_some(())?;
    let models = (MODEL_NOTEBOOKS.iter())
        .filter(|(k, _)| file(&space.join("models").join(format!("{}.bin", k.name()))).is_some())
        .count();
    (models == MODEL_NOTEBOOKS.len()).then(|| {
        "space/: Dockerfile, README (sdk: docker), the 7 models; push it to a Docker Space".into()
    })
}

impl Rich for Checklist {
    fn bundle(&self) -> Bundle {
        self.table().bundle()
    }
}

crate::display::inherent_rich!(Checklist);

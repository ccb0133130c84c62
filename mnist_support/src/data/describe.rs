//! Presenting a split: [`SplitSummary`] (shapes and class counts of
//! train/valid/test, the seed's step-1 summary) and [`ClassFrequency`] (class
//! frequencies with a balanced/imbalanced verdict per split), as text
//! (`Display`), tables, JSON, and rich notebook output ([`Rich`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::display::{Bundle, Panel, Rich};

use super::{Part, CLASSES, PIXELS};

/// Rows and class counts of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartSummary {
    pub rows: usize,
    #[serde(skip, default = "pixels")]
    pub cols: usize,
    pub class_counts: [usize; CLASSES],
}

fn pixels() -> usize {
    PIXELS
}

/// The seed's step-1 summary: shapes and class counts of train/valid/test.
/// Serializes as `{"train": {"rows": .., "class_counts": [..]}, "valid": .., "test": ..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub train: PartSummary,
    pub valid: PartSummary,
    pub test: PartSummary,
}

impl SplitSummary {
    pub fn parts(&self) -> [(Part, &PartSummary); 3] {
        [
            (Part::Train, &self.train),
            (Part::Valid, &self.valid),
            (Part::Test, &self.test),
        ]
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    /// The summary as a table: one row per split.
    pub fn table(&self) -> crate::display::Table {
        let mut header = vec!["split".to_string(), "X shape".into(), "y shape".into()];
        header.extend((0..CLASSES).map(|d| d.to_string()));
        let rows = self
            .parts()
            .iter()
            .map(|(name, p)| {
                let mut r = vec![
                    name.to_string(),
                    format!("({}, {})", p.rows, p.cols),
                    format!("({},)", p.rows),
                ];
                r.extend(p.class_counts.iter().map(|c| c.to_string()));
                r
            })
            .collect();
        crate::display::Table::new(header, rows)
            .with_caption("MNIST split: shapes and images per class")
    }
}

impl fmt::Display for SplitSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, p) in self.parts() {
            writeln!(
                f,
                "X_{name:<5} shape: ({}, {})   y_{name:<5} shape: ({},)",
                p.rows, p.cols, p.rows
            )?;
        }
        writeln!(f, "images per class (digits 0-9):")?;
        for (name, p) in self.parts() {
            let counts: Vec<String> = p.class_counts.iter().map(|c| format!("{c:>5}")).collect();
            writeln!(f, "  {name:<5} {}", counts.join(" "))?;
        }
        Ok(())
    }
}

impl Rich for SplitSummary {
    fn bundle(&self) -> Bundle {
        vec![
            ("text/html", self.table().to_html()),
            ("text/plain", self.to_string()),
        ]
    }
}

crate::display::inherent_rich!(SplitSummary);

/// A split counts as balanced when its largest class is at most this many
/// times its smallest.
pub const BALANCE_THRESHOLD: f64 = 1.5;

/// Class frequencies of named splits with a balanced/imbalanced verdict each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassFrequency {
    pub splits: Vec<(String, [usize; CLASSES])>,
}

impl ClassFrequency {
    pub fn new(splits: Vec<(String, [usize; CLASSES])>) -> Self {
        ClassFrequency { splits }
    }

    /// max/min class count (infinite when a class is absent).
    pub fn ratio(counts: &[usize; CLASSES]) -> f64 {
        let max = *counts.iter().max().unwrap_or(&0) as f64;
        let min = *counts.iter().min().unwrap_or(&0) as f64;
        if min == 0.0 {
            f64::INFINITY
        } else {
            max / min
        }
    }

    pub fn is_balanced(counts: &[usize; CLASSES]) -> bool {
        Self::ratio(counts) <= BALANCE_THRESHOLD
    }

    /// One line per split: "train: balanced (max/min = 1.25 ≤ 1.5)".
    pub fn verdicts(&self) -> Vec<String> {
        self.splits
            .iter()
            .map(|(name, c)| {
                let r = Self::ratio(c);
                if Self::is_balanced(c) {
                    format!("{name}: balanced (largest/smallest class = {r:.2} ≤ {BALANCE_THRESHOLD})")
                } else {
                    format!("{name}: imbalanced (largest/smallest class = {r:.2} > {BALANCE_THRESHOLD})")
                }
            })
            .collect()
    }

    /// Bar charts of the class counts, one panel per split, side by side.
    pub fn chart(&self) -> crate::error::Result<crate::display::Figure> {
        crate::plot::class_frequency(&self.splits)
    }

    /// Digit rows; per split the count and its share.
    pub fn table(&self) -> crate::display::Table {
        let mut header = vec!["digit".to_string()];
        for (name, _) in &self.splits {
            header.push(format!("{name} count"));
            header.push(format!("{name} %"));
        }
        let mut rows = Vec::new();
        for d in 0..CLASSES {
            let mut r = vec![d.to_string()];
            for (_, c) in &self.splits {
                let total: usize = c.iter().sum();
                r.push(c[d].to_string());
                r.push(format!("{:.2}", 100.0 * c[d] as f64 / total.max(1) as f64));
            }
            rows.push(r);
        }
        let mut total = vec!["total".to_string()];
        let mut ratio = vec!["max/min".to_string()];
        let mut verdict = vec!["verdict".to_string()];
        for (_, c) in &self.splits {
            total.push(c.iter().sum::<usize>().to_string());
            total.push("100.00".into());
            ratio.push(format!("{:.3}", Self::ratio(c)));
            ratio.push(String::new());
            verdict.push(
                if Self::is_balanced(c) {
                    "balanced"
                } else {
                    "imbalanced"
                }
                .into(),
            );
            verdict.push(String::new());
        }
        rows.extend([total, ratio, verdict]);
        crate::display::Table::new(header, rows).with_caption("Class frequency per split")
    }
}

impl fmt::Display for ClassFrequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.table().to_text())?;
        for v in self.verdicts() {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
}

impl Rich for ClassFrequency {
    fn bundle(&self) -> Bundle {
        let mut panel = Panel::new().table(&self.table());
        match self.chart() {
            Ok(fig) => panel = panel.figure(&fig),
            Err(e) => panel = panel.paragraph(format!("(chart unavailable: {e})")),
        }
        for v in self.verdicts() {
            panel = panel.paragraph(v);
        }
        panel.bundle()
    }
}

crate::display::inherent_rich!(ClassFrequency);

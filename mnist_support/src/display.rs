//! Rich output, in one place: every figure and table type renders inline in
//! evcxr (through the `evcxr_display` protocol) and can save itself to disk.
//!
//! A type implements [`Rich`] (its MIME bundle) and gets `evcxr_display`,
//! `show` and `save_html` from it; evcxr calls `evcxr_display` on the last
//! expression of a cell.

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::error::{Error, Result};

/// A MIME bundle: `(mime type, payload)`; binary payloads are base64.
pub type Bundle = Vec<(&'static str, String)>;

/// Something that renders itself as rich output.
pub trait Rich {
    /// The bundle shown inline (text/plain should always be part of it).
    fn bundle(&self) -> Bundle;

    /// Print the bundle in evcxr's content protocol. evcxr calls this on a
    /// cell's final value; call it yourself to show a value mid-cell.
    fn evcxr_display(&self) {
        print!("{}", evcxr_payload(&self.bundle()));
    }

    /// Same as [`evcxr_display`](Rich::evcxr_display).
    fn show(&self) {
        self.evcxr_display()
    }
}

/// The text evcxr parses from stdout to build a display bundle.
pub fn evcxr_payload(bundle: &Bundle) -> String {
    let mut s = String::new();
    for (mime, payload) in bundle {
        s.push_str("EVCXR_BEGIN_CONTENT ");
        s.push_str(mime);
        s.push('\n');
        s.push_str(payload);
        if !payload.ends_with('\n') {
            s.push('\n');
        }
        s.push_str("EVCXR_END_CONTENT\n");
    }
    s
}

/// Write `bytes` to `path` atomically (temp file in the same directory, then rename),
/// creating parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let file_name = path.file_name().ok_or_else(|| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })?;
    Ok(path.to_path_buf())
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A rendered figure: PNG bytes plus its size.
#[derive(Clone, PartialEq)]
pub struct Figure {
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub png: Vec<u8>,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Figure({:?}, {}x{} px, {} bytes PNG)",
            self.title,
            self.width,
            self.height,
            self.png.len()
        )
    }
}

impl Figure {
    /// Encode an RGB8 buffer as a PNG figure.
    pub fn from_rgb(title: impl Into<String>, width: u32, height: u32, rgb: &[u8]) -> Result<Self> {
        if rgb.len() != (width * height * 3) as usize {
            return Err(Error::Shape(format!(
                "RGB buffer of {} bytes for a {width}x{height} image",
                rgb.len()
            )));
        }
        let mut png = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png, width, height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Balanced);
            let mut w = enc.write_header().map_err(|e| Error::Plot(e.to_string()))?;
            w.write_image_data(rgb)
                .map_err(|e| Error::Plot(e.to_string()))?;
        }
        Ok(Figure {
            title: title.into(),
            width,
            height,
            png,
        })
    }

    /// A PNG file as a figure (e.g. a screenshot or a figure a command wrote).
    pub fn load(title: impl Into<String>, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let png = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Figure::from_png(title, png, &path.display().to_string())
    }

    /// PNG bytes (from `what`) as a figure.
    pub fn from_png(title: impl Into<String>, png: Vec<u8>, what: &str) -> Result<Self> {
        let header = png::Decoder::new(std::io::Cursor::new(&png))
            .read_info()
            .map_err(|e| Error::Decode {
                what: what.to_string(),
                reason: e.to_string(),
            })?;
        let (width, height) = (header.info().width, header.info().height);
        Ok(Figure {
            title: title.into(),
            width,
            height,
            png,
        })
    }

    /// Save the PNG (atomically); returns the path written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        write_atomic(path.as_ref(), &self.png)
    }

    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.png)
    }

    /// An `<img>` tag with the PNG inline, for composite HTML output.
    pub fn img_tag(&self) -> String {
        format!(
            "<img alt=\"{}\" width=\"{}\" height=\"{}\" src=\"data:image/png;base64,{}\"/>",
            html_escape(&self.title),
            self.width,
            self.height,
            self.base64()
        )
    }
}

impl Rich for Figure {
    fn bundle(&self) -> Bundle {
        vec![
            ("image/png", self.base64()),
            ("text/plain", format!("{self:?}")),
        ]
    }
}

/// A table of strings with a header row; numeric-looking cells right-align.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub caption: Option<String>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn numeric(s: &str) -> bool {
    let t = s.trim_end_matches('%');
    !t.is_empty() && t.parse::<f64>().is_ok()
}

impl Table {
    pub fn new(header: Vec<String>, rows: Vec<Vec<String>>) -> Self {
        Table {
            caption: None,
            header,
            rows,
        }
    }

    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if i < w.len() {
                    w[i] = w[i].max(c.chars().count());
                } else {
                    w.push(c.chars().count());
                }
            }
        }
        w
    }

    /// Plain-text rendering with aligned columns.
    pub fn to_text(&self) -> String {
        let w = self.widths();
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if numeric(c) {
                        format!("{c:>width$}", width = w[i])
                    } else {
                        format!("{c:<width$}", width = w[i])
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        let mut s = String::new();
        if let Some(c) = &self.caption {
            s.push_str(c);
            s.push('\n');
        }
        s.push_str(&line(&self.header));
        s.push('\n');
        s.push_str(
            &w.iter()
                .map(|n| "-".repeat(*n))
                .collect::<Vec<_>>()
                .join("  "),
        );
        s.push('\n');
        for r in &self.rows {
            s.push_str(&line(r));
            s.push('\n');
        }
        s
    }

    /// HTML `<table>` rendering.
    pub fn to_html(&self) -> String {
        let mut s =
            String::from("<table class=\"mnist-table\" style=\"border-collapse:collapse\">");
        if let Some(c) = &self.caption {
            s.push_str(&format!(
                "<caption style=\"font-weight:bold;text-align:left\">{}</caption>",
                html_escape(c)
            ));
        }
        s.push_str("<thead><tr>");
        for h in &self.header {
            s.push_str(&format!(
                "<th style=\"padding:2px 8px;text-align:right\">{}</th>",
                html_escape(h)
            ));
        }
        s.push_str("</tr></thead><tbody>");
        for r in &self.rows {
            s.push_str("<tr>");
            for c in r {
                let align = if numeric(c) { "right" } else { "left" };
                s.push_str(&format!(
                    "<td style=\"padding:2px 8px;text-align:{align}\">{}</td>",
                    html_escape(c)
                ));
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
        s
    }

    /// GitHub-flavoured Markdown rendering.
    pub fn to_markdown(&self) -> String {
        let esc = |c: &String| c.replace('|', "\\|");
        let mut s = String::new();
        s.push_str(&format!(
            "| {} |\n",
            self.header.iter().map(esc).collect::<Vec<_>>().join(" | ")
        ));
        s.push_str(&format!(
            "|{}\n",
            self.header.iter().map(|_| "---|").collect::<String>()
        ));
        for r in &self.rows {
            s.push_str(&format!(
                "| {} |\n",
                r.iter().map(esc).collect::<Vec<_>>().join(" | ")
            ));
        }
        s
    }

    /// CSV rendering (RFC 4180 quoting).
    pub fn to_csv(&self) -> String {
        let q = |c: &String| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        };
        let mut s = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            s.push_str(&r.iter().map(q).collect::<Vec<_>>().join(","));
            s.push('\n');
        }
        s
    }

    /// Save as `.csv`, `.md`, `.html` or `.txt`, chosen by the extension.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => self.to_csv(),
            Some("md") => self.to_markdown(),
            Some("html") => self.to_html(),
            Some("txt") => self.to_text(),
            other => {
                return Err(Error::UnknownName {
                    what: "table format",
                    name: other.unwrap_or("").to_string(),
                    choices: "use .csv, .md, .html or .txt".into(),
                })
            }
        };
        write_atomic(path, text.as_bytes())
    }
}

impl Rich for Table {
    fn bundle(&self) -> Bundle {
        vec![
            ("text/html", self.to_html()),
            ("text/plain", self.to_text()),
        ]
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Several rich values shown as one output (HTML blocks stacked vertically;
/// figures as inline `<img>`), e.g. a table and its chart.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub html: Vec<String>,
    pub text: Vec<String>,
}

impl Panel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn table(mut self, t: &Table) -> Self {
        self.html.push(t.to_html());
        self.text.push(t.to_text());
        self
    }

    pub fn figure(mut self, f: &Figure) -> Self {
        self.html.push(f.img_tag());
        self.text.push(format!("{f:?}"));
        self
    }

    pub fn paragraph(mut self, s: impl Into<String>) -> Self {
        let s = s.into();
        self.html.push(format!("<p>{}</p>", html_escape(&s)));
        self.text.push(s);
        self
    }

    pub fn to_html(&self) -> String {
        self.html
            .iter()
            .map(|h| format!("<div style=\"margin:6px 0\">{h}</div>"))
            .collect()
    }
}

impl Rich for Panel {
    fn bundle(&self) -> Bundle {
        vec![
            ("text/html", self.to_html()),
            ("text/plain", self.text.join("\n")),
        ]
    }
}

/// Gives a [`Rich`] type inherent `evcxr_display`/`show` methods, so evcxr
/// finds them without the trait in scope.
macro_rules! inherent_rich {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            /// Rich inline output for evcxr.
            pub fn evcxr_display(&self) {
                <Self as $crate::display::Rich>::evcxr_display(self)
            }
            /// Show this value inline now (useful mid-cell).
            pub fn show(&self) {
                <Self as $crate::display::Rich>::evcxr_display(self)
            }
        }
    )*};
}

pub(crate) use inherent_rich;

inherent_rich!(Figure, Table, Panel);

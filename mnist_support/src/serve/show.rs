//! The server of notebook 05: started on a thread of the kernel's process
//! ([`start_with`]), shown inline (its link, its page in a frame, a
//! screenshot, the models it serves).

use super::{Background, Networks, Options};
use crate::config::Config;
use crate::display::{html_escape, Bundle, Figure, Rich, Table};
use crate::error::{Error, Result};

/// Serve the saved models of `config` (its models directory) and the digit
/// gate beside them, with the page's examples (from its MNIST files), on
/// `port` of 127.0.0.1 (0: any free port), on a thread of this process,
/// without a log line per request; its [`page`](Background::page) frames
/// the configured Space when there is one.
pub fn start_with(config: &Config, port: u16) -> Result<Background> {
    let dir = &config.models_dir;
    let served = super::load(dir, Networks::Candle, "serve")?;
    let options = Options {
        port,
        quiet: true,
        ..Options::DEFAULT
    };
    let examples = super::examples_for(dir, Some(&config.data_dir));
    let mut server = super::start(served, examples, &options)?;
    server.space_url = config.space_url.clone();
    Ok(server)
}

impl Background {
    /// A client of the server ([`crate::api::Client`]).
    pub fn client(&self) -> crate::api::Client {
        crate::api::Client::new(&self.url(), std::time::Duration::from_secs(60))
    }

    /// The models the server answers with, as a table (`GET /api/models`).
    pub fn models(&self) -> Result<Table> {
        let models = self.client().models().map_err(|e| Error::Process {
            what: format!("GET {}/api/models", self.url()),
            reason: e.to_string(),
        })?;
        let rows = (models.models.iter())
            .map(|m| {
                vec![
                    m.name.clone(),
                    m.title.clone(),
                    (m.test_accuracy.map(crate::metrics::percent)).unwrap_or_else(|| "–".into()),
                    m.train_images.map(|n| n.to_string()).unwrap_or_default(),
                ]
            })
            .collect();
        let header = ["name", "model", "MNIST test accuracy", "trained on"];
        Ok(Table::new(header.map(String::from).to_vec(), rows)
            .with_caption(format!("Models served at {}/", self.url())))
    }

    /// A screenshot of the page at `path` (e.g. `/?demo=pad`: an example
    /// drawing on the pad, predicted) taken by headless Chromium.
    #[cfg(feature = "setup")]
    pub fn screenshot(&self, path: &str, width: u32, height: u32) -> Result<Figure> {
        let work = crate::data::project_root().join("target");
        let url = format!("{}{path}", self.url());
        let png = mnist_setup::browser::screenshot(&url, width, height, &work).map_err(|e| {
            Error::Process {
                what: "the page's screenshot".into(),
                reason: e.to_string(),
            }
        })?;
        Figure::from_png(format!("the page at {path}"), png, &url)
    }

    /// The page in a frame: the deployed Space when there is one ([`space_url`](Background::space_url), `MNIST_SPACE_URL` for [`start_with`])
    /// (graders can try the models from the HTML export itself), else this
    /// server, with `screenshot` shown in its place wherever the server cannot
    /// be reached (an HTML export opened later, after the server stopped).
    pub fn page(&self, screenshot: &Figure) -> PageFrame {
        PageFrame {
            local: self.url(),
            space: self.space_url.clone(),
            screenshot: screenshot.img_tag(),
        }
    }
}

/// The server's page in a frame (see [`Background::page`]).
#[derive(Debug, Clone)]
pub struct PageFrame {
    pub local: String,
    pub space: Option<String>,
    screenshot: String,
}

impl Rich for PageFrame {
    fn bundle(&self) -> Bundle {
        let local = html_escape(&self.local);
        let html = match &self.space {
            Some(space) => {
                let space = html_escape(space);
                format!(
                    "<p>The deployed Space: <a href=\"{space}/\" target=\"_blank\">{space}/</a> \
                     (this notebook's server: <a href=\"{local}/\" target=\"_blank\">{local}/</a>)</p>\
                     <iframe src=\"{space}/\" width=\"100%\" height=\"640\" style=\"border:1px solid #ccc\"></iframe>"
                )
            }
            None => {
                let id = format!("page{}", std::process::id());
                format!(
                    "<p>Server running at <a href=\"{local}/\" target=\"_blank\">{local}/</a></p>\
                     <div id=\"{id}\"><iframe src=\"{local}/\" width=\"100%\" height=\"640\" style=\"border:1px solid #ccc\"></iframe></div>\
                     <template id=\"{id}-shot\"><p><i>The server of this notebook is not running now, so here is \
                     its page as it was (set MNIST_SPACE_URL to show a deployed Space here instead):</i></p>{shot}</template>\
                     <script>fetch('{local}/healthz', {{mode: 'no-cors'}}).catch(() => {{\
                     const d = document.getElementById('{id}'); \
                     d.replaceChildren(document.getElementById('{id}-shot').content.cloneNode(true)); }});</script>",
                    shot = self.screenshot
                )
            }
        };
        let deployed = (self.space.as_ref())
            .map(|s| format!(", deployed at {s}/"))
            .unwrap_or_default();
        vec![
            ("text/html", html),
            ("text/plain", format!("page at {}/{deployed}", self.local)),
        ]
    }
}

crate::display::inherent_rich!(PageFrame);

impl Rich for Background {
    fn bundle(&self) -> Bundle {
        let url = self.url();
        vec![
            ("text/plain", format!("server running at {url}/")),
            (
                "text/html",
                format!(
                    "<p>Server running at <a href=\"{0}/\" target=\"_blank\">{0}/</a></p>",
                    html_escape(&url)
                ),
            ),
        ]
    }
}

crate::display::inherent_rich!(Background);

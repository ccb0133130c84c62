//! Headless Chromium for a picture of a web page (notebook 05 and
//! `mnist figures --readme` show the prediction server's page).

use std::path::Path;
use std::process::Command;

use crate::{on_path, SetupError, SetupResult};

/// The browser `cargo setup` installs (Debian's `chromium`), or another on PATH.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| on_path(b))
}

/// A PNG screenshot of `url` in a `width`×`height` window, taken by headless
/// Chromium after the page's scripts ran (a virtual 15 s); `work` holds its
/// profile and the picture.
pub fn screenshot(url: &str, width: u32, height: u32, work: &Path) -> SetupResult<Vec<u8>> {
    let browser = chromium().ok_or_else(|| {
        SetupError::Io(
            "no Chromium on PATH for the screenshot: `cargo setup` installs Debian's chromium"
                .into(),
        )
    })?;
    std::fs::create_dir_all(work)
        .map_err(|e| SetupError::Io(format!("{}: {e}", work.display())))?;
    let shot = work.join("page-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("chromium-profile").display()
        ))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url)
        .output()
        .map_err(|source| SetupError::Spawn {
            cmd: browser.into(),
            hint: "`cargo setup` installs Debian's chromium".into(),
            source,
        })?;
    std::fs::read(&shot).map_err(|_| SetupError::Failed {
        cmd: format!("{browser} --screenshot"),
        status: format!("{}, no screenshot written", out.status),
        hint: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

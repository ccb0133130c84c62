//! The CLI's progress: an indicatif bar, notes printed above it.

use indicatif::{ProgressBar, ProgressStyle};
use mnist_support::progress::Progress;

/// Progress as an indicatif bar; notes are printed above it.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Self {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn begin(&self, task: &str, total: u64) {
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.0.reset();
        self.0.set_length(total);
        self.0.set_message(task.to_string());
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn note(&self, line: &str) {
        self.0.suspend(|| eprintln!("  {line}"));
    }
    fn end(&self) {
        self.0.finish_and_clear();
    }
}

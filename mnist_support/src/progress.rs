//! Progress of long work: a progress bar in the CLI, printed lines in a
//! notebook, nothing in tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Progress of long work: a progress bar in the CLI, lines in a notebook,
/// nothing in tests.
pub trait Progress: Sync {
    /// A task of `total` steps starts.
    fn begin(&self, _task: &str, _total: u64) {}
    /// `n` more steps are done.
    fn advance(&self, _n: u64) {}
    /// A line worth showing (e.g. the loss after an epoch).
    fn note(&self, _line: &str) {}
    /// The task is over.
    fn end(&self) {}
}

/// No progress output.
pub struct Silent;
impl Progress for Silent {}

/// Plain printed lines — what a notebook shows: the task, every `note`, and
/// the progress at each tenth of the way with the time so far.
#[derive(Debug, Default)]
pub struct PrintProgress {
    total: AtomicU64,
    done: AtomicU64,
    start: Mutex<Option<Instant>>,
}

impl PrintProgress {
    pub fn new() -> Self {
        Self::default()
    }

    fn elapsed(&self) -> f64 {
        let start = self.start.lock().unwrap_or_else(|e| e.into_inner());
        start.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0)
    }
}

impl Progress for PrintProgress {
    fn begin(&self, task: &str, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        *self.start.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        println!("{task} ({total} steps)");
    }
    fn advance(&self, n: u64) {
        let total = self.total.load(Ordering::Relaxed).max(1);
        let before = self.done.fetch_add(n, Ordering::Relaxed);
        let after = before + n;
        if after * 10 / total > before * 10 / total {
            println!("  {after}/{total} done ({:.1} s)", self.elapsed());
        }
    }
    fn note(&self, line: &str) {
        println!("  {line}");
    }
}

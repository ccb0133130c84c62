//! The real-inputs benchmark in process (`bench_inputs::bench`), as notebook 05
//! and `mnist bench-inputs` call it: the models served on a thread, every
//! source and crop scored, a held-out measurement kept for `bench_or_kept`.

use mnist_support::bench_inputs::{self, BenchOptions};
use mnist_support::config::Config;
use mnist_support::progress::Silent;
use mnist_support::real_inputs::{Crop, Set, Source};

use crate::common;

#[test]
#[ignore = "needs MNIST_DIR"]
fn the_benchmark_scores_every_source_and_keeps_a_heldout_measurement() {
    let data = common::real_data_dir();
    let split = mnist_support::data::Split::load_from(&data).unwrap();
    let models = common::small_models(&split);
    let options = BenchOptions {
        per_source: 5,
        ..BenchOptions::new(&Config::from_env().with_models_dir(models.path()))
    };
    let measured = bench_inputs::bench(&options, &Silent).unwrap();
    let report = &measured.report;
    assert_eq!(report.models.len(), 7, "{:?}", report.models);
    assert_eq!(report.rows.len(), Source::ALL.len() * Crop::ALL.len());
    assert!(
        report.rows.iter().all(|r| r.images == 5),
        "{:?}",
        report.rows
    );
    // The answers are scored against the inputs' own labels: far above the
    // one in ten of guessing, even for models trained on 3,000 digits.
    let correct: usize = report
        .rows
        .iter()
        .map(|r| r.correct.iter().sum::<usize>())
        .sum();
    let asked = report.rows.len() * 5 * 7;
    assert!(correct * 3 > asked, "{correct} of {asked} correct");
    assert_eq!(report.non_digits, 5);
    assert!(measured.gallery.width > 200 && measured.steps.height > 100);

    // Kept beside the models; asked again, the kept measurement comes back.
    let kept = measured.kept.clone().expect("a held-out run is kept");
    assert!(kept.starts_with(models.path()), "{}", kept.display());
    let again = bench_inputs::bench_or_kept(&options, &Silent).unwrap();
    assert_eq!(again.report, measured.report);
    assert_eq!(again.kept.as_ref(), Some(&kept));
    assert_eq!(again.steps.png, measured.steps.png);

    // The dev set is measured, never kept; nothing per source is refused.
    let dev = BenchOptions {
        set: Set::Dev,
        per_source: 2,
        ..options.clone()
    };
    assert!(bench_inputs::bench(&dev, &Silent).unwrap().kept.is_none());
    let none = BenchOptions {
        per_source: 0,
        ..options
    };
    let e = bench_inputs::bench(&none, &Silent).unwrap_err().to_string();
    assert!(e.contains("per_source"), "{e}");
}

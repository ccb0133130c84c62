//! `mnist figures`: the exploration figures as PNG; with `--readme`, every
//! figure the README shows, made by the code that makes them in the
//! notebooks, so the README's figures cannot drift from the code.

use std::path::{Path, PathBuf};

use mnist_support::bench_inputs::{self, BenchOptions};
use mnist_support::config::Config;
use mnist_support::data::Split;
use mnist_support::plot;
use mnist_support::serve;
use mnist_support::store::Store;
use mnist_support::summary::Summary;

use crate::AnyResult;

/// The arguments of `mnist figures`.
#[derive(clap::Args)]
pub struct FiguresArgs {
    #[arg(long, default_value = "notebooks/figures")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Every figure the README shows, into --out: also the class means,
    /// the summary chart, the CNN's training curves, the SVM's confusion
    /// matrices (from the saved models in --dir), the preprocessing steps
    /// and the real-inputs gallery (held-out set) and a screenshot of the
    /// page after an example drawing is predicted (headless Chromium).
    #[arg(long)]
    pub readme: bool,
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
}

pub fn figures(config: &Config, out: &Path, seed: u64) -> AnyResult<()> {
    let split = Split::load(config)?;
    let grid = plot::digit_grid(&split.x_train, &split.y_train, seed)?;
    println!("{}", grid.save(out.join("digits_3x3.png"))?.display());
    let freq = split.class_frequency().chart()?;
    println!("{}", freq.save(out.join("class_frequency.png"))?.display());

    Ok(())
}

/// The README's figures beyond [`figures`], from the data and the models
/// saved in `models` (train them first: `mnist train`).
pub fn readme_figures(config: &Config, out: &Path, models: &Path) -> AnyResult<()> {
    let save = |fig: mnist_support::display::Figure, name: &str| -> AnyResult<()> {
        println!("{}", fig.save(out.join(name))?.display());
        Ok(())
    };
    let split = Split::load(config)?;
    save(
        plot::class_means(&split.x_train, &split.y_train)?,
        "class_means.png",
    )?;
    save(
        Summary::load(models)?.accuracy_chart()?,
        "summary_accuracy.png",
    )?;
    let store = Store::new(models);
    let cnn = store.card("cnn")?;
    let curves = cnn
        .report
        .training_curves()
        .ok_or("the saved CNN has no training history")??;
    save(curves, "cnn_curves.png")?;
    save(
        store.card("svm")?.report.confusion_figure()?,
        "svm_confusion.png",
    )?;
    let config = config.clone().with_models_dir(models);
    let measured = bench_inputs::bench(
        &BenchOptions::new(&config),
        &crate::progress_bar::Bar::new(),
    )?;
    save(measured.gallery, "real_inputs_gallery.png")?;
    save(measured.steps, "preprocessing_steps.png")?;
    let server = serve::start_with(&config, 0)?;
    save(server.screenshot("/?demo=pad", 1200, 900)?, "web_page.png")?;
    save(
        server.screenshot("/?demo=pad&why=knn", 1200, 1300)?,
        "web_page_why.png",
    )?;
    server.stop()?;
    Ok(())
}

//! The real-inputs benchmark over the real server path: the generated inputs
//! of a [`Set`] sent to the prediction server (on a thread of this process,
//! over HTTP) with `model: "all"`, scored per source, crop and model
//! ([`InputsReport`]), with a gallery of answers and the preprocessing steps.
//! `mnist bench-inputs` prints it; notebook 05 shows it.

use std::path::{Path, PathBuf};

mod report;

pub use report::{
    measured_dir, InputsReport, SourceRow, MEASURED_GALLERY, MEASURED_REPORT, MEASURED_STEPS,
};

use crate::api::{Client, PredictRequest, PredictResponse};
use crate::display::{Bundle, Figure, Rich};
use crate::error::{Error, Result};
use crate::plot::{self, Picture};
use crate::progress::Progress;
use crate::real_inputs::{generate_with_crops, non_digits, Crop, Sample, Set, Source};
use crate::serve::{self, Networks, Options};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `Heldout` (what is reported) or `Dev` (what preprocessing was tuned on).
    pub set: Set,
    /// Inputs per source.
    pub per_source: usize,
    /// The saved models (and digit gate) to serve.
    pub models: PathBuf,
    /// The MNIST files whose digits the inputs are made from.
    pub mnist: PathBuf,
    /// Also write every generated input file here.
    pub write_inputs: Option<PathBuf>,
    /// Note every input some model gets wrong, and every non-digit taken for a digit.
    pub verbose: bool,
}

impl BenchOptions {
    /// The held-out set, 400 inputs per source, the models and the MNIST
    /// files of `config`.
    pub fn new(config: &crate::config::Config) -> BenchOptions {
        BenchOptions {
            set: Set::Heldout,
            per_source: 400,
            models: config.models_dir.clone(),
            mnist: config.data_dir.clone(),
            write_inputs: None,
            verbose: false,
        }
    }
}

/// The benchmark's result: the scores, the gallery of answers, the
/// preprocessing steps, and where a held-out measurement is kept.
#[derive(Debug, Clone)]
pub struct RealInputsReport {
    pub report: InputsReport,
    /// The first inputs of each source, the 28×28 the models saw, every answer.
    pub gallery: Figure,
    /// One input of each source through every preprocessing step.
    pub steps: Figure,
    /// The kept measurement ([`measured_dir`]): held-out runs only.
    pub kept: Option<PathBuf>,
}

/// What the server answered for one input.
struct Answer {
    input: Vec<f32>,
    /// (model, prediction) in the server's order.
    predictions: Vec<(String, u8)>,
    digit_like: bool,
    digit_score: f32,
}

impl From<PredictResponse> for Answer {
    fn from(r: PredictResponse) -> Answer {
        Answer {
            input: r.input.iter().map(|&v| v as f32).collect(),
            predictions: r
                .results
                .into_iter()
                .map(|m| (m.model, m.prediction))
                .collect(),
            digit_like: r.digit_like,
            digit_score: r.digit_score,
        }
    }
}

type Answers = Vec<std::result::Result<Answer, String>>;

/// The measurement of exactly these saved models kept by an earlier held-out
/// run, when it is whole; else a new one ([`bench`]).
pub fn bench_or_kept(opts: &BenchOptions, progress: &dyn Progress) -> Result<RealInputsReport> {
    if opts.set == Set::Heldout {
        if let Some(kept) = load_kept(&opts.models, opts.per_source)? {
            progress.note(&format!(
                "the real-inputs benchmark of these saved models, as measured before ({})",
                kept.kept.as_deref().unwrap_or(Path::new("")).display()
            ));
            return Ok(kept);
        }
    }
    bench(opts, progress)
}

/// A whole kept measurement of the models in `models`, if there is one.
pub fn load_kept(models: &Path, per_source: usize) -> Result<Option<RealInputsReport>> {
    let kept = measured_dir(models, per_source)?;
    let whole = [MEASURED_REPORT, MEASURED_GALLERY, MEASURED_STEPS]
        .iter()
        .all(|f| kept.join(f).exists());
    if !whole {
        return Ok(None);
    }
    let path = kept.join(MEASURED_REPORT);
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let report: InputsReport = serde_json::from_slice(&text).map_err(|e| Error::Decode {
        what: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(Some(RealInputsReport {
        report,
        gallery: Figure::load(GALLERY_TITLE, &kept.join(MEASURED_GALLERY))?,
        steps: Figure::load(STEPS_TITLE, &kept.join(MEASURED_STEPS))?,
        kept: Some(kept),
    }))
}

/// The figures' titles (as shown and saved) and the headings drawn in them.
const GALLERY_TITLE: &str = "Real inputs and the models' answers";
const GALLERY_HEADING: &str =
    "Real inputs: the file sent, the 28×28 the models saw, each model's answer";
const STEPS_TITLE: &str = "Preprocessing, step by step";
const STEPS_HEADING: &str =
    "Preprocessing: input → background removed → cropped → stroke-normalised → 28×28";

/// Generate the inputs, send them through the server, score the answers; a
/// held-out measurement is kept beside the models ([`measured_dir`]).
pub fn bench(opts: &BenchOptions, progress: &dyn Progress) -> Result<RealInputsReport> {
    if opts.per_source == 0 {
        return Err(Error::InvalidHyperparameter {
            model: "the real-inputs benchmark",
            name: "per_source",
            reason: "must be positive".into(),
        });
    }
    let served = serve::load(&opts.models, Networks::Candle, "bench-inputs")?;
    let models: Vec<String> = served.models.iter().map(|m| m.name.clone()).collect();
    let server_threshold = match &served.gate {
        Some(g) => format!("{:.3}, the digit gate's", g.figures.threshold),
        None => format!(
            "{}, on the models' agreement: no digit gate",
            serve::pool::DIGIT_LIKE_MIN
        ),
    };
    let mnist_test = served
        .models
        .iter()
        .map(|m| m.card.report.accuracy(crate::data::Part::Test))
        .collect();
    let split = crate::data::Split::load_from(&opts.mnist)?;
    let t = std::time::Instant::now();
    let samples = generate_with_crops(&split, opts.set, opts.per_source)?;
    let non_digits = non_digits(opts.set, opts.per_source)?;
    let fonts = crate::fonts::benchmark_fonts()?;
    let names: Vec<&str> = fonts.iter().map(|(n, _)| n.as_str()).collect();
    progress.note(&format!(
        "typed digits in {} fonts: {}",
        fonts.len(),
        names.join(", ")
    ));
    progress.note(&format!(
        "{} inputs ({} sources × {} crops) and {} non-digits generated ({} set) in {:.1} s",
        samples.len(),
        Source::ALL.len(),
        Crop::ALL.len(),
        non_digits.len(),
        opts.set.name(),
        t.elapsed().as_secs_f64()
    ));
    if let Some(out) = &opts.write_inputs {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        for s in samples.iter().chain(&non_digits) {
            let path = out.join(&s.name);
            std::fs::write(&path, &s.bytes).map_err(|e| Error::io(&path, e))?;
        }
        progress.note(&format!("inputs written to {}", out.display()));
    }
    let options = Options {
        port: 0,
        rate_limit: 0,
        requests_per_second: 0,
        global_rate_limit: 0,
        megapixels_per_second: 0,
        heavy_megapixels_per_second: 0,
        connections_per_client: 0,
        quiet: true,
        ..Options::DEFAULT
    };
    let server = serve::start(served, Box::new(Vec::new), &options)?;
    let t = std::time::Instant::now();
    progress.begin(
        "real inputs through the server",
        (samples.len() + non_digits.len()) as u64,
    );
    let answers = ask_all(&server.url(), &samples, progress);
    let non_answers = ask_all(&server.url(), &non_digits, progress);
    progress.end();
    server.stop()?;
    progress.note(&format!(
        "{} inputs × {} models through the server in {:.1} s",
        samples.len() + non_digits.len(),
        models.len(),
        t.elapsed().as_secs_f64()
    ));
    let rows = score(&samples, &answers, &models, opts.verbose, progress);
    note_threshold(&answers, &non_answers, &server_threshold, progress);
    if opts.verbose {
        for (s, a) in non_digits.iter().zip(&non_answers) {
            if let Some(a) = a.as_ref().ok().filter(|a| a.digit_like) {
                progress.note(&format!(
                    "  taken for a digit: {} (score {:.3})",
                    s.name, a.digit_score
                ));
            }
        }
    }
    // A picture refused as holding no digit is flagged too.
    let non_digits_flagged = non_answers
        .iter()
        .filter(|a| a.as_ref().map_or(true, |a| !a.digit_like))
        .count();
    let measured = RealInputsReport {
        report: InputsReport {
            set: opts.set,
            models,
            mnist_test,
            rows,
            non_digits: non_digits.len(),
            non_digits_flagged,
        },
        gallery: gallery_figure(&samples, &answers, 3)?,
        steps: steps_figure(&samples, progress)?,
        kept: None,
    };
    if opts.set == Set::Heldout {
        return measured.keep(&measured_dir(&opts.models, opts.per_source)?);
    }
    Ok(measured)
}

impl RealInputsReport {
    /// Save it in `dir` (what [`load_kept`] reads), the report last: a kept
    /// measurement is whole when its report is there.
    fn keep(mut self, dir: &Path) -> Result<RealInputsReport> {
        let _ = std::fs::remove_file(dir.join(MEASURED_REPORT));
        self.steps.save(dir.join(MEASURED_STEPS))?;
        self.gallery.save(dir.join(MEASURED_GALLERY))?;
        crate::display::write_atomic(&dir.join(MEASURED_REPORT), self.report.to_json().as_bytes())?;
        self.kept = Some(dir.to_path_buf());
        Ok(self)
    }
}

/// POST every sample with `model: "all"` to the server at `base` (two at a
/// time); an error answer (e.g. no digit found) is kept as its message.
fn ask_all(base: &str, samples: &[Sample], progress: &dyn Progress) -> Answers {
    let client = Client::new(base, std::time::Duration::from_secs(60));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let answers = std::sync::Mutex::new((0..samples.len()).map(|_| None).collect::<Vec<_>>());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(sample) = samples.get(i) else {
                    break;
                };
                let request = PredictRequest {
                    model: Some("all".into()),
                    image: Some(sample.data_url()),
                    pixels: None,
                };
                let answer = client
                    .predict(&request)
                    .map(Answer::from)
                    .map_err(|e| e.to_string());
                answers.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(answer);
                progress.advance(1);
            });
        }
    });
    answers
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err("not sent".into())))
        .collect()
}

/// One row per source and crop: each model's correct answers, the inputs
/// answered with an error (counted wrong) and those flagged not digit-like.
fn score(
    samples: &[Sample],
    answers: &Answers,
    models: &[String],
    verbose: bool,
    progress: &dyn Progress,
) -> Vec<SourceRow> {
    let mut rows = Vec::new();
    for source in Source::ALL {
        for crop in Crop::ALL {
            let mut row = SourceRow {
                source,
                crop,
                images: 0,
                correct: vec![0; models.len()],
                rejected: 0,
                flagged: 0,
            };
            let mut rejected = Vec::new();
            for (s, a) in samples
                .iter()
                .zip(answers)
                .filter(|(s, _)| s.source == source && s.crop == crop)
            {
                row.images += 1;
                let a = match a {
                    Ok(a) => a,
                    Err(e) => {
                        rejected.push(format!("{}: {e}", s.name));
                        continue;
                    }
                };
                row.flagged += !a.digit_like as usize;
                for (name, p) in &a.predictions {
                    if let Some(m) = models.iter().position(|n| n == name) {
                        row.correct[m] += (*p == s.label) as usize;
                    }
                }
                let wrong: Vec<String> = (a.predictions.iter())
                    .filter(|(_, p)| *p != s.label)
                    .map(|(m, p)| format!("{m}:{p}"))
                    .collect();
                if verbose && !wrong.is_empty() {
                    progress.note(&format!("  {}: {}", s.name, wrong.join(" ")));
                }
            }
            row.rejected = rejected.len();
            if let Some(first) = rejected.first() {
                progress.note(&format!(
                    "{} {} input(s), {}, answered with an error (counted wrong), e.g. {first}",
                    rejected.len(),
                    source.name(),
                    crop.name(),
                ));
            }
            rows.push(row);
        }
    }
    rows
}

/// The digit_like threshold this set would choose (the score that flags at
/// most 2% of its digits) and the non-digits it would then flag.
fn note_threshold(answers: &Answers, non_answers: &Answers, server: &str, progress: &dyn Progress) {
    let scores = |a: &Answers| -> Vec<f32> {
        a.iter()
            .filter_map(|a| a.as_ref().ok().map(|a| a.digit_score))
            .collect()
    };
    let mut digit_scores = scores(answers);
    digit_scores.sort_by(f32::total_cmp);
    if let Some(&at) = digit_scores.get(digit_scores.len() / 50) {
        let flagged = scores(non_answers).iter().filter(|&&v| v < at).count()
            + non_answers.iter().filter(|a| a.is_err()).count();
        progress.note(&format!(
            "a digit_like threshold of {at:.3} would flag 2% of these digits and {flagged} of the {} non-digits (the server's is {server})",
            non_answers.len(),
        ));
    }
}

/// The first `per` inputs of each source: the file as sent, the 28×28 the
/// models saw, and every model's answer.
fn gallery_figure(samples: &[Sample], answers: &Answers, per: usize) -> Result<Figure> {
    let mut rows = Vec::new();
    for source in Source::ALL {
        let mut row = Vec::new();
        for (s, a) in samples
            .iter()
            .zip(answers)
            .filter(|(s, _)| s.source == source && s.crop == Crop::Uncropped)
            .take(per)
        {
            let g = crate::preprocess::decode_image(&s.bytes)?;
            row.push(Picture {
                width: g.width,
                height: g.height,
                pixels: g.pixels,
                caption: vec![format!("{} (a {})", source.name(), s.label)],
                heat: None,
            });
            row.push(match a {
                Ok(a) => {
                    let mut caption: Vec<String> = (a.predictions.iter())
                        .map(|(m, p)| format!("{m}: {p} {}", if *p == s.label { "✓" } else { "✗" }))
                        .collect();
                    caption.insert(0, "what the models saw".into());
                    Picture::mnist(&a.input, caption)
                }
                Err(e) => Picture {
                    width: 28,
                    height: 28,
                    pixels: vec![255; 784],
                    caption: vec!["rejected".into(), e.chars().take(24).collect()],
                    heat: None,
                },
            });
        }
        rows.push(row);
    }
    let mut fig = plot::picture_rows(GALLERY_HEADING, &rows, 112)?;
    fig.title = GALLERY_TITLE.into();
    Ok(fig)
}

/// One input of each source through every step of the preprocessing.
fn steps_figure(samples: &[Sample], progress: &dyn Progress) -> Result<Figure> {
    let pic = |g: &crate::preprocess::Gray, caption: Vec<String>| Picture {
        width: g.width,
        height: g.height,
        pixels: g.pixels.clone(),
        caption,
        heat: None,
    };
    let mut rows = Vec::new();
    for source in Source::ALL {
        let Some(s) = (samples.iter()).find(|s| s.source == source && s.crop == Crop::Uncropped)
        else {
            continue;
        };
        let g = crate::preprocess::decode_image(&s.bytes)?;
        let st = match crate::preprocess::steps(&g) {
            Ok(st) => st,
            Err(e) => {
                progress.note(&format!("{} left out of the steps figure: {e}", s.name));
                continue;
            }
        };
        let input = vec![
            format!("{}: input", source.name()),
            format!("{}×{}", g.width, g.height),
        ];
        let before = format!("stroke {:.1} px", st.stroke_before);
        let after = format!("stroke {:.1} px", st.stroke_after);
        rows.push(vec![
            pic(&st.input, input),
            pic(&st.background_removed, vec!["background removed".into()]),
            pic(&st.cropped, vec!["cleaned, cropped".into(), before]),
            pic(
                &st.stroke_normalised,
                vec!["stroke-normalised".into(), after],
            ),
            Picture::mnist(
                &st.mnist,
                vec!["28×28 (20×20 box,".into(), "centre of mass)".into()],
            ),
        ]);
    }
    let mut fig = plot::picture_rows(STEPS_HEADING, &rows, 150)?;
    fig.title = STEPS_TITLE.into();
    Ok(fig)
}

impl Rich for RealInputsReport {
    fn bundle(&self) -> Bundle {
        self.report.bundle()
    }
}

crate::display::inherent_rich!(RealInputsReport);

//! `mnist bench-inputs`: the real-inputs benchmark over the real server path.

use std::path::PathBuf;

use mnist_support::api::{Client, PredictRequest, PredictResponse};
use mnist_support::data::Split;
use mnist_support::plot::{self, Picture};
use mnist_support::real_inputs::{self, Crop, InputsReport, Sample, Source, SourceRow};
use mnist_support::serve::{Options, Served};

use crate::AnyResult;

/// The arguments of `mnist bench-inputs`.
#[derive(clap::Args, Default)]
pub struct BenchInputsArgs {
    /// `heldout` (what is reported) or `dev` (what preprocessing was tuned on).
    #[arg(long, default_value = "heldout")]
    pub set: mnist_support::real_inputs::Set,
    /// Inputs per source.
    #[arg(long, default_value_t = 400)]
    pub per_source: usize,
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also write every generated input file into this directory.
    #[arg(long)]
    pub write: Option<PathBuf>,
    /// Write a gallery (inputs, the 28×28 the models saw, every answer) as PNG here.
    #[arg(long)]
    pub gallery: Option<PathBuf>,
    /// Write the preprocessing steps of one input per source as PNG here.
    #[arg(long)]
    pub steps: Option<PathBuf>,
    /// List every input some model gets wrong, with the wrong answers.
    #[arg(long)]
    pub verbose: bool,
}

/// What the server answered for one input.
pub struct Answer {
    /// The 28×28 the models saw.
    pub input: Vec<f32>,
    /// (model, prediction) in the server's order.
    pub predictions: Vec<(String, u8)>,
    pub digit_like: bool,
    pub digit_score: f32,
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

/// POST every sample with `model: "all"` to the server at `base`; an error
/// answer (e.g. no digit found) is kept as its message.
pub fn ask_all(base: &str, samples: &[Sample]) -> Vec<Result<Answer, String>> {
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

/// Start the prediction server in this process on a free loopback port,
/// without a rate limit or a log line per request.
pub fn start_in_process(served: Served, who: &'static str) -> AnyResult<std::net::SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    let options = Options {
        port: 0,
        rate_limit: 0,
        global_rate_limit: 0,
        megapixels_per_second: 0,
        quiet: true,
        ..Options::default()
    };
    std::thread::spawn(move || {
        let r = mnist_support::serve::serve(served, Box::new(Vec::new), &options, |a| {
            let _ = tx.send(a);
        });
        if let Err(e) = r {
            eprintln!("{who}: server failed: {e}");
        }
    });
    Ok(rx.recv_timeout(std::time::Duration::from_secs(30))?)
}

pub fn bench_inputs(a: BenchInputsArgs) -> AnyResult<()> {
    let BenchInputsArgs {
        set,
        per_source,
        dir,
        json,
        write,
        gallery,
        steps,
        verbose,
    } = a;
    if per_source == 0 {
        return Err("--per-source must be positive".into());
    }
    let dir = dir.path();
    let served =
        mnist_support::serve::load(&dir, mnist_support::serve::Networks::Candle, "bench-inputs")?;
    let models: Vec<String> = served.models.iter().map(|m| m.name.clone()).collect();
    let server_threshold = match &served.gate {
        Some(g) => format!("{:.3}, the digit gate's", g.card.threshold),
        None => format!(
            "{}, on the models' agreement: no digit gate",
            mnist_support::serve::pool::DIGIT_LIKE_MIN
        ),
    };
    let mnist_test = served
        .models
        .iter()
        .map(|m| m.card.report.accuracy(mnist_support::data::Part::Test))
        .collect();
    let split = Split::load()?;
    let t = std::time::Instant::now();
    let samples = real_inputs::generate_with_crops(&split, set, per_source)?;
    let non_digits = real_inputs::non_digits(set, per_source)?;
    let fonts = real_inputs::benchmark_fonts()?;
    eprintln!(
        "bench-inputs: typed digits in {} fonts: {}",
        fonts.len(),
        fonts
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "bench-inputs: {} inputs ({} sources × {} crops) and {} non-digits generated ({} set) in {:.1} s",
        samples.len(),
        Source::ALL.len(),
        Crop::ALL.len(),
        non_digits.len(),
        set.name(),
        t.elapsed().as_secs_f64()
    );
    if let Some(out) = &write {
        std::fs::create_dir_all(out)?;
        for s in samples.iter().chain(&non_digits) {
            std::fs::write(out.join(&s.name), &s.bytes)?;
        }
        eprintln!("bench-inputs: inputs written to {}", out.display());
    }
    let addr = start_in_process(served, "bench-inputs")?;
    let t = std::time::Instant::now();
    let base = format!("http://{addr}");
    let answers = ask_all(&base, &samples);
    let non_answers = ask_all(&base, &non_digits);
    eprintln!(
        "bench-inputs: {} inputs × {} models through the server in {:.1} s",
        samples.len() + non_digits.len(),
        models.len(),
        t.elapsed().as_secs_f64()
    );
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
                .zip(&answers)
                .filter(|(s, _)| s.source == source && s.crop == crop)
            {
                row.images += 1;
                match a {
                    Ok(a) => {
                        row.flagged += !a.digit_like as usize;
                        for (name, p) in &a.predictions {
                            if let Some(m) = models.iter().position(|n| n == name) {
                                row.correct[m] += (*p == s.label) as usize;
                            }
                        }
                        if verbose {
                            let wrong: Vec<String> = a
                                .predictions
                                .iter()
                                .filter(|(_, p)| *p != s.label)
                                .map(|(m, p)| format!("{m}:{p}"))
                                .collect();
                            if !wrong.is_empty() {
                                eprintln!("  {}: {}", s.name, wrong.join(" "));
                            }
                        }
                    }
                    Err(e) => rejected.push(format!("{}: {e}", s.name)),
                }
            }
            row.rejected = rejected.len();
            if !rejected.is_empty() {
                eprintln!(
                    "bench-inputs: {} {} input(s), {}, answered with an error (counted wrong), e.g. {}",
                    rejected.len(),
                    source.name(),
                    crop.name(),
                    rejected[0]
                );
            }
            rows.push(row);
        }
    }
    // The digit_like threshold this set would choose: the score that flags
    // at most 2% of its digits; and the non-digits it would then flag.
    let mut digit_scores: Vec<f32> = answers
        .iter()
        .filter_map(|a| a.as_ref().ok().map(|a| a.digit_score))
        .collect();
    digit_scores.sort_by(f32::total_cmp);
    let non_scores: Vec<f32> = non_answers
        .iter()
        .filter_map(|a| a.as_ref().ok().map(|a| a.digit_score))
        .collect();
    if let Some(&at) = digit_scores.get(digit_scores.len() / 50) {
        let flagged = non_scores.iter().filter(|&&v| v < at).count()
            + non_answers.iter().filter(|a| a.is_err()).count();
        eprintln!(
            "bench-inputs: a digit_like threshold of {at:.3} would flag 2% of these digits and {} of the {} non-digits (the server's is {})",
            flagged,
            non_digits.len(),
            server_threshold
        );
    }
    if verbose {
        for (s, a) in non_digits.iter().zip(&non_answers) {
            if let Ok(a) = a {
                if a.digit_like {
                    eprintln!(
                        "  taken for a digit: {} (score {:.3})",
                        s.name, a.digit_score
                    );
                }
            }
        }
    }
    // A picture refused as holding no digit is flagged too.
    let non_digits_flagged = non_answers
        .iter()
        .filter(|a| a.as_ref().map_or(true, |a| !a.digit_like))
        .count();
    let report = InputsReport {
        set,
        models,
        mnist_test,
        rows,
        non_digits: non_digits.len(),
        non_digits_flagged,
    };
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.table().to_text());
        println!("{}", report.crop_table().to_text());
        println!("{}", report.worst_table().to_text());
        if let Some(t) = report.model_table("cnn") {
            println!("{}", t.to_text());
        }
        println!("{}", report.digit_like_line());
    }
    // Kept for notebook 05, which shows it while these models stay saved.
    let kept = (set == real_inputs::Set::Heldout)
        .then(|| real_inputs::measured_dir(&dir, per_source))
        .transpose()?;
    if steps.is_some() || kept.is_some() {
        let fig = steps_figure(&samples)?;
        if let Some(path) = steps {
            fig.save(&path)?;
            eprintln!(
                "bench-inputs: preprocessing steps written to {}",
                path.display()
            );
        }
        if let Some(kept) = &kept {
            fig.save(&kept.join(real_inputs::MEASURED_STEPS))?;
        }
    }
    if gallery.is_some() || kept.is_some() {
        let fig = gallery_figure(&samples, &answers, 3)?;
        if let Some(path) = gallery {
            fig.save(&path)?;
            eprintln!("bench-inputs: gallery written to {}", path.display());
        }
        if let Some(kept) = &kept {
            fig.save(&kept.join(real_inputs::MEASURED_GALLERY))?;
        }
    }
    if let Some(kept) = &kept {
        // The report last: a kept measurement is whole when it is there.
        mnist_support::display::write_atomic(
            &kept.join(real_inputs::MEASURED_REPORT),
            report.to_json().as_bytes(),
        )?;
        eprintln!("bench-inputs: kept in {} for notebook 05", kept.display());
    }
    Ok(())
}

/// The first `per` inputs of each source: the file as sent, the 28×28 the
/// models saw, and every model's answer.
pub fn gallery_figure(
    samples: &[Sample],
    answers: &[Result<Answer, String>],
    per: usize,
) -> AnyResult<mnist_support::display::Figure> {
    let mut rows = Vec::new();
    for source in Source::ALL {
        let mut row = Vec::new();
        for (s, a) in samples
            .iter()
            .zip(answers)
            .filter(|(s, _)| s.source == source && s.crop == Crop::Uncropped)
            .take(per)
        {
            let g = mnist_support::preprocess::decode_image(&s.bytes)?;
            row.push(Picture {
                width: g.width,
                height: g.height,
                pixels: g.pixels,
                caption: vec![format!("{} (a {})", source.name(), s.label)],
            });
            match a {
                Ok(a) => {
                    let mut caption: Vec<String> = a
                        .predictions
                        .iter()
                        .map(|(m, p)| format!("{m}: {p} {}", if *p == s.label { "✓" } else { "✗" }))
                        .collect();
                    caption.insert(0, "what the models saw".into());
                    row.push(Picture::mnist(&a.input, caption));
                }
                Err(e) => row.push(Picture {
                    width: 28,
                    height: 28,
                    pixels: vec![255; 784],
                    caption: vec!["rejected".into(), e.chars().take(24).collect()],
                }),
            }
        }
        rows.push(row);
    }
    Ok(plot::picture_rows(
        "Real inputs: the file sent, the 28×28 the models saw, each model's answer",
        &rows,
        112,
    )?)
}

/// One input of each source through every step of the preprocessing.
pub fn steps_figure(samples: &[Sample]) -> AnyResult<mnist_support::display::Figure> {
    let pic = |g: &mnist_support::preprocess::Gray, caption: Vec<String>| Picture {
        width: g.width,
        height: g.height,
        pixels: g.pixels.clone(),
        caption,
    };
    let mut rows = Vec::new();
    for source in Source::ALL {
        let Some(s) = samples
            .iter()
            .find(|s| s.source == source && s.crop == Crop::Uncropped)
        else {
            continue;
        };
        let g = mnist_support::preprocess::decode_image(&s.bytes)?;
        let st = match mnist_support::preprocess::steps(&g) {
            Ok(st) => st,
            Err(e) => {
                eprintln!("bench-inputs: {} left out of the steps figure: {e}", s.name);
                continue;
            }
        };
        rows.push(vec![
            pic(
                &st.input,
                vec![
                    format!("{}: input", source.name()),
                    format!("{}×{}", g.width, g.height),
                ],
            ),
            pic(&st.background_removed, vec!["background removed".into()]),
            pic(
                &st.cropped,
                vec![
                    "cleaned, cropped".into(),
                    format!("stroke {:.1} px", st.stroke_before),
                ],
            ),
            pic(
                &st.stroke_normalised,
                vec![
                    "stroke-normalised".into(),
                    format!("stroke {:.1} px", st.stroke_after),
                ],
            ),
            Picture::mnist(
                &st.mnist,
                vec!["28×28 (20×20 box,".into(), "centre of mass)".into()],
            ),
        ]);
    }
    Ok(plot::picture_rows(
        "Preprocessing: input → background removed → cropped → stroke-normalised → 28×28",
        &rows,
        150,
    )?)
}

//! The stroke width of the MNIST training digits as a fraction of their
//! longer side (the median is `preprocess::MNIST_STROKE`):
//! `cargo run --release --example stroke_ratio`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let split = mnist_support::data::Split::load(&mnist_support::config::Config::from_env())?;
    let mut r: Vec<f32> = split
        .x_train
        .rows()
        .into_iter()
        .map(|row| mnist_support::preprocess::mnist_stroke_ratio(&row.to_vec()))
        .collect::<Result<_, _>>()?;
    r.sort_by(f32::total_cmp);
    let q = |p: f64| r[((r.len() - 1) as f64 * p) as usize];
    println!(
        "stroke width / longer side over {} training digits: p10 {:.4}, p25 {:.4}, median {:.4}, p75 {:.4}, p90 {:.4}",
        r.len(),
        q(0.1),
        q(0.25),
        q(0.5),
        q(0.75),
        q(0.9)
    );
    Ok(())
}

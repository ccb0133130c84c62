// debug: steps of given files -> PNG
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = &args[0];
    let mut rows = vec![];
    for f in &args[1..] {
        let bytes = std::fs::read(f).unwrap();
        let g = mnist_support::preprocess::decode_image(&bytes).unwrap();
        let pic = |g: &mnist_support::preprocess::Gray, c: &str| mnist_support::plot::Picture {
            width: g.width,
            height: g.height,
            pixels: g.pixels.clone(),
            caption: vec![c.to_string()],
        };
        match mnist_support::preprocess::steps(&g) {
            Ok(st) => rows.push(vec![
                pic(&st.input, f.rsplit('/').next().unwrap()),
                pic(&st.background_removed, "bg removed"),
                pic(&st.cropped, "cropped"),
                pic(&st.stroke_normalised, "stroke"),
                mnist_support::plot::Picture::mnist(&st.mnist, vec!["mnist".into()]),
            ]),
            Err(e) => eprintln!("{f}: {e}"),
        }
    }
    mnist_support::plot::picture_rows("dbg", &rows, 112)
        .unwrap()
        .save(out)
        .unwrap();
}

//! Figures are written, decode as PNG and have the expected size; tables render.

use crate::common;

use mnist_support::data::{ClassFrequency, RawMnist, Split};
use mnist_support::display::{evcxr_payload, Rich, Table};
use mnist_support::plot;

fn png_size(path: &std::path::Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().expect("valid PNG");
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .expect("a size that fits memory")
    ];
    let info = reader.next_frame(&mut buf).expect("PNG decodes");
    (info.width, info.height)
}

fn fixture_split() -> Split {
    let dir = common::fixture_dir(40, 10);
    Split::from_raw(RawMnist::load_dir(dir.path(), false).unwrap())
}

#[test]
fn digit_grid_is_written_and_has_the_expected_size() {
    let s = fixture_split();
    let out = tempfile::tempdir().unwrap();
    let fig = plot::digit_grid(&s.x_train, &s.y_train, 7).unwrap();
    let path = fig.save(out.path().join("sub/grid.png")).unwrap();
    assert_eq!(png_size(&path), plot::digit_grid_size(3, 3));
    assert_eq!((fig.width, fig.height), plot::digit_grid_size(3, 3));
    // seeded: same seed same picture, other seed another one
    assert_eq!(
        plot::digit_grid(&s.x_train, &s.y_train, 7).unwrap().png,
        fig.png
    );
    assert_ne!(
        plot::digit_grid(&s.x_train, &s.y_train, 8).unwrap().png,
        fig.png
    );
    assert_eq!(plot::sample_indices(37, 9, 7).unwrap().len(), 9);
}

#[test]
fn class_frequency_and_means_figures() {
    let s = fixture_split();
    let out = tempfile::tempdir().unwrap();
    let f = s.class_frequency().chart().unwrap();
    assert_eq!(
        png_size(&f.save(out.path().join("freq.png")).unwrap()),
        plot::class_frequency_size(3)
    );
    let m = plot::class_means(&s.x_train, &s.y_train).unwrap();
    assert_eq!(
        png_size(&m.save(out.path().join("means.png")).unwrap()),
        plot::digit_grid_size(2, 5)
    );
}

#[test]
fn bad_figure_inputs_are_errors_not_panics() {
    let s = fixture_split();
    let few = s.x_train.slice(ndarray::s![..5, ..]).to_owned();
    assert!(plot::digit_grid(&few, &s.y_train.slice(ndarray::s![..5]).to_owned(), 1).is_err());
    assert!(plot::digit_grid(&s.x_train, &s.y_valid, 1).is_err());
    let narrow = ndarray::Array2::<f32>::zeros((20, 10));
    assert!(plot::digits("x", &narrow, &[0], &["a".into()], 1, 1).is_err());
    assert!(plot::digits("x", &s.x_train, &[999], &["a".into()], 1, 1).is_err());
    assert!(ClassFrequency::new(vec![]).chart().is_err());
}

#[test]
fn rich_bundles_for_evcxr() {
    let s = fixture_split();
    let fig = plot::digit_grid(&s.x_train, &s.y_train, 1).unwrap();
    let b = fig.bundle();
    assert_eq!(b[0].0, "image/png");
    let payload = evcxr_payload(&b);
    assert!(
        payload.starts_with("EVCXR_BEGIN_CONTENT image/png\niVBORw0KGgo"),
        "{}",
        &payload[..60]
    );
    assert_eq!(payload.matches("EVCXR_END_CONTENT").count(), 2);
    let freq = s.class_frequency().bundle();
    let html = &freq.iter().find(|(m, _)| *m == "text/html").unwrap().1;
    assert!(
        html.contains("<table")
            && html.contains("data:image/png;base64,")
            && html.contains("balanced")
    );
    let summary = s.summary().bundle();
    assert!(summary
        .iter()
        .any(|(m, t)| *m == "text/plain" && t.contains("X_train shape: (37, 784)")));
}

#[test]
fn tables_render_and_save_by_extension() {
    let t = Table::new(
        vec!["model".into(), "acc, %".into()],
        vec![
            vec!["a<b".into(), "97.5".into()],
            vec!["say \"x\"".into(), "1".into()],
        ],
    )
    .with_caption("caption");
    assert!(t
        .to_html()
        .contains("<td style=\"padding:2px 8px;text-align:left\">a&lt;b</td>"));
    assert!(t.to_html().contains("text-align:right\">97.5</td>"));
    assert_eq!(
        t.to_csv(),
        "model,\"acc, %\"\na<b,97.5\n\"say \"\"x\"\"\",1\n"
    );
    assert_eq!(t.to_markdown().lines().nth(1), Some("|---|---|"));
    let text = t.to_text();
    assert_eq!(text.lines().nth(3), Some("a<b        97.5"));
    let dir = tempfile::tempdir().unwrap();
    for ext in ["csv", "md", "html", "txt"] {
        let p = t.save(dir.path().join(format!("t.{ext}"))).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 10);
    }
    assert!(t.save(dir.path().join("t.xlsx")).is_err());
    // atomic writes leave no temp files behind
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}

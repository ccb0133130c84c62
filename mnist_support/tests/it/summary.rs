//! Step 4.7: the summary is built from saved reports and matches them; its
//! CSV and Markdown files, charts, DataFrame and error gallery.

use crate::common;

use mnist_support::display::Rich;
use mnist_support::experiment::Report;
use mnist_support::models::{ModelKind, Silent};
use mnist_support::store::Store;
use mnist_support::summary::{self, Summary};

/// Three models trained on synthetic digits and saved (the fixtures).
fn saved(dir: &std::path::Path) -> (mnist_support::data::Split, Vec<Report>) {
    let split = common::synthetic_split(300, 80, 31);
    let reports = [ModelKind::Softmax, ModelKind::Tree, ModelKind::Dnn]
        .iter()
        .map(|&k| {
            let store = Store::new(dir).retraining(true);
            mnist_support::pipeline::run(&store, &common::quick_model(k), &split, &Silent).unwrap()
        })
        .collect();
    (split, reports)
}

#[test]
fn the_summary_is_built_from_the_saved_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (split, reports) = saved(dir.path());
    let s = Summary::load(dir.path()).unwrap();
    // In the seed's order: softmax, dnn, tree; the four others are missing.
    let names: Vec<&str> = s.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["softmax", "dnn", "tree"]);
    assert_eq!(s.missing, ["knn", "svm", "forest", "cnn"]);
    for row in &s.rows {
        let r = reports.iter().find(|r| r.name == row.name).unwrap();
        assert_eq!(row.fit_seconds, r.fit_seconds);
        assert_eq!(
            row.train_accuracy,
            r.accuracy(mnist_support::data::Part::Train).unwrap()
        );
        assert_eq!(
            row.valid_accuracy,
            r.accuracy(mnist_support::data::Part::Valid).unwrap()
        );
        assert_eq!(
            row.test_accuracy,
            r.accuracy(mnist_support::data::Part::Test).unwrap()
        );
    }
    let t = s.table();
    assert_eq!(t.rows.len(), 3);
    assert_eq!(t.header[1], "training time (s)");
    assert!(t
        .caption
        .as_deref()
        .unwrap()
        .contains("not trained yet: knn, svm, forest, cnn"));
    assert_eq!(
        t.rows[0][4],
        format!(
            "{:.2}%",
            100.0
                * reports[0]
                    .accuracy(mnist_support::data::Part::Test)
                    .unwrap()
        )
    );

    // CSV and Markdown files hold the same table.
    let out = tempfile::tempdir().unwrap();
    let (csv, md) = s.save(out.path()).unwrap();
    let csv = std::fs::read_to_string(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[0].starts_with("model,training time (s),train accuracy"),
        "{csv}"
    );
    assert!(lines[1].starts_with("Softmax regression,"), "{csv}");
    let md = std::fs::read_to_string(md).unwrap();
    assert_eq!(md.lines().filter(|l| l.starts_with('|')).count(), 5, "{md}");
    assert!(md.contains("| Decision tree |"), "{md}");

    // Charts and the inline rendering.
    let acc = s.accuracy_chart().unwrap();
    let time = s.time_chart().unwrap();
    assert!(acc.png.starts_with(b"\x89PNG") && time.png.starts_with(b"\x89PNG"));
    assert_eq!(acc.width, time.width);
    let html = &s.bundle()[0].1;
    assert_eq!(html.matches("<table").count(), 1);
    assert_eq!(html.matches("data:image/png;base64,").count(), 2);

    // The official-test column: each saved model's accuracy on the images given.
    let s = s.with_official_test(&split.x_test, &split.y_test).unwrap();
    for row in &s.rows {
        assert_eq!(
            row.official_test_accuracy,
            Some(row.test_accuracy),
            "{}",
            row.name
        );
    }
    assert_eq!(s.table().header.len(), 6);
}

#[test]
fn the_dataframe_matches_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let (_, reports) = saved(dir.path());
    let s = Summary::from_reports(&reports).unwrap();
    let df = s.dataframe().unwrap();
    assert_eq!(df.height(), 3);
    assert_eq!(
        df.get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        [
            "model",
            "training_time_s",
            "train_accuracy",
            "valid_accuracy",
            "test_accuracy"
        ]
    );
    let test = df.column("test_accuracy").unwrap().f64().unwrap();
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(test.get(i), r.accuracy(mnist_support::data::Part::Test));
    }
    assert!(format!("{df}").contains("softmax"));
    let t = summary::frame_table(&df);
    assert_eq!(t.header.len(), 5);
    assert_eq!(t.rows[0][0], "softmax");
    assert_eq!(
        t.rows[0][4],
        s.table().rows[0][4],
        "the same test accuracy as the summary table"
    );
}

#[test]
fn errors_are_clear() {
    let empty = tempfile::tempdir().unwrap();
    let err = Summary::load(empty.path()).unwrap_err().to_string();
    assert!(err.contains("no saved models"), "{err}");
    // A corrupt report is an error naming the file, not a silently missing row.
    std::fs::write(empty.path().join("tree.json"), "{ not json").unwrap();
    let err = Summary::load(empty.path()).unwrap_err().to_string();
    assert!(err.contains("tree.json"), "{err}");
}

#[test]
fn the_gallery_shows_the_images_a_model_gets_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (split, _) = saved(dir.path());
    let (model, _) = Store::new(dir.path()).load("tree").unwrap();
    let pred = model.predict(split.x_test.view()).unwrap();
    let wrong = pred
        .iter()
        .zip(&split.y_test)
        .filter(|(a, b)| a != b)
        .count();
    assert!(wrong > 0);
    let fig =
        summary::misclassified(model.as_ref(), "tree", &split.x_test, &split.y_test, 9).unwrap();
    assert!(
        fig.title
            .contains(&format!("{wrong} of 80 test images wrong")),
        "{}",
        fig.title
    );
    let s = Summary::load(dir.path()).unwrap();
    let html = &s
        .error_gallery(&split.x_test, &split.y_test, 4)
        .unwrap()
        .bundle()[0]
        .1;
    assert_eq!(
        html.matches("data:image/png;base64,").count(),
        3,
        "one grid per saved model"
    );
    let shown = wrong.min(9) as u32;
    assert_eq!(
        (fig.width, fig.height),
        mnist_support::plot::digit_grid_size(shown.div_ceil(3), 3)
    );
    let short = split.y_test.slice(ndarray::s![..40]).to_owned();
    assert!(summary::misclassified(model.as_ref(), "tree", &split.x_test, &short, 9).is_err());
}

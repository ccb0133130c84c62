use mnist_support::metrics::{accuracy, ConfusionMatrix};

#[test]
fn accuracy_and_confusion_matrix_agree() {
    let t = [0u8, 0, 1, 1, 2, 9];
    let p = [0u8, 1, 1, 1, 2, 3];
    assert!((accuracy(&t, &p).unwrap() - 4.0 / 6.0).abs() < 1e-12);
    let cm = ConfusionMatrix::new(&t, &p).unwrap();
    assert_eq!(cm.counts[0][1], 1);
    assert_eq!(cm.counts[9][3], 1);
    assert_eq!((cm.total(), cm.correct()), (6, 4));
    assert_eq!(cm.per_class()[0], (1, 2));
    assert_eq!(cm.per_class_accuracy()[1], 1.0);
    assert_eq!(cm.per_class_accuracy()[9], 0.0);
    assert_eq!(cm.per_class_accuracy()[5], 0.0, "absent class");
    assert!(accuracy(&t, &p[..3]).is_err());
    assert!(ConfusionMatrix::new(&[10], &[1]).is_err());
}

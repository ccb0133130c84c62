//! Scalers: fit on train only, transform round-trips, serialization round-trips.

use mnist_support::scale::{MinMaxScaler, Scaler, Scaling, StandardScaler};
use mnist_support::Error;
use ndarray::{array, Array2, Axis};

fn train() -> Array2<f32> {
    // column 2 is constant, like MNIST's blank border
    array![[0., 10., 5.], [2., 30., 5.], [4., 50., 5.], [6., 70., 5.]]
}

#[test]
fn standard_scaler_uses_training_statistics_only() {
    let x = train();
    let s = StandardScaler::fit(&x.view()).unwrap();
    assert_eq!(s.mean, vec![3.0, 40.0, 5.0]);
    assert!((s.scale[0] - 5f32.sqrt()).abs() < 1e-6);
    assert_eq!(s.scale[2], 1.0, "zero-variance column keeps scale 1");
    let sc = Scaler::Standard(s);
    let z = sc.transform(&x.view()).unwrap();
    for col in z.axis_iter(Axis(1)).take(2) {
        assert!(col.mean().unwrap().abs() < 1e-6);
        assert!((col.std(0.0) - 1.0).abs() < 1e-5);
    }
    // other data is transformed with the training statistics, not its own
    let valid = array![[103., 40., 5.]];
    let zv = sc.transform(&valid.view()).unwrap();
    assert!((zv[[0, 0]] - 100.0 / 5f32.sqrt()).abs() < 1e-3);
    assert_eq!(zv[[0, 1]], 0.0);
}

#[test]
fn minmax_scaler_maps_train_to_unit_interval() {
    let x = train();
    let sc = Scaler::MinMax(MinMaxScaler::fit(&x.view()).unwrap());
    let m = sc.transform(&x.view()).unwrap();
    assert_eq!(m.column(0).to_vec(), vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
    assert_eq!(m.column(2).to_vec(), vec![0.0; 4]);
    let out = sc.transform(&array![[12., 0., 5.]].view()).unwrap();
    assert_eq!(
        out[[0, 0]],
        2.0,
        "values outside the training range are not clipped"
    );
}

#[test]
fn transforms_round_trip() {
    let x = train();
    for kind in [
        Scaling::None,
        Scaling::Unit,
        Scaling::Standard,
        Scaling::MinMax,
    ] {
        let sc = Scaler::fit(kind, &x.view()).unwrap();
        let back = sc
            .inverse_transform(&sc.transform(&x.view()).unwrap().view())
            .unwrap();
        for (a, b) in back.iter().zip(x.iter()) {
            assert!((a - b).abs() < 1e-4, "{kind:?}: {a} vs {b}");
        }
    }
}

#[test]
fn serialization_round_trips() {
    let x = train();
    for kind in [
        Scaling::None,
        Scaling::Unit,
        Scaling::Standard,
        Scaling::MinMax,
    ] {
        let sc = Scaler::fit(kind, &x.view()).unwrap();
        let json = sc.to_json();
        let back = Scaler::from_json(&json).unwrap();
        assert_eq!(back, sc);
        assert_eq!(
            back.transform(&x.view()).unwrap(),
            sc.transform(&x.view()).unwrap()
        );
    }
    assert!(matches!(
        Scaler::from_json("{\"kind\":\"standard\"}"),
        Err(Error::Decode { .. })
    ));
    assert!(matches!(
        Scaler::from_json("not json"),
        Err(Error::Decode { .. })
    ));
}

#[test]
fn bad_shapes_are_errors() {
    let sc = Scaler::fit(Scaling::Standard, &train().view()).unwrap();
    let wrong = Array2::<f32>::zeros((2, 5));
    assert!(matches!(sc.transform(&wrong.view()), Err(Error::Shape(_))));
    let empty = Array2::<f32>::zeros((0, 3));
    assert!(Scaler::fit(Scaling::MinMax, &empty.view()).is_err());
    let nan = array![[f32::NAN, 1.0]];
    assert!(Scaler::fit(Scaling::Standard, &nan.view()).is_err());
}

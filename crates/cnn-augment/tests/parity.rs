//! Parity with Keras's resampling: outputs equal `scipy.ndimage.affine_transform` (which Keras
//! calls) within 1e-4, for every transform, fill mode and interpolation order, on 1- and
//! 3-channel asymmetric images. Fixtures: `tests/fixtures/make_fixtures.py`.

use cnn_augment::*;

#[test]
fn affine_matches_scipy() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/affine_fixtures.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 144);
    let mut failures = Vec::new();
    for case in cases {
        let f = |k: &str| case["params"][k].as_f64().unwrap();
        let p = TransformParams {
            theta: f("theta"),
            tx: f("tx"),
            ty: f("ty"),
            shear: f("shear"),
            zx: f("zx"),
            zy: f("zy"),
            ..Default::default()
        };
        let (h, w, c) = (
            case["h"].as_u64().unwrap() as usize,
            case["w"].as_u64().unwrap() as usize,
            case["c"].as_u64().unwrap() as usize,
        );
        let cfg = AugmentConfig {
            fill_mode: FillMode::from_name(case["fill_mode"].as_str().unwrap()).unwrap(),
            cval: case["cval"].as_f64().unwrap() as f32,
            interpolation_order: case["order"].as_u64().unwrap() as u8,
            ..Default::default()
        };
        let input: Vec<f32> = case["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let want: Vec<f32> = case["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let got = apply_transform(
            &Image {
                h,
                w,
                c,
                data: input,
            },
            &p,
            &cfg,
        );
        let worst = got
            .data
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        if worst > 1e-4 {
            failures.push(format!(
                "{}: max diff {worst}",
                case["name"].as_str().unwrap()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

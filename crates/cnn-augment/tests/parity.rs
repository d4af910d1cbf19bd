//! Parity with Keras's own `ImageDataGenerator`: `scripts/keras/augment_fixtures.py` runs Keras 3's
//! `apply_transform` and `standardize` (and keras-preprocessing 1.1.2's for the documented axes)
//! on asymmetric square and non-square images; our outputs must equal theirs within 1e-4
//! (relative above 1) for every transform, fill mode, interpolation order, pixel operation and
//! standardisation option.

use cnn_augment::*;
use cnn_tensor::Tensor;
use serde_json::Value;

fn fixtures() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keras_augment.json"
    ))
    .expect("fixture file");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn params(case: &Value) -> TransformParams {
    let p = &case["params"];
    let f = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("params.{k}"));
    TransformParams {
        theta: f("theta"),
        tx: f("tx"),
        ty: f("ty"),
        shear: f("shear"),
        zx: f("zx"),
        zy: f("zy"),
        flip_horizontal: p["flip_horizontal"].as_bool().unwrap_or(false),
        flip_vertical: p["flip_vertical"].as_bool().unwrap_or(false),
        channel_shift_intensity: p["channel_shift_intensity"].as_f64().map(|v| v as f32),
        brightness: p["brightness"].as_f64().map(|v| v as f32),
    }
}

/// Our output for one case.
fn run(case: &Value, input: Vec<f32>) -> Vec<f32> {
    let (h, w, c) = (
        case["h"].as_u64().unwrap() as usize,
        case["w"].as_u64().unwrap() as usize,
        case["c"].as_u64().unwrap() as usize,
    );
    let img = Image {
        h,
        w,
        c,
        data: input,
    };
    let kind = case["kind"].as_str().unwrap();
    if kind == "standardize" {
        let o = &case["options"];
        let flag = |k: &str| o[k].as_bool().unwrap_or(false);
        let cfg = AugmentConfig {
            rescale: o["rescale"].as_f64().map(|v| v as f32),
            samplewise_center: flag("samplewise_center"),
            samplewise_std_normalization: flag("samplewise_std_normalization"),
            featurewise_center: flag("featurewise_center"),
            featurewise_std_normalization: flag("featurewise_std_normalization"),
            ..Default::default()
        };
        let mut g = ImageDataGenerator::new(cfg);
        let shape: Vec<usize> = case["fit_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        g.fit(&Tensor::new(shape, floats(&case["fit_batch"])).unwrap())
            .unwrap();
        let mut out = img;
        g.standardize(&mut out);
        return out.data;
    }
    let cfg = AugmentConfig {
        fill_mode: FillMode::from_name(case["fill_mode"].as_str().unwrap()).unwrap(),
        cval: case["cval"].as_f64().unwrap() as f32,
        interpolation_order: case["order"].as_u64().unwrap() as u8,
        axes: match kind {
            "keras" => Axes::Keras,
            "documented" => Axes::Documented,
            other => panic!("unknown case kind {other}"),
        },
        ..Default::default()
    };
    apply_transform(&img, &params(case), &cfg).data
}

#[test]
fn apply_transform_and_standardize_match_keras() {
    let v = fixtures();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(
        cases.len(),
        860,
        "the fixture file changed: update this count"
    );
    let mut failures = Vec::new();
    let mut per_kind = std::collections::BTreeMap::<&str, usize>::new();
    for case in cases {
        let key = case["input"].as_str().unwrap();
        let input = floats(&v["inputs"][key]["data"]);
        let want = floats(&case["output"]);
        let got = run(case, input);
        assert_eq!(got.len(), want.len());
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0f32, f32::max);
        if worst > 1e-4 || got.iter().any(|x| !x.is_finite()) {
            failures.push(format!(
                "{} {}: max relative diff {worst}",
                case["kind"].as_str().unwrap(),
                case["name"].as_str().unwrap()
            ));
        }
        *per_kind.entry(case["kind"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(
        per_kind.into_iter().collect::<Vec<_>>(),
        [("documented", 248), ("keras", 596), ("standardize", 16)]
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Keras:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The defaults are Keras's: a Keras user who sets nothing gets Keras 3's output.
#[test]
fn defaults_are_keras_3() {
    let cfg = AugmentConfig::default();
    assert_eq!(cfg.axes, Axes::Keras);
    assert_eq!(cfg.fill_mode, FillMode::Nearest);
    assert_eq!(cfg.interpolation_order, 1);
}

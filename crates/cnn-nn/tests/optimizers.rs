//! Every optimizer and learning-rate schedule against 20-step trajectories computed by Keras 3
//! itself (`tests/fixtures/keras_optimizers.json`, written by
//! `scripts/keras/optimizer_trajectories.py`): the same gradients, the same weights after every
//! step, within 1e-6 relative (absolute below 1).

use cnn_nn::*;
use serde_json::Value;

fn f(v: &Value, key: &str, default: f32) -> f32 {
    v.get(key)
        .and_then(Value::as_f64)
        .map_or(default, |x| x as f32)
}

fn b(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The optimizer a fixture case describes, with Keras's defaults for what it leaves out.
fn optimizer(c: &Value) -> Optimizer {
    let lr = f(c, "lr", 0.001);
    let kind = match c["kind"].as_str().unwrap() {
        "sgd" => OptimizerKind::Sgd {
            momentum: f(c, "momentum", 0.0),
            nesterov: b(c, "nesterov"),
        },
        "rmsprop" => OptimizerKind::Rmsprop {
            rho: f(c, "rho", 0.9),
            momentum: f(c, "momentum", 0.0),
            epsilon: f(c, "epsilon", 1e-7),
            centered: b(c, "centered"),
        },
        "adam" => OptimizerKind::Adam {
            beta_1: f(c, "beta_1", 0.9),
            beta_2: f(c, "beta_2", 0.999),
            epsilon: f(c, "epsilon", 1e-7),
            amsgrad: b(c, "amsgrad"),
        },
        "adamw" => OptimizerKind::Adamw {
            beta_1: f(c, "beta_1", 0.9),
            beta_2: f(c, "beta_2", 0.999),
            epsilon: f(c, "epsilon", 1e-7),
            weight_decay: f(c, "weight_decay", 0.004),
            amsgrad: b(c, "amsgrad"),
        },
        "adagrad" => OptimizerKind::Adagrad {
            initial_accumulator_value: f(c, "initial_accumulator_value", 0.1),
            epsilon: f(c, "epsilon", 1e-7),
        },
        "adadelta" => OptimizerKind::Adadelta {
            rho: f(c, "rho", 0.95),
            epsilon: f(c, "epsilon", 1e-7),
        },
        "nadam" => OptimizerKind::Nadam {
            beta_1: f(c, "beta_1", 0.9),
            beta_2: f(c, "beta_2", 0.999),
            epsilon: f(c, "epsilon", 1e-7),
        },
        other => panic!("unknown kind {other}"),
    };
    let schedule = match c.get("schedule") {
        Some(s) => serde_json::from_value(s.clone()).unwrap(),
        None => Schedule::Constant,
    };
    let ema = c
        .get("ema")
        .map(|e| serde_json::from_value(e.clone()).unwrap());
    Optimizer::from_config(OptimizerConfig {
        kind,
        learning_rate: lr,
        schedule,
        iterations: 0,
        // Keras's base-class weight decay ("decay": AdamW's is its "weight_decay").
        weight_decay: f(c, "decay", 0.0),
        ema,
        lookahead: None,
        exclude_from_weight_decay: Vec::new(),
        lr_multipliers: Vec::new(),
    })
}

#[test]
fn optimizers_follow_keras_trajectories() {
    let fx: Value = serde_json::from_str(include_str!("fixtures/keras_optimizers.json")).unwrap();
    let w0: Vec<f32> = serde_json::from_value(fx["w0"].clone()).unwrap();
    let grads: Vec<Vec<f32>> = serde_json::from_value(fx["grads"].clone()).unwrap();
    let cases = fx["cases"].as_object().unwrap();
    assert!(cases.len() >= 26);
    for (name, case) in cases {
        let mut opt = optimizer(&case["config"]);
        let want: Vec<Vec<f32>> = serde_json::from_value(case["trajectory"].clone()).unwrap();
        let mut w = vec![Tensor::new([w0.len()], w0.clone()).unwrap()];
        for (step, (g, want)) in grads.iter().zip(&want).enumerate() {
            let g = Tensor::new([g.len()], g.clone()).unwrap();
            opt.step(&mut w, &[g]).unwrap();
            for (i, (&got, &keras)) in w[0].data().iter().zip(want).enumerate() {
                // Relative to the weight, but not below 1e-6 of 1: a weight passing near zero
                // after steps of size ~1 keeps the rounding of those steps (Keras computes the
                // scheduled rate in f32, this crate in f64).
                let tol = 1e-6 * got.abs().max(keras.abs()).max(1.0);
                assert!(
                    (got - keras).abs() <= tol,
                    "{name}: step {}, weight {i}: {got} against Keras's {keras}",
                    step + 1
                );
            }
        }
        assert_eq!(opt.iterations, 20, "{name}");
        // What `fit` does at its end: with a moving average, it replaces the weights.
        let want: Vec<f32> = serde_json::from_value(case["finalized"].clone()).unwrap();
        opt.finalize_variable_values(&mut w, &[]);
        for (i, (&got, &keras)) in w[0].data().iter().zip(&want).enumerate() {
            let tol = 1e-6 * got.abs().max(keras.abs()).max(1.0);
            assert!(
                (got - keras).abs() <= tol,
                "{name}: finalized weight {i}: {got} against Keras's {keras}"
            );
        }
    }
}

#[test]
fn new_optimizers_are_known_by_name_and_keep_their_state_in_files() {
    for name in ["adagrad", "adadelta", "nadam", "amsgrad"] {
        let o = Optimizer::from_name(name, None).unwrap();
        assert!(
            o.describe().contains(name.trim_start_matches("ams")),
            "{}",
            o.describe()
        );
    }
    // Slots round-trip through a model file: a resumed Adadelta continues exactly.
    let spec = ModelSpec::new("tiny", [3]).add(spec::layers::dense(2, "softmax"));
    let x = Tensor::new([4, 3], (0..12).map(|i| i as f32 / 12.0).collect()).unwrap();
    let y = Targets::Sparse(vec![0, 1, 1, 0]);
    let dir = tempfile::tempdir().unwrap();
    for make in [Optimizer::adadelta, Optimizer::adagrad, Optimizer::nadam] {
        let mut m = Model::new(&spec, 1).unwrap();
        let mut opt = make(0.5);
        m.train_step(&x, &y, Loss::SparseCategoricalCrossentropy, &mut opt, 0)
            .unwrap();
        let path = dir.path().join("m.cnn");
        save_model(&path, &m, Some(&opt), 1, None).unwrap();
        let mut back = load_model(&path).unwrap();
        let mut opt2 = back.optimizer.take().unwrap();
        assert_eq!(opt2, opt);
        m.train_step(&x, &y, Loss::SparseCategoricalCrossentropy, &mut opt, 1)
            .unwrap();
        back.model
            .train_step(&x, &y, Loss::SparseCategoricalCrossentropy, &mut opt2, 1)
            .unwrap();
        assert_eq!(back.model.params(), m.params());
    }
}

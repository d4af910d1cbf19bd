//! Frozen layers (Keras's `layer.trainable = False`): training never changes their weights
//! (bit for bit, optimizer slots included), their weights count as non-trainable in the summary,
//! a frozen BatchNormalization runs in inference mode during training, and the flag survives
//! JSON specs and model files.

use cnn_nn::spec::layers::*;
use cnn_nn::{Loss, Model, ModelSpec, Optimizer, Targets, summary};
use cnn_tensor::Tensor;

fn spec(frozen: bool) -> ModelSpec {
    let f = |l: cnn_nn::LayerSpec| if frozen { l.frozen() } else { l };
    ModelSpec::new("freeze", [8, 8, 2])
        .add(f(conv2d(4, 3, "relu").named("base_conv")))
        .add(f(batch_norm().named("base_bn")))
        .add(flatten())
        .add(dense(3, "softmax").named("head"))
}

fn batch(seed: u64) -> (Tensor, Targets) {
    let x: Vec<f32> = (0..4 * 128)
        .map(|i| (i as f32 * 0.37 + seed as f32).sin() * 0.5 + 0.5)
        .collect();
    (
        Tensor::new([4, 8, 8, 2], x).unwrap(),
        Targets::Sparse(vec![0, 1, 2, 1]),
    )
}

fn bits(m: &Model, name: &str) -> Vec<u32> {
    m.named_weights()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
        .data()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn training_leaves_frozen_layers_exactly_as_they_were() {
    for kind in ["adam", "sgd"] {
        let mut m = Model::new(&spec(true), 1).unwrap();
        let before: Vec<(String, Vec<u32>)> = m
            .named_weights()
            .map(|(n, _)| (n.to_string(), bits(&m, n)))
            .collect();
        let mut opt = match kind {
            "adam" => Optimizer::adam(0.05),
            _ => Optimizer::sgd_momentum(0.1, 0.9, true),
        };
        for s in 0..5 {
            let (x, y) = batch(s);
            m.train_step(&x, &y, Loss::SparseCategoricalCrossentropy, &mut opt, s)
                .unwrap();
        }
        for (name, b) in &before {
            let same = &bits(&m, name) == b;
            // Everything of the frozen base (kernel, bias, gamma, beta and the moving
            // statistics, which a frozen BatchNormalization does not update) is unchanged; the
            // head learned.
            assert_eq!(same, name.starts_with("base_"), "{kind}: {name}");
        }
    }
}

#[test]
fn frozen_weights_count_as_non_trainable() {
    let frozen = cnn_nn::Architecture::from_spec(&spec(true)).unwrap();
    let free = cnn_nn::Architecture::from_spec(&spec(false)).unwrap();
    // conv 3·3·2·4 + 4 = 76, bn 4·4 = 16, dense 6·6·4·3 + 3 = 435.
    assert_eq!(free.param_counts(), (527, 519, 8));
    assert_eq!(frozen.param_counts(), (527, 435, 92));
    let s = summary(&frozen, false);
    assert!(s.contains("Trainable params: 435"), "{s}");
    assert!(s.contains("Non-trainable params: 92"), "{s}");
}

#[test]
fn frozen_batch_norm_runs_in_inference_mode_while_training() {
    let bn = |frozen: bool| {
        let l = batch_norm().named("bn");
        ModelSpec::new("bn", [4, 4, 2]).add(if frozen { l.frozen() } else { l })
    };
    let (x, _) = batch(3);
    let x = Tensor::new([2, 4, 4, 2], x.data()[..64].to_vec()).unwrap();
    let run = |frozen: bool, training: bool| {
        let mut m = Model::new(&bn(frozen), 1).unwrap();
        // Moving statistics away from 0 and 1, so inference differs from batch statistics.
        m.weight_mut("bn/moving_mean").unwrap().data_mut().fill(0.3);
        m.weight_mut("bn/moving_variance")
            .unwrap()
            .data_mut()
            .fill(2.0);
        let mut g = cnn_ops::Graph::new();
        let xv = g.constant(&x);
        let mode = cnn_nn::ForwardMode {
            training,
            ..cnn_nn::ForwardMode::inference()
        };
        let f = m.forward(&mut g, xv, mode).unwrap();
        g.value(f.output).data().to_vec()
    };
    let inference = run(false, false);
    assert_ne!(
        run(false, true),
        inference,
        "an unfrozen one uses the batch's statistics"
    );
    assert_eq!(
        run(true, true),
        inference,
        "a frozen one uses the moving statistics"
    );
}

#[test]
fn the_flag_survives_json_and_model_files() {
    let s = spec(true);
    let json = s.to_json();
    assert_eq!(json.matches("\"trainable\": false").count(), 2, "{json}");
    assert_eq!(ModelSpec::from_json(&json).unwrap(), s);
    assert!(!spec(false).to_json().contains("trainable"));
    let bad = json.replacen("\"trainable\": false", "\"trainable\": \"no\"", 1);
    let err = ModelSpec::from_json(&bad).unwrap_err().to_string();
    assert!(err.contains("`trainable` must be true or false"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.cnn");
    let m = Model::new(&s, 1).unwrap();
    cnn_nn::save_model(&path, &m, None, 0, None).unwrap();
    let back = cnn_nn::load_model(&path).unwrap();
    assert_eq!(back.model.frozen_params(), m.frozen_params());
    assert_eq!(back.model.architecture().param_counts(), (527, 435, 92));
}

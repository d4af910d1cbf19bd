//! Summaries and parameter counts exactly as Keras prints and counts them, and build-time
//! errors for impossible models.

use cnn_nn::layers::Conv2D;
use cnn_nn::spec::layers::*;
use cnn_nn::*;

fn arch(spec: &ModelSpec) -> Architecture {
    Architecture::from_spec(spec).unwrap()
}

#[test]
fn mnist_cnn_summary_is_keras_exact() {
    let a = arch(&zoo("mnist-cnn", None, None).unwrap());
    let want = "\
Model: \"mnist-cnn\"
_________________________________________________________________
Layer (type)                 Output Shape              Param #   
=================================================================
conv2d (Conv2D)              (None, 26, 26, 32)        320       
_________________________________________________________________
conv2d_1 (Conv2D)            (None, 24, 24, 64)        18496     
_________________________________________________________________
max_pooling2d (MaxPooling2D) (None, 12, 12, 64)        0         
_________________________________________________________________
flatten (Flatten)            (None, 9216)              0         
_________________________________________________________________
dense (Dense)                (None, 128)               1179776   
_________________________________________________________________
dense_1 (Dense)              (None, 10)                1290      
=================================================================
Total params: 1,199,882
Trainable params: 1,199,882
Non-trainable params: 0
_________________________________________________________________
";
    assert_eq!(summary(&a, false), want);
}

/// Chollet, DLwP 1st ed. §5.1 (Keras 2.0.8), with that era's names given explicitly.
#[test]
fn chollet_5_1_summary_matches_the_book() {
    let spec = ModelSpec {
        name: "sequential".into(),
        input_shape: vec![28, 28, 1],
        layers: vec![
            conv2d(32, 3, "relu").named("conv2d_1"),
            max_pool(2).named("max_pooling2d_1"),
            conv2d(64, 3, "relu").named("conv2d_2"),
            max_pool(2).named("max_pooling2d_2"),
            conv2d(64, 3, "relu").named("conv2d_3"),
            flatten().named("flatten_1"),
            dense(64, "relu").named("dense_1"),
            dense(10, "softmax").named("dense_2"),
        ],
        ..ModelSpec::default()
    };
    let book = "\
_________________________________________________________________
Layer (type)                 Output Shape              Param #   
=================================================================
conv2d_1 (Conv2D)            (None, 26, 26, 32)        320       
_________________________________________________________________
max_pooling2d_1 (MaxPooling2 (None, 13, 13, 32)        0         
_________________________________________________________________
conv2d_2 (Conv2D)            (None, 11, 11, 64)        18496     
_________________________________________________________________
max_pooling2d_2 (MaxPooling2 (None, 5, 5, 64)          0         
_________________________________________________________________
conv2d_3 (Conv2D)            (None, 3, 3, 64)          36928     
_________________________________________________________________
flatten_1 (Flatten)          (None, 576)               0         
_________________________________________________________________
dense_1 (Dense)              (None, 64)                36928     
_________________________________________________________________
dense_2 (Dense)              (None, 10)                650       
=================================================================
Total params: 93,322
Trainable params: 93,322
Non-trainable params: 0
_________________________________________________________________
";
    let s = summary(&arch(&spec), false);
    assert_eq!(s.split_once('\n').unwrap().1, book);
}

#[test]
fn zoo_totals_match_the_papers_and_keras() {
    let total = |name: &str| arch(&zoo(name, None, None).unwrap()).param_counts().0;
    assert_eq!(total("mnist-cnn"), 1_199_882);
    assert_eq!(total("mnist-cnn-dropout"), 1_199_882);
    assert_eq!(total("fashion-cnn"), 391_306);
    assert_eq!(
        total("dense-mnist"),
        784 * 100 + 100 + 100 * 50 + 50 + 50 * 10 + 10
    );
    assert_eq!(total("lenet5"), 61_706);
    assert_eq!(
        arch(&zoo("lenet5", Some(&[32, 32, 1]), None).unwrap())
            .param_counts()
            .0,
        61_706
    );
    assert_eq!(total("alexnet"), 62_378_344);
    // VGG, Simonyan & Zisserman Table 2 (133, 133, 133, 134, 138, 144 million).
    assert_eq!(total("vgg-a"), 132_863_336);
    assert_eq!(total("vgg-a-lrn"), 132_863_336);
    assert_eq!(total("vgg-b"), 133_047_848);
    assert_eq!(total("vgg-c"), 133_638_952);
    assert_eq!(total("vgg-d"), 138_357_544);
    assert_eq!(total("vgg16"), 138_357_544);
    assert_eq!(total("vgg-e"), 143_667_240);
    assert_eq!(total("vgg19"), 143_667_240);
    for (name, millions) in [
        ("vgg-a", 133),
        ("vgg-a-lrn", 133),
        ("vgg-b", 133),
        ("vgg-c", 134),
        ("vgg-d", 138),
        ("vgg-e", 144),
    ] {
        assert_eq!(
            (total(name) as f64 / 1e6).round() as u64,
            millions,
            "{name}"
        );
    }
}

#[test]
fn vgg16_layers_match_keras_applications() {
    let a = arch(&zoo("vgg16", None, None).unwrap());
    let find = |n: &str| a.layers.iter().find(|l| l.name == n).unwrap();
    assert_eq!(find("block1_conv2").total_params(), 36_928);
    assert_eq!(find("block3_conv1").total_params(), 295_168);
    assert_eq!(find("block5_conv3").total_params(), 2_359_808);
    assert_eq!(find("block5_pool").output_shape, vec![7, 7, 512]);
    assert_eq!(find("flatten").output_shape, vec![25088]);
    assert_eq!(find("fc1").total_params(), 102_764_544);
    assert_eq!(find("predictions").total_params(), 4_097_000);
    // VGG-C's 1x1 convolutions.
    let c = arch(&zoo("vgg-c", None, None).unwrap());
    assert_eq!(
        c.layers
            .iter()
            .filter(|l| matches!(
                l.config(),
                LayerConfig::Conv2D(Conv2D {
                    kernel_size: Size2(1, 1),
                    ..
                })
            ))
            .count(),
        3
    );
}

#[test]
fn keras_examples_counts() {
    // keras-team/keras examples/cifar10_cnn.py: 1,250,858.
    let spec = ModelSpec {
        name: "cifar10_cnn".into(),
        input_shape: vec![32, 32, 3],
        layers: vec![
            conv2d(32, 3, "relu").same(),
            conv2d(32, 3, "relu"),
            max_pool(2),
            dropout(0.25),
            conv2d(64, 3, "relu").same(),
            conv2d(64, 3, "relu"),
            max_pool(2),
            dropout(0.25),
            flatten(),
            dense(512, "relu"),
            dropout(0.5),
            dense(10, "softmax"),
        ],
        ..ModelSpec::default()
    };
    assert_eq!(arch(&spec).param_counts().0, 1_250_858);
    // DLwP §5.2 cats vs dogs: 3,453,121.
    let spec = ModelSpec {
        name: "cats".into(),
        input_shape: vec![150, 150, 3],
        layers: vec![
            conv2d(32, 3, "relu"),
            max_pool(2),
            conv2d(64, 3, "relu"),
            max_pool(2),
            conv2d(128, 3, "relu"),
            max_pool(2),
            conv2d(128, 3, "relu"),
            max_pool(2),
            flatten(),
            dropout(0.5),
            dense(512, "relu"),
            dense(1, "sigmoid"),
        ],
        ..ModelSpec::default()
    };
    assert_eq!(arch(&spec).param_counts().0, 3_453_121);
}

#[test]
fn batch_norm_moving_statistics_are_non_trainable() {
    let a = arch(&zoo("alexnet-cifar", None, None).unwrap());
    let (total, trainable, frozen) = a.param_counts();
    let bn_channels: u64 = 2 * 64 + 2 * 128 + 2 * 256 + 512;
    assert_eq!(frozen, 2 * bn_channels);
    assert_eq!(total, trainable + frozen);
    let s = summary(&a, false);
    assert!(
        s.contains(&format!("Non-trainable params: {}", commas(frozen))),
        "{s}"
    );
    let no_bias = ModelSpec {
        name: "m".into(),
        input_shape: vec![8, 8, 3],
        layers: vec![LayerSpec::from(Conv2D {
            filters: 4,
            kernel_size: Size2(3, 3),
            strides: Size2(1, 1),
            padding: PaddingSpec::Valid,
            dilation_rate: Size2(1, 1),
            activation: "linear".into(),
            use_bias: false,
            kernel_initializer: "he_normal".into(),
            bias_initializer: "zeros".into(),
        })],
        ..ModelSpec::default()
    };
    assert_eq!(arch(&no_bias).param_counts().0, 3 * 3 * 3 * 4);
}

#[test]
fn flops_summary_adds_costs() {
    let a = arch(&zoo("mnist-cnn", None, None).unwrap());
    let s = summary(&a, true);
    assert!(s.contains("MACs"), "{s}");
    // conv2d_1: 24*24 outputs x 64 filters x 288 = 10,616,832 MACs.
    assert!(s.contains("10.6M"), "{s}");
    let macs: u64 = a.layers.iter().map(|l| l.macs).sum();
    assert!(
        s.contains(&format!("Multiply-adds per sample: {}", commas(macs))),
        "{s}"
    );
}

fn build_err(input: &[usize], layers: Vec<LayerSpec>) -> String {
    let spec = ModelSpec {
        name: "m".into(),
        input_shape: input.to_vec(),
        layers,
        ..ModelSpec::default()
    };
    Architecture::from_spec(&spec).unwrap_err().to_string()
}

#[test]
fn impossible_models_are_clear_errors() {
    let e = build_err(
        &[5, 5, 1],
        vec![
            conv2d(8, 3, "relu"),
            conv2d(8, 3, "relu"),
            conv2d(8, 3, "relu"),
        ],
    );
    assert!(
        e.contains("layer conv2d_2 (Conv2D)")
            && e.contains("larger than the padded input")
            && e.contains("(None, 1, 1, 8)"),
        "{e}"
    );
    let e = build_err(
        &[28, 28, 1],
        vec![conv2d(8, 3, "relu"), dense(10, "softmax")],
    );
    assert!(
        e.contains("layer dense (Dense)")
            && e.contains("(None, 26, 26, 8)")
            && e.contains("Flatten"),
        "{e}"
    );
    let e = build_err(&[28, 28, 1], vec![conv2d(0, 3, "relu")]);
    assert!(e.contains("filters must be at least 1"), "{e}");
    let e = build_err(&[28, 28, 1], vec![flatten(), dense(0, "relu")]);
    assert!(e.contains("units must be at least 1"), "{e}");
    let e = build_err(
        &[28, 28, 1],
        vec![
            flatten(),
            dense(10, "relu").named("x"),
            dense(10, "relu").named("x"),
        ],
    );
    assert!(e.contains("both named `x`"), "{e}");
    let e = build_err(&[28, 28, 1], vec![flatten(), dense(10, "mish")]);
    assert!(e.contains("unknown activation `mish`"), "{e}");
    let e = build_err(
        &[28, 28, 1],
        vec![flatten(), dense(1_000_000_000_000, "relu")],
    );
    assert!(e.contains("over the limit"), "{e}");
    let e = build_err(&[28], vec![max_pool(2)]);
    assert!(e.contains("needs an image input"), "{e}");
    let e = build_err(&[0, 28, 1], vec![flatten()]);
    assert!(e.contains("positive dimensions"), "{e}");
    let e = build_err(&[28, 28, 1], vec![dropout(1.5)]);
    assert!(e.contains("rate 1.5"), "{e}");
    let e = build_err(&[4, 4, 1], vec![max_pool(5)]);
    assert!(e.contains("layer max_pooling2d (MaxPooling2D)"), "{e}");
    let e = build_err(&[28, 28, 1], vec![]);
    assert!(e.contains("no layers"), "{e}");
    assert!(
        zoo("resnet152", None, None)
            .unwrap_err()
            .to_string()
            .contains("known: mnist-cnn")
    );
}

#[test]
fn automatic_names_follow_tf_keras() {
    let a = arch(&zoo("mnist-cnn-dropout", None, None).unwrap());
    let names: Vec<&str> = a.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv2d",
            "conv2d_1",
            "max_pooling2d",
            "dropout",
            "flatten",
            "dense",
            "dropout_1",
            "dense_1"
        ]
    );
    // A user name that collides with a future automatic one is skipped over.
    let spec = ModelSpec {
        name: "m".into(),
        input_shape: vec![4],
        layers: vec![
            dense(3, "relu").named("dense_1"),
            dense(3, "relu"),
            dense(3, "relu"),
        ],
        ..ModelSpec::default()
    };
    let names: Vec<String> = arch(&spec).layers.iter().map(|l| l.name.clone()).collect();
    assert_eq!(names, ["dense_1", "dense", "dense_2"]);
}

#[test]
fn every_zoo_model_summarises_with_one_row_per_layer() {
    for name in ZOO {
        let a = arch(&zoo(name, None, None).unwrap());
        let s = summary(&a, false);
        let rows = s
            .lines()
            .filter(|l| l.contains(" (") && l.contains("(None"))
            .count();
        // Graphs also have their InputLayer row.
        let input_row = usize::from(!a.is_sequential());
        assert_eq!(rows, a.layers.len() + input_row, "{name}:\n{s}");
        let (total, _, _) = a.param_counts();
        assert!(
            s.contains(&format!("Total params: {}", commas(total))),
            "{name}"
        );
        // A JSON round trip gives the same architecture.
        let back = ModelSpec::from_json(&a.to_spec().to_json()).unwrap();
        assert_eq!(Architecture::from_spec(&back).unwrap(), a, "{name}");
    }
    // Zoo models take other input shapes and class counts where meaningful.
    let a = arch(&zoo("alexnet-cifar", Some(&[64, 64, 3]), Some(4)).unwrap());
    assert_eq!(a.output_shape(), &[4]);
    let a = arch(&zoo("vgg16", Some(&[32, 32, 3]), Some(10)).unwrap());
    assert_eq!(
        a.layers
            .iter()
            .find(|l| l.name == "block5_pool")
            .unwrap()
            .output_shape,
        vec![1, 1, 512]
    );
}

/// Totals as Keras prints them for its applications (checked against Keras 3 with the
/// TensorFlow backend: `keras.applications.ResNet50(weights=None).count_params()`, and the
/// same for `VGG16(include_top=False, input_shape=(150, 150, 3))`).
#[test]
fn graph_zoo_totals_match_keras() {
    let r = arch(&zoo("resnet50", None, None).unwrap());
    assert_eq!(r.param_counts(), (25_636_712, 25_583_592, 53_120));
    assert_eq!(
        r.layers.len(),
        176,
        "Keras's ResNet50 has 177 layers with its InputLayer"
    );
    let find = |n: &str| r.layers.iter().find(|l| l.name == n).unwrap();
    assert_eq!(find("conv1_pad").output_shape, [230, 230, 3]);
    assert_eq!(find("pool1_pool").output_shape, [56, 56, 64]);
    assert_eq!(find("conv2_block1_0_conv").total_params(), 16_640);
    assert_eq!(find("conv5_block3_out").output_shape, [7, 7, 2048]);
    assert_eq!(find("predictions").total_params(), 2_049_000);
    let base = arch(&no_top(&zoo("vgg16", Some(&[150, 150, 3]), None).unwrap()).unwrap());
    assert_eq!(base.param_counts().0, 14_714_688);
    assert_eq!(base.output_shape(), &[4, 4, 512]);
    assert_eq!(base.layers.last().unwrap().name, "block5_pool");
    let rb = arch(&no_top(&zoo("resnet50", None, None).unwrap()).unwrap());
    assert_eq!(rb.param_counts().0, 23_587_712);
    assert_eq!(rb.outputs, [rb.layers.len() - 1]);
    let mb = arch(&zoo("mobilenetv2", None, None).unwrap());
    assert_eq!(mb.param_counts(), (3_538_984, 3_504_872, 34_112));
    // Keras's cifar10_resnet.py, ResNet20 v1.
    let c = arch(&zoo("resnet20-cifar", None, None).unwrap());
    assert_eq!(c.param_counts(), (274_442, 273_066, 1_376));
    assert_eq!(c.output_shape(), &[10]);
}

/// The graph of `every_layer()` in `scripts/keras/zoo_layers.py`, as a cnn JSON spec.
const EVERY_LAYER: &str = r#"{"name": "every-layer", "input_shape": [16, 16, 3], "layers": [
  {"type": "Rescaling", "name": "rescale", "scale": 0.00784313725490196, "offset": -1},
  {"type": "Conv2D", "name": "conv", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"},
  {"type": "SeparableConv2D", "name": "sep", "filters": 16, "kernel_size": 3, "padding": "same",
   "depth_multiplier": 2, "activation": "swish"},
  {"type": "DepthwiseConv2D", "name": "dw", "inputs": "conv", "kernel_size": 3, "depth_multiplier": 2,
   "strides": 2, "padding": "same"},
  {"type": "MaxPooling2D", "name": "pool", "inputs": "sep"},
  {"type": "Multiply", "name": "mul", "inputs": ["dw", "pool"]},
  {"type": "Concatenate", "name": "cat", "inputs": ["mul", "dw"]},
  {"type": "ZeroPadding2D", "name": "zpad", "padding": [[1, 0], [0, 2]]},
  {"type": "ReLU", "name": "relu6", "max_value": 6},
  {"type": "GlobalMaxPooling2D", "name": "gmp"},
  {"type": "Reshape", "name": "reshape", "target_shape": [4, 8]},
  {"type": "Flatten", "name": "flat"},
  {"type": "BatchNormalization", "name": "bn", "epsilon": 1.001e-5},
  {"type": "Dense", "name": "out", "units": 5, "activation": "softmax"}]}"#;

/// Layer by layer against Keras's own models (`tests/fixtures/keras_zoo.json`, written by
/// `scripts/keras/zoo_layers.py` with Keras 3): the same layers in the same order, with the
/// same classes, output shapes, parameter counts and inputs.
#[test]
fn graph_zoo_matches_keras_layer_by_layer() {
    let facts: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/keras_zoo.json")).unwrap();
    let cases = [
        ("resnet50", zoo("resnet50", None, None).unwrap()),
        (
            "resnet50 --no-top",
            no_top(&zoo("resnet50", None, None).unwrap()).unwrap(),
        ),
        ("vgg16", zoo("vgg16", None, None).unwrap()),
        (
            "vgg16 --no-top 150x150x3",
            no_top(&zoo("vgg16", Some(&[150, 150, 3]), None).unwrap()).unwrap(),
        ),
        ("resnet20-cifar", zoo("resnet20-cifar", None, None).unwrap()),
        ("mobilenetv2", zoo("mobilenetv2", None, None).unwrap()),
        (
            "mobilenetv2 128x128x3",
            zoo("mobilenetv2", Some(&[128, 128, 3]), None).unwrap(),
        ),
        (
            "mobilenetv2 --no-top 97x97x3",
            no_top(&zoo("mobilenetv2", Some(&[97, 97, 3]), None).unwrap()).unwrap(),
        ),
        ("every-layer", ModelSpec::from_json(EVERY_LAYER).unwrap()),
    ];
    for (key, spec) in cases {
        let k = &facts[key];
        let a = arch(&spec);
        let (total, trainable, frozen) = a.param_counts();
        assert_eq!(
            (total, trainable, frozen),
            (
                k["total"].as_u64().unwrap(),
                k["trainable"].as_u64().unwrap(),
                k["non_trainable"].as_u64().unwrap()
            ),
            "{key}"
        );
        let kl = k["layers"].as_array().unwrap();
        assert_eq!(a.layers.len(), kl.len(), "{key}: layer count");
        for (ours, theirs) in a.layers.iter().zip(kl) {
            let what = format!("{key}: layer {}", ours.name);
            assert_eq!(ours.name, theirs["name"].as_str().unwrap(), "{what}");
            assert_eq!(
                ours.spec.class_name(),
                theirs["class"].as_str().unwrap(),
                "{what}"
            );
            let shape: Vec<usize> = serde_json::from_value(theirs["output_shape"].clone()).unwrap();
            assert_eq!(ours.output_shape, shape, "{what}");
            assert_eq!(
                ours.total_params(),
                theirs["params"].as_u64().unwrap(),
                "{what}"
            );
            let inputs: Vec<&str> = ours.inputs.iter().map(|&s| a.source_name(s)).collect();
            let keras_inputs: Vec<&str> = theirs["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| match v.as_str().unwrap() {
                    n if n.starts_with("input_layer") => DEFAULT_INPUT_NAME,
                    n => n,
                })
                .collect();
            assert_eq!(inputs, keras_inputs, "{what}");
        }
    }
}

//! Graph models (Keras's functional API): connections, shape inference and its errors, the
//! functional summary, gradients through merges and shared values, save/load.

use cnn_nn::layers::{Add, Concatenate, Multiply};
use cnn_nn::spec::layers::*;
use cnn_nn::*;
use cnn_ops::{Graph, Labels};
use cnn_tensor::{Tensor, seeded_rng};
use rand::RngExt;

/// conv → (conv → conv) + shortcut → pool → dense: one residual block.
fn residual() -> ModelSpec {
    let mut b = GraphBuilder::new("residual", [8, 8, 3]);
    let x = b.input();
    let h = b.apply(conv2d(4, 3, "relu").same(), &[&x]);
    let y = b.chain(
        &h,
        [conv2d(4, 3, "relu").same(), conv2d(4, 3, "linear").same()],
    );
    let s = b.apply(Add {}, &[&h, &y]);
    let out = b.chain(
        &s,
        [activation("relu"), global_avg_pool(), dense(3, "softmax")],
    );
    b.build(&[&out])
}

#[test]
fn a_residual_block_resolves_with_keras_names_and_counts() {
    let a = Architecture::from_spec(&residual()).unwrap();
    assert!(!a.is_sequential());
    let names: Vec<&str> = a.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv2d",
            "conv2d_1",
            "conv2d_2",
            "add",
            "activation",
            "global_average_pooling2d",
            "dense"
        ]
    );
    assert_eq!(a.layers[3].inputs, [Source::Layer(0), Source::Layer(2)]);
    assert_eq!(a.layers[0].inputs, [Source::Input]);
    // 3·3·3·4+4 + 2·(3·3·4·4+4) + 4·3+3
    assert_eq!(a.param_counts().0, 112 + 2 * 148 + 15);
    assert_eq!(a.output_shape(), &[3]);
}

#[test]
fn the_functional_summary_has_a_connected_to_column() {
    let a = Architecture::from_spec(&residual()).unwrap();
    let s = summary(&a, false);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[1].len(), 98, "{s}");
    assert!(lines[2].starts_with("Layer (type)"), "{s}");
    assert_eq!(&lines[2][53..65], "Param #     ", "{s}");
    assert!(lines[2].contains("Connected to"), "{s}");
    assert!(
        lines[4].starts_with("input_1 (InputLayer)            [(None, 8, 8, 3)]    0"),
        "{s}"
    );
    let add = lines
        .iter()
        .position(|l| l.starts_with("add (Add)"))
        .unwrap();
    assert!(lines[add].trim_end().ends_with("conv2d[0][0]"), "{s}");
    assert_eq!(lines[add + 1].trim(), "conv2d_2[0][0]", "{s}");
    assert_eq!(lines[add + 1].find('c'), Some(65), "{s}");
    assert!(s.contains("Total params: 423\n"), "{s}");
    // A chain keeps the Sequential layout.
    let chain = Architecture::from_spec(&zoo("mnist-cnn", None, None).unwrap()).unwrap();
    assert!(chain.is_sequential());
    assert!(!summary(&chain, false).contains("Connected to"));
}

#[test]
fn json_graphs_name_their_inputs_and_round_trip() {
    let json = r#"{"name": "residual", "input_shape": [8, 8, 3], "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same"},
        {"type": "Add", "inputs": ["conv2d", "conv2d_2"]},
        {"type": "Activation", "activation": "relu"},
        {"type": "GlobalAveragePooling2D"},
        {"type": "Dense", "units": 3, "activation": "softmax"}]}"#;
    let spec = ModelSpec::from_json(json).unwrap();
    let a = Architecture::from_spec(&spec).unwrap();
    let b = Architecture::from_spec(&residual()).unwrap();
    assert_eq!(a.layers, b.layers);
    // What a saved model stores names every connection and resolves to the same model.
    let stored = a.to_spec();
    assert!(stored.layers.iter().all(|l| l.inputs.is_some()));
    let again = Architecture::from_spec(&ModelSpec::from_json(&stored.to_json()).unwrap()).unwrap();
    assert_eq!(again, a);
    // One input may be written as a plain name.
    let one =
        r#"{"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "inputs": "input_1"}]}"#;
    assert_eq!(
        Architecture::from_spec(&ModelSpec::from_json(one).unwrap())
            .unwrap()
            .layers[0]
            .inputs,
        [Source::Input]
    );
    // A chain's stored spec has no connections (files stay as they were).
    let chain = Architecture::from_spec(&zoo("mnist-cnn", None, None).unwrap()).unwrap();
    assert!(!chain.to_spec().to_json().contains("inputs"));
}

fn err(spec: &ModelSpec) -> String {
    Architecture::from_spec(spec).unwrap_err().to_string()
}

#[test]
fn bad_graphs_are_errors_naming_the_layer() {
    let base = || ModelSpec::new("g", [8, 8, 3]).add(conv2d(4, 3, "relu").named("c"));
    let e = err(&base().add(add(["c", "nowhere"])));
    assert!(
        e.contains("layer add (Add)") && e.contains("`nowhere`"),
        "{e}"
    );
    let e = err(&base()
        .add(add(["c", "later"]))
        .add(conv2d(4, 3, "relu").named("later")));
    assert!(e.contains("not listed before it"), "{e}");
    let e = err(&base().add(add(["c"])));
    assert!(e.contains("needs at least 2 inputs, got 1"), "{e}");
    let e = err(&base().add(dense(3, "relu").reading(["c", "input_1"])));
    assert!(
        e.contains("layer dense (Dense): needs 1 input, got 2"),
        "{e}"
    );
    let e = err(&base().add(add(["c", "input_1"])));
    assert!(
        e.contains("needs inputs of one shape, got (None, 6, 6, 4) and (None, 8, 8, 3)"),
        "{e}"
    );
    let e = err(&base().add(concatenate(["c", "input_1"])));
    assert!(e.contains("differ only in the last axis"), "{e}");
    let mut bad_axis = base().add(concatenate(["c", "c"]));
    if let LayerConfig::Concatenate(c) = &mut bad_axis.layers[1].config {
        c.axis = 1;
    }
    assert!(err(&bad_axis).contains("axis 1 is not supported"));
    // A layer nothing reads that is not an output.
    let e = err(&base()
        .add(conv2d(2, 1, "relu").named("dangling"))
        .add(flatten().reading(["c"])));
    assert!(e.contains("`dangling` is never used"), "{e}");
    let e = err(&base().add(flatten().named("input_1")));
    assert!(e.contains("the name of the model input"), "{e}");
    let mut no_out = base();
    no_out.outputs = vec!["nope".into()];
    assert!(err(&no_out).contains("output `nope` is not a layer"));
    // Typos in JSON are still caught, with the layer's name.
    let e = ModelSpec::from_json(
        r#"{"input_shape": [4], "layers": [{"type": "Add", "name": "a", "input": ["x"]}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("layer a") && e.contains("input"), "{e}");
}

/// Every merge and a value read by several layers: `h` feeds a convolution, the `Add`
/// shortcut, the `Multiply` gate and the `Concatenate`.
fn branchy() -> ModelSpec {
    let mut b = GraphBuilder::new("branchy", [5, 5, 2]);
    let x = b.input();
    let h = b.apply(conv2d(3, 3, "tanh").same(), &[&x]);
    let c = b.apply(conv2d(3, 3, "tanh").same(), &[&h]);
    let s = b.apply(Add {}, &[&h, &c]);
    let gate = b.apply(conv2d(3, 1, "sigmoid"), &[&x]);
    let m = b.apply(Multiply {}, &[&s, &gate]);
    let cat = b.apply(Concatenate::default(), &[&m, &h, &x]);
    // Smooth all the way (average, not max, pooling) so central differences hold.
    let out = b.chain(&cat, [avg_pool(2), flatten(), dense(4, "linear")]);
    b.build(&[&out])
}

fn batch(n: usize, dims: &[usize], seed: u64) -> Tensor {
    let mut rng = seeded_rng(seed);
    let len = n * dims.iter().product::<usize>();
    let mut d = vec![n];
    d.extend_from_slice(dims);
    Tensor::new(
        d,
        (0..len).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect(),
    )
    .unwrap()
}

fn loss_and_grads(m: &mut Model, x: &Tensor, labels: &[usize]) -> (f64, Vec<Tensor>) {
    let mut g = Graph::new();
    let xv = g.constant(x);
    let mode = ForwardMode {
        training: true,
        logits: true,
        seed: 0,
        fused: false,
    };
    let f = m.forward(&mut g, xv, mode).unwrap();
    let l = g
        .softmax_cross_entropy(f.output, &Labels::Sparse(labels.to_vec()))
        .unwrap();
    let loss = g.value(l).item().unwrap() as f64;
    let mut grads = g.backward(l).unwrap();
    let gs = f.params.iter().map(|&v| grads.take(v).unwrap()).collect();
    (loss, gs)
}

/// Every weight's gradient against central differences of the loss, element by element.
fn finite_differences_agree(spec: &ModelSpec, x: &Tensor, labels: &[usize]) {
    let mut m = Model::new(spec, 3).unwrap();
    let (_, grads) = loss_and_grads(&mut m, x, labels);
    let names = m.param_names().to_vec();
    let eps = 1e-2f32;
    let mut checked = 0;
    for (pi, name) in names.iter().enumerate() {
        for k in 0..m.params()[pi].len() {
            let orig = m.params()[pi].data()[k];
            m.params_mut()[pi].data_mut()[k] = orig + eps;
            let up = loss_and_grads(&mut m, x, labels).0;
            m.params_mut()[pi].data_mut()[k] = orig - eps;
            let down = loss_and_grads(&mut m, x, labels).0;
            m.params_mut()[pi].data_mut()[k] = orig;
            let numeric = (up - down) / (2.0 * eps as f64);
            let analytic = grads[pi].data()[k] as f64;
            let tol = 2e-3 + 2e-2 * analytic.abs().max(numeric.abs());
            assert!(
                (numeric - analytic).abs() <= tol,
                "{}: {name}[{k}]: analytic {analytic}, numeric {numeric}",
                spec.name
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        Architecture::from_spec(spec).unwrap().param_counts().1
    );
}

#[test]
fn gradients_through_merges_and_shared_values_match_finite_differences() {
    finite_differences_agree(&branchy(), &batch(3, &[5, 5, 2], 9), &[0, 2, 3]);
}

#[test]
fn gradients_through_depthwise_separable_and_padding_match_finite_differences() {
    let spec = ModelSpec::from_json(
        r#"{"name": "mobile-bits", "input_shape": [6, 6, 2], "layers": [
        {"type": "ZeroPadding2D", "padding": [[0, 1], [0, 1]]},
        {"type": "DepthwiseConv2D", "kernel_size": 3, "strides": 2, "depth_multiplier": 2,
         "activation": "tanh"},
        {"type": "SeparableConv2D", "filters": 3, "kernel_size": 2, "padding": "same",
         "activation": "swish"},
        {"type": "Rescaling", "scale": 0.5, "offset": 0.1},
        {"type": "GlobalAveragePooling2D"},
        {"type": "Dense", "units": 4}]}"#,
    )
    .unwrap();
    finite_differences_agree(&spec, &batch(3, &[6, 6, 2], 5), &[1, 0, 3]);
}

#[test]
fn a_value_read_twice_gets_the_sum_of_both_gradients() {
    // y = Dense(x) + Dense(x) with the same layer output read twice: d/dW doubles.
    let mut b = GraphBuilder::new("twice", [3]);
    let x = b.input();
    let d = b.apply(dense(2, "linear").named("d"), &[&x]);
    let s = b.apply(Add {}, &[&d, &d]);
    let spec2 = b.build(&[&s]);
    let spec1 = ModelSpec::new("once", [3]).add(dense(2, "linear").named("d"));
    let x = batch(4, &[3], 1);
    let labels = [0, 1, 1, 0];
    let mut m1 = Model::new(&spec1, 5).unwrap();
    let mut m2 = Model::new(&spec2, 5).unwrap();
    assert_eq!(m1.params(), m2.params());
    // The loss of 2·d differs from d's, so compare the chain rule directly: the doubled
    // model's gradient is twice the single model's gradient at doubled logits.
    let w2: Vec<Tensor> = m1
        .params()
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.map_inplace(|v| 2.0 * v);
            t
        })
        .collect();
    for (p, w) in m1.params_mut().iter_mut().zip(&w2) {
        *p = w.clone();
    }
    let (l1, g1) = loss_and_grads(&mut m1, &x, &labels);
    let (l2, g2) = loss_and_grads(&mut m2, &x, &labels);
    assert!((l1 - l2).abs() < 1e-6, "{l1} {l2}");
    for (a, b) in g1.iter().zip(&g2) {
        for (&u, &v) in a.data().iter().zip(b.data()) {
            assert!((2.0 * u - v).abs() < 1e-5, "{u} {v}");
        }
    }
}

#[test]
fn fused_and_plain_forward_passes_agree_on_graphs() {
    // conv → pool where the conv is also read by the shortcut must not be fused away.
    let mut b = GraphBuilder::new("shared-conv", [8, 8, 2]);
    let x = b.input();
    let c = b.apply(conv2d(4, 3, "relu").same(), &[&x]);
    let p = b.apply(max_pool(2), &[&c]);
    let c2 = b.apply(conv2d(4, 3, "relu").same(), &[&p]);
    let p2 = b.apply(max_pool(2), &[&c2]);
    let side = b.apply(avg_pool(4), &[&c]);
    let s = b.apply(Add {}, &[&p2, &side]);
    let out = b.chain(&s, [flatten(), dense(3, "softmax")]);
    let spec = b.build(&[&out]);
    let mut m = Model::new(&spec, 1).unwrap();
    let x = batch(4, &[8, 8, 2], 2);
    let fused = m.predict(&x, 4).unwrap();
    let mut g = Graph::inference();
    let xv = g.constant(&x);
    let f = m.forward(&mut g, xv, ForwardMode::inference()).unwrap();
    assert_eq!(g.value(f.output), &fused);
    // The layer outputs of the unfused pass are what their names say.
    assert_eq!(g.value(f.layer_outputs[1]).dims(), &[4, 4, 4, 4]);
}

#[test]
fn graph_models_train_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.cnn");
    let spec = branchy();
    let mut m = Model::new(&spec, 1).unwrap();
    let x = batch(32, &[5, 5, 2], 4);
    let y = Targets::Sparse((0..32).map(|i| i % 4).collect());
    let mut opt = Optimizer::adam(0.01);
    let mut data = ArrayData::new(&x, &y, 8, true, 1).unwrap();
    let opts = FitOptions {
        epochs: 30,
        ..Default::default()
    };
    let h = m
        .fit(
            &mut opt,
            Loss::SparseCategoricalCrossentropy,
            &mut data,
            None,
            &opts,
            &mut [],
        )
        .unwrap();
    assert!(h.loss[29] < 0.5 * h.loss[0], "{:?}", h.loss);
    save_model(&path, &m, Some(&opt), 30, Some(&h)).unwrap();
    // Tagged as a graph, so readers that predate graphs refuse it by its tag.
    let mut bytes = std::fs::read(&path).unwrap();
    let find = |b: &[u8], pat: &[u8]| b.windows(pat.len()).position(|w| w == pat);
    assert!(find(&bytes, b"cnn-model/1").is_none());
    let at = find(&bytes, b"cnn-model/2").expect("the graph format tag") + 10;
    bytes[at] = b'9';
    let newer_path = dir.path().join("newer.cnn");
    std::fs::write(&newer_path, &bytes).unwrap();
    let e = load_model(&newer_path).unwrap_err().to_string();
    assert!(
        e.contains("`cnn-model/9` is not one this build reads"),
        "{e}"
    );
    let mut back = load_model(&path).unwrap();
    assert_eq!(back.model.architecture(), m.architecture());
    assert_eq!(
        back.model.predict(&x, 8).unwrap(),
        m.predict(&x, 8).unwrap()
    );
}

#[test]
fn several_outputs_predict_but_do_not_train() {
    let mut b = GraphBuilder::new("two-heads", [4]);
    let x = b.input();
    let h = b.apply(dense(8, "relu"), &[&x]);
    let a = b.apply(dense(2, "softmax").named("a"), &[&h]);
    let c = b.apply(dense(3, "sigmoid").named("c"), &[&h]);
    let spec = b.build(&[&a, &c]);
    let mut m = Model::new(&spec, 1).unwrap();
    let x = batch(5, &[4], 3);
    {
        let mut g = Graph::inference();
        let xv = g.constant(&x);
        let f = m.forward(&mut g, xv, ForwardMode::inference()).unwrap();
        assert_eq!(f.outputs.len(), 2);
        assert_eq!(g.value(f.outputs[1]).dims(), &[5, 3]);
    }
    let y = Targets::Sparse(vec![0; 5]);
    let mut opt = Optimizer::adam(0.01);
    let e = m
        .train_step(&x, &y, Loss::SparseCategoricalCrossentropy, &mut opt, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has 2 outputs"), "{e}");
}

/// `fixtures/pre-graph.cnn` was written by `cnn train` before layers moved into one home and
/// models became graphs (commit df5762c; the spec: Conv2D same → BatchNorm → relu → MaxPool 4
/// → Dropout → Flatten → Dense softmax, 2 epochs on the bundled Fashion-MNIST sample). It loads
/// as it was, and predicts the bits that commit's `Model::predict` gave on the same input.
#[test]
fn model_files_written_before_graphs_load_and_predict_the_same_bits() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pre-graph.cnn");
    let mut saved = load_model(&path).unwrap();
    assert_eq!(saved.epoch, 2);
    assert!(saved.model.architecture().is_sequential());
    let n = 4;
    let x: Vec<f32> = (0..n * 784)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect();
    let x = Tensor::new([n, 28, 28, 1], x).unwrap();
    // The plain pass gives that commit's bits; predict (which now folds the batch norm into
    // the convolution) the same to rounding.
    let y = saved.model.predict(&x, 4).unwrap();
    let plain = {
        let mut g = Graph::inference();
        let xv = g.constant(&x);
        let mode = ForwardMode {
            fused: true,
            ..ForwardMode::inference()
        };
        let f = saved.model.forward(&mut g, xv, mode).unwrap();
        g.value(f.output).clone()
    };
    for (a, b) in y.data().iter().zip(plain.data()) {
        assert!((a - b).abs() < 1e-6, "{a} {b}");
    }
    let want: [u32; 40] = [
        0x3e228b18, 0x3cb77bef, 0x3e2c29c8, 0x3d3ca947, 0x3d448830, 0x3d92962f, 0x3e1b745a,
        0x3d9f2d03, 0x3e1515f5, 0x3de146b7, 0x3e535365, 0x3c8165a9, 0x3e0e4c5c, 0x3d2df2e5,
        0x3d3d36c7, 0x3d69fcf2, 0x3e0a23e8, 0x3dbc8415, 0x3e37dcd9, 0x3db14e39, 0x3e2433da,
        0x3c9fee08, 0x3e003793, 0x3d59222b, 0x3d818db3, 0x3d740f10, 0x3e42b588, 0x3dab61da,
        0x3e2f5b53, 0x3d9783c8, 0x3e44e205, 0x3ca448de, 0x3e0bf08a, 0x3d1ec9b4, 0x3d3955e2,
        0x3d909440, 0x3e0f147e, 0x3da221bf, 0x3e27fbc4, 0x3de8624f,
    ];
    let got: Vec<u32> = plain.data().iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want);
    // Saved again, it is read back the same.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.cnn");
    save_model(&again, &saved.model, saved.optimizer.as_ref(), 2, None).unwrap();
    let mut back = load_model(&again).unwrap();
    assert_eq!(back.model.predict(&x, 4).unwrap(), y);
}

#[test]
fn new_layers_refuse_what_they_cannot_do() {
    let e = |layer: &str, shape: &str| {
        let json = format!(r#"{{"input_shape": {shape}, "layers": [{layer}]}}"#);
        Architecture::from_spec(&ModelSpec::from_json(&json).unwrap())
            .unwrap_err()
            .to_string()
    };
    let s = e(r#"{"type": "ReLU", "max_value": -1}"#, "[4]");
    assert!(
        s.contains("layer re_lu (ReLU)") && s.contains("max_value"),
        "{s}"
    );
    let s = e(r#"{"type": "ReLU", "threshold": 0.5}"#, "[4]");
    assert!(s.contains("threshold 0.5"), "{s}");
    let s = e(r#"{"type": "Reshape", "target_shape": [3, -1]}"#, "[32]");
    assert!(s.contains("cannot reshape (None, 32) to [3, -1]"), "{s}");
    let s = e(r#"{"type": "Reshape", "target_shape": [-1, -1]}"#, "[32]");
    assert!(s.contains("at most one -1"), "{s}");
    let s = e(r#"{"type": "Reshape", "target_shape": [5, 7]}"#, "[32]");
    assert!(s.contains("32 values do not fit 35"), "{s}");
    let s = e(
        r#"{"type": "DepthwiseConv2D", "kernel_size": 5}"#,
        "[4, 4, 2]",
    );
    assert!(
        s.contains("layer depthwise_conv2d (DepthwiseConv2D)"),
        "{s}"
    );
    let s = e(r#"{"type": "DepthwiseConv2D", "kernel_size": 3}"#, "[16]");
    assert!(s.contains("needs an image input"), "{s}");
    let s = e(
        r#"{"type": "SeparableConv2D", "filters": 0, "kernel_size": 3}"#,
        "[8, 8, 2]",
    );
    assert!(s.contains("filters must be at least 1"), "{s}");
    let s = e(r#"{"type": "Rescaling", "scale": 1e40}"#, "[4]");
    assert!(s.contains("must be finite"), "{s}");
    let s = e(r#"{"type": "Activation", "activation": "mish"}"#, "[4]");
    assert!(
        s.contains("unknown activation `mish`") && s.contains("gelu"),
        "{s}"
    );
    // A Reshape with -1 infers the size, and runs.
    let spec = ModelSpec::from_json(
        r#"{"input_shape": [2, 3, 4], "layers": [{"type": "Reshape", "target_shape": [-1, 4]}]}"#,
    )
    .unwrap();
    let mut m = Model::new(&spec, 0).unwrap();
    assert_eq!(m.architecture().output_shape(), &[6, 4]);
    let x = batch(2, &[2, 3, 4], 1);
    let y = m.predict(&x, 2).unwrap();
    assert_eq!(y.dims(), &[2, 6, 4]);
    assert_eq!(y.data(), x.data());
}

/// Sizes from a JSON spec or a model file whose arithmetic would overflow are errors naming
/// the layer, never a panic (debug builds check overflow) or a wrapped size (release builds).
#[test]
fn absurd_sizes_in_specs_are_errors_not_overflows() {
    let err = |layer: &str, shape: &str| {
        let json = format!(r#"{{"input_shape": {shape}, "layers": [{layer}]}}"#);
        match ModelSpec::from_json(&json) {
            Ok(spec) => Architecture::from_spec(&spec).unwrap_err().to_string(),
            Err(e) => e.to_string(),
        }
    };
    let huge = usize::MAX;
    let cases = [
        // (k - 1) · dilation overflowed in geometry.rs.
        format!(r#"{{"type": "Conv2D", "filters": 1, "kernel_size": 3, "dilation_rate": {huge}}}"#),
        format!(r#"{{"type": "Conv2D", "filters": 1, "kernel_size": {huge}}}"#),
        format!(r#"{{"type": "Conv2D", "filters": {huge}, "kernel_size": 3}}"#),
        format!(
            r#"{{"type": "Conv2D", "filters": 2, "kernel_size": 3, "strides": {huge}, "padding": "same"}}"#
        ),
        format!(r#"{{"type": "MaxPooling2D", "pool_size": {huge}}}"#),
        format!(r#"{{"type": "AveragePooling2D", "pool_size": 2, "strides": {huge}}}"#),
        format!(r#"{{"type": "DepthwiseConv2D", "kernel_size": 3, "depth_multiplier": {huge}}}"#),
        format!(r#"{{"type": "SeparableConv2D", "filters": {huge}, "kernel_size": 1}}"#),
        format!(r#"{{"type": "ZeroPadding2D", "padding": {huge}}}"#),
        format!(r#"{{"type": "ZeroPadding2D", "padding": [[{huge}, {huge}], [0, 0]]}}"#),
        format!(r#"{{"type": "Dense", "units": {huge}}}"#),
        r#"{"type": "Reshape", "target_shape": [9223372036854775807, 2]}"#.to_string(),
    ];
    for layer in &cases {
        let shape = if layer.contains("Dense") || layer.contains("Reshape") {
            "[64]"
        } else {
            "[8, 8, 2]"
        };
        let e = err(layer, shape);
        assert!(
            e.contains("layer ") || e.contains("over the limit") || e.contains("invalid"),
            "{layer}: {e}"
        );
    }
    let e = err(r#"{"type": "Flatten"}"#, "[1048577, 1, 1]");
    assert!(
        e.contains("input dimension 1048577 is over the limit"),
        "{e}"
    );
}

/// `predict` frees each activation once its last reader has run (a streaming inference
/// graph); its outputs are those of a graph that keeps everything (to rounding, as it folds
/// batch norms into convolutions) — for chains,
/// residual graphs (a value read twice, by a block and its shortcut), fused conv+pool, dropout
/// passing its input through, and depthwise blocks; batch norms and activations that read a
/// value last overwrite it (`Graph::donate`).
#[test]
fn predict_frees_activations_and_keeps_its_results() {
    // Values that must not be overwritten in place: a convolution's output read by a dropout
    // (which passes it through at inference, then a batch norm reads it last) and by a
    // shortcut; the model's input read by an activation (tanh: it changes the non-negative
    // test images) and by a shortcut.
    let shared = {
        let mut b = GraphBuilder::new("shared", [8, 8, 4]);
        let x = b.input();
        let a = b.apply(activation("tanh"), &[&x]);
        let s0 = b.apply(Add {}, &[&x, &a]);
        let h = b.apply(conv2d(4, 3, "linear").same(), &[&s0]);
        let d = b.chain(&h, [dropout(0.5), batch_norm(), activation("relu")]);
        let s = b.apply(Add {}, &[&h, &d]);
        let out = b.chain(&s, [global_avg_pool(), dense(3, "softmax")]);
        b.build(&[&out])
    };
    let zoo_specs = [
        ("mnist-cnn-dropout", vec![28, 28, 1]),
        ("resnet20-cifar", vec![32, 32, 3]),
        ("mobilenetv2", vec![32, 32, 3]),
    ]
    .map(|(name, shape)| zoo(name, Some(&shape), Some(7)).unwrap());
    for spec in zoo_specs.into_iter().chain([shared]) {
        let (name, shape) = (spec.name.clone(), spec.input_shape.clone());
        let mut m = Model::new(&spec, 3).unwrap();
        let per: usize = shape.iter().product();
        let mut dims = vec![3];
        dims.extend(&shape);
        let x = Tensor::new(dims, (0..3 * per).map(|i| (i % 13) as f32 / 13.0).collect()).unwrap();
        let streamed = m.predict(&x, 3).unwrap();
        let mut g = Graph::inference();
        let xv = g.constant(&x);
        let mode = ForwardMode {
            fused: true,
            ..ForwardMode::inference()
        };
        let f = m.forward(&mut g, xv, mode).unwrap();
        let kept = g.value(f.output).clone();
        assert_eq!(streamed.dims(), kept.dims(), "{name}");
        // The same to rounding: predict folds batch norms into convolutions (tests/fold.rs).
        let d = streamed
            .data()
            .iter()
            .zip(kept.data())
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(d < 1e-5, "{name}: streamed predictions differ by {d}");
    }
}

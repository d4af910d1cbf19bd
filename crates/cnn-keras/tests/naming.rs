//! The zoo's graph models are listed in Keras's own layer order: cnn-nn's `summary_zoo` test
//! shows their layers are those of Keras's models in `model.layers` order (names, classes,
//! inputs); here the order Keras's `map_graph` gives them (`functional_order`) is that same
//! order, so weights saved by Keras for ResNet-50 or MobileNetV2 (`.weights.h5`, counted in
//! that order) land on the right layers.

use cnn_keras::naming::functional_order;
use cnn_nn::{Architecture, no_top, zoo};

#[test]
fn zoo_graphs_are_in_keras_layer_order() {
    for (label, spec) in [
        ("resnet50", zoo("resnet50", None, None).unwrap()),
        (
            "resnet50 no top",
            no_top(&zoo("resnet50", None, None).unwrap()).unwrap(),
        ),
        ("mobilenetv2", zoo("mobilenetv2", None, None).unwrap()),
        ("resnet20-cifar", zoo("resnet20-cifar", None, None).unwrap()),
    ] {
        let arch = Architecture::from_spec(&spec).unwrap();
        let order = functional_order(&arch);
        let want: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..arch.layers.len()).map(Some))
            .collect();
        assert_eq!(order, want, "{label}");
    }
}

#[test]
fn functional_order_breaks_depth_ties_by_first_visit_from_the_outputs() {
    use cnn_nn::GraphBuilder;
    use cnn_nn::spec::layers::*;
    // Two branches of equal depth: Keras lists the branch its walk from the output meets first
    // (the Add's first input) first, whatever order they were declared in.
    let mut b = GraphBuilder::new("branches", [8, 8, 3]);
    let x = b.input();
    let left = b.apply(conv2d(4, 3, "relu").same(), &[&x]);
    let right = b.apply(conv2d(4, 1, "relu"), &[&x]);
    let sum = b.apply(add(Vec::<String>::new()), &[&right, &left]);
    let spec = b.build(&[&sum]);
    let arch = Architecture::from_spec(&spec).unwrap();
    let names: Vec<&str> = functional_order(&arch)
        .into_iter()
        .map(|e| e.map_or(arch.input_name.as_str(), |i| arch.layers[i].name.as_str()))
        .collect();
    let (l, r) = (&arch.layers[0].name, &arch.layers[1].name);
    assert_eq!(
        names,
        [arch.input_name.as_str(), r, l, &arch.layers[2].name]
    );
}

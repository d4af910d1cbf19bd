//! torchvision's layouts as cnn specs, each with the map from its `state_dict` names to ours.
//!
//! The layers are torchvision's (`torchvision/models/vgg.py`, `alexnet.py`, `resnet.py`):
//! padding is explicit where PyTorch's symmetric padding differs from Keras's `same` (AlexNet's
//! first convolution, ResNet's strided 3x3 convolutions and its stem), dropout sits where
//! torchvision puts it, batch norms use PyTorch's epsilon 1e-5 and its momentum 0.1 (Keras's
//! 0.9), ResNet's convolutions have no bias. torchvision's `AdaptiveAvgPool2d` before the
//! classifier (7x7 for VGG, 6x6 for AlexNet) is the identity at 224x224; where the feature map
//! is a multiple of that size it becomes an `AveragePooling2D`, and other sizes are refused
//! (`include_top = false` takes any size). The classifier ends in a softmax, so `cnn predict`
//! prints probabilities; torchvision's module returns the logits before it.

use cnn_nn::layers::{Add, BatchNormalization, Conv2D};
use cnn_nn::spec::layers::*;
use cnn_nn::{Architecture, GraphBuilder, LayerSpec, ModelSpec, Node};

use crate::error::{Result, TorchvisionError};

/// The architectures torchvision names that cnn builds.
pub const ARCHITECTURES: &[&str] = &["vgg11", "vgg13", "vgg16", "vgg19", "alexnet", "resnet50"];

/// What to build: a torchvision architecture at an input size and class count.
#[derive(Clone, Debug, PartialEq)]
pub struct Torchvision {
    /// One of [`ARCHITECTURES`].
    pub name: String,
    /// Input `[H, W, C]` (torchvision's are 224x224x3).
    pub input_shape: Vec<usize>,
    /// Outputs of the classifier (1000 for ImageNet).
    pub classes: usize,
    /// Keep the classifier (false: the convolutional features only, any input size).
    pub include_top: bool,
    /// Every width (channels, hidden units) divided by this: 1 is torchvision's model; larger
    /// values give the same layout in miniature, for small test files.
    pub width_divisor: usize,
}

impl Torchvision {
    /// torchvision's model `name` at 224x224x3 with 1000 classes.
    pub fn new(name: &str) -> Self {
        Torchvision {
            name: name.into(),
            input_shape: vec![224, 224, 3],
            classes: 1000,
            include_top: true,
            width_divisor: 1,
        }
    }
}

/// How a torchvision module's tensors become a layer's weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Conv2d`: `weight` OIHW → `kernel` HWIO, `bias` (when the layer has one).
    Conv,
    /// `Linear`: `weight` (out, in) → `kernel` (in, out), `bias`.
    Linear,
    /// The first `Linear` after the flatten: as [`Kind::Linear`] with the input rows reordered
    /// from PyTorch's (C, H, W) flattening to cnn's (H, W, C) one.
    FlattenedLinear {
        /// The flattened feature map's height.
        h: usize,
        /// Its width.
        w: usize,
        /// Its channels.
        c: usize,
    },
    /// `BatchNorm2d`: `weight`, `bias`, `running_mean`, `running_var` → `gamma`, `beta`,
    /// `moving_mean`, `moving_variance` (`num_batches_tracked` is not used).
    BatchNorm,
}

/// One torchvision module with weights and the cnn layer that takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The module's `state_dict` prefix (`features.0`, `layer1.0.conv1`).
    pub module: String,
    /// The cnn layer's name.
    pub layer: String,
    /// The conversion.
    pub kind: Kind,
}

/// A torchvision architecture as a cnn spec with the map of its weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The model.
    pub spec: ModelSpec,
    /// The modules with weights, in torchvision's order.
    pub entries: Vec<Entry>,
}

/// Builds the spec and weight map of `t`.
///
/// # Errors
/// An unknown name, a zero width divisor or class count, or an input size the classifier
/// cannot take.
pub fn layout(t: &Torchvision) -> Result<Layout> {
    if t.width_divisor == 0 || t.classes == 0 {
        return Err(TorchvisionError::Architecture {
            name: t.name.clone(),
            message: "the width divisor and the class count must be positive".into(),
        });
    }
    let mut layout = match t.name.as_str() {
        "vgg11" | "vgg13" | "vgg16" | "vgg19" => vgg(t)?,
        "alexnet" => alexnet(t)?,
        "resnet50" => resnet50(t),
        other => {
            return Err(TorchvisionError::Architecture {
                name: other.into(),
                message: format!("is not one of {}", ARCHITECTURES.join(", ")),
            });
        }
    };
    let arch =
        Architecture::from_spec(&layout.spec).map_err(|e| TorchvisionError::Architecture {
            name: t.name.clone(),
            message: e.to_string(),
        })?;
    // The first Linear after the flatten (past any dropout) reads an (H, W, C) map.
    for e in &mut layout.entries {
        let Some(i) = arch.layer_index(&e.layer) else {
            continue;
        };
        let before = arch.layers[..i]
            .iter()
            .rev()
            .find(|l| l.config().class_name() != "Dropout");
        if let (Some(f), Kind::Linear) = (before, e.kind)
            && f.config().class_name() == "Flatten"
            && let [h, w, c] = f.input_shapes[0][..]
        {
            e.kind = Kind::FlattenedLinear { h, w, c };
        }
    }
    Ok(layout)
}

/// The spatial size after the feature extractor, checked against the adaptive pool's `target`:
/// `None` when they are equal, `Some(k)` for an `AveragePooling2D(k)`.
fn adaptive_pool(t: &Torchvision, arch_so_far: &ModelSpec, target: usize) -> Result<Option<usize>> {
    let arch =
        Architecture::from_spec(arch_so_far).map_err(|e| TorchvisionError::Architecture {
            name: t.name.clone(),
            message: e.to_string(),
        })?;
    let shape = arch.output_shape();
    let (h, w) = (shape[0], shape[1]);
    if h == target && w == target {
        return Ok(None);
    }
    if h == w && h > target && h.is_multiple_of(target) {
        return Ok(Some(h / target));
    }
    Err(TorchvisionError::Architecture {
        name: t.name.clone(),
        message: format!(
            "its classifier needs a {target}x{target} feature map (or a multiple: torchvision's \
             adaptive pool), but input {}x{} gives {h}x{w}; use 224x224, or leave the \
             classifier out (include_top false / --no-top)",
            t.input_shape[0], t.input_shape[1]
        ),
    })
}

fn entry(module: impl Into<String>, layer: impl Into<String>, kind: Kind) -> Entry {
    Entry {
        module: module.into(),
        layer: layer.into(),
        kind,
    }
}

/// PyTorch's `BatchNorm2d` defaults: epsilon 1e-5, running averages kept with momentum 0.1.
fn torch_bn(name: impl Into<String>) -> LayerSpec {
    LayerSpec::from(BatchNormalization {
        momentum: 0.9,
        epsilon: 1e-5,
    })
    .named(name)
}

/// A convolution without bias (torchvision's ResNet).
fn conv_nobias(filters: usize, kernel: usize, stride: usize, name: impl Into<String>) -> LayerSpec {
    let mut c = Conv2D::new(filters, kernel, "linear");
    c.use_bias = false;
    LayerSpec::from(c).strides(stride).named(name)
}

/// The classifier of VGG and AlexNet: `[Dropout,] Linear, ReLU, Dropout, Linear, ReLU,
/// [Dropout,] Linear` with torchvision's indices in `classifier`.
fn classifier(
    spec: &mut ModelSpec,
    entries: &mut Vec<Entry>,
    hidden: usize,
    classes: usize,
    dropout_first: bool,
) {
    spec.layers.push(flatten().named("flatten"));
    let (fc1, fc2, fc3) = if dropout_first { (1, 4, 6) } else { (0, 3, 6) };
    if dropout_first {
        spec.layers.push(dropout(0.5).named("dropout1"));
    }
    spec.layers.push(dense(hidden, "relu").named("fc1"));
    spec.layers.push(dropout(0.5).named(if dropout_first {
        "dropout2"
    } else {
        "dropout1"
    }));
    spec.layers.push(dense(hidden, "relu").named("fc2"));
    if !dropout_first {
        spec.layers.push(dropout(0.5).named("dropout2"));
    }
    spec.layers
        .push(dense(classes, "softmax").named("predictions"));
    for (i, name) in [(fc1, "fc1"), (fc2, "fc2"), (fc3, "predictions")] {
        entries.push(entry(format!("classifier.{i}"), name, Kind::Linear));
    }
}

/// torchvision's `vgg11`…`vgg19` (without batch norm): configurations A, B, D, E of Simonyan &
/// Zisserman, named as Keras's VGG16 (`block1_conv1`, `fc1`, `predictions`).
fn vgg(t: &Torchvision) -> Result<Layout> {
    let convs: [usize; 5] = match t.name.as_str() {
        "vgg11" => [1, 1, 2, 2, 2],
        "vgg13" => [2, 2, 2, 2, 2],
        "vgg16" => [2, 2, 3, 3, 3],
        _ => [2, 2, 4, 4, 4],
    };
    let d = t.width_divisor;
    let mut spec = ModelSpec::new(t.name.clone(), t.input_shape.clone());
    let mut entries = Vec::new();
    let mut index = 0;
    for (b, (&n, filters)) in convs.iter().zip([64, 128, 256, 512, 512]).enumerate() {
        for i in 1..=n {
            let name = format!("block{}_conv{i}", b + 1);
            spec.layers
                .push(conv2d(filters / d, 3, "relu").same().named(name.clone()));
            entries.push(entry(format!("features.{index}"), name, Kind::Conv));
            index += 2;
        }
        spec.layers
            .push(max_pool(2).named(format!("block{}_pool", b + 1)));
        index += 1;
    }
    if t.include_top {
        if let Some(k) = adaptive_pool(t, &spec, 7)? {
            spec.layers.push(avg_pool(k).named("avgpool"));
        }
        classifier(&mut spec, &mut entries, 4096 / d, t.classes, false);
    }
    Ok(Layout { spec, entries })
}

/// torchvision's `alexnet` (after Krizhevsky's "one weird trick" paper): 64, 192, 384, 256,
/// 256 filters, no LRN, the first convolution 11x11/4 with padding 2, an adaptive 6x6 pool.
fn alexnet(t: &Torchvision) -> Result<Layout> {
    let d = t.width_divisor;
    let mut spec = ModelSpec::new(t.name.clone(), t.input_shape.clone());
    let mut entries = Vec::new();
    spec.layers.extend([
        zero_pad((2, 2), (2, 2)).named("conv1_pad"),
        conv2d(64 / d, 11, "relu").strides(4).named("conv1"),
        max_pool(3).strides(2).named("pool1"),
        conv2d(192 / d, 5, "relu").same().named("conv2"),
        max_pool(3).strides(2).named("pool2"),
        conv2d(384 / d, 3, "relu").same().named("conv3"),
        conv2d(256 / d, 3, "relu").same().named("conv4"),
        conv2d(256 / d, 3, "relu").same().named("conv5"),
        max_pool(3).strides(2).named("pool5"),
    ]);
    for (i, name) in [
        (0, "conv1"),
        (3, "conv2"),
        (6, "conv3"),
        (8, "conv4"),
        (10, "conv5"),
    ] {
        entries.push(entry(format!("features.{i}"), name, Kind::Conv));
    }
    if t.include_top {
        if let Some(k) = adaptive_pool(t, &spec, 6)? {
            spec.layers.push(avg_pool(k).named("avgpool"));
        }
        classifier(&mut spec, &mut entries, 4096 / d, t.classes, true);
    }
    Ok(Layout { spec, entries })
}

/// One torchvision `Bottleneck` (v1.5: the stride on the 3x3 convolution), names as
/// torchvision's modules with `_` for `.` (`layer1_0_conv1`).
fn bottleneck(
    b: &mut GraphBuilder,
    entries: &mut Vec<Entry>,
    x: &Node,
    planes: usize,
    stride: usize,
    downsample: bool,
    module: &str,
) -> Node {
    let n = module.replace('.', "_");
    let mut push = |m: &str, kind: Kind| {
        entries.push(entry(
            format!("{module}.{m}"),
            format!("{n}_{}", m.replace('.', "_")),
            kind,
        ));
    };
    push("conv1", Kind::Conv);
    push("bn1", Kind::BatchNorm);
    push("conv2", Kind::Conv);
    push("bn2", Kind::BatchNorm);
    push("conv3", Kind::Conv);
    push("bn3", Kind::BatchNorm);
    if downsample {
        push("downsample.0", Kind::Conv);
        push("downsample.1", Kind::BatchNorm);
    }
    let y = b.chain(
        x,
        [
            conv_nobias(planes, 1, 1, format!("{n}_conv1")),
            torch_bn(format!("{n}_bn1")),
            activation("relu").named(format!("{n}_relu1")),
        ],
    );
    // PyTorch pads 1 on every side; Keras's `same` pads a strided 3x3 only below and right.
    let y = if stride == 1 {
        b.apply(
            LayerSpec::from({
                let mut c = Conv2D::new(planes, 3, "linear");
                c.use_bias = false;
                c
            })
            .same()
            .named(format!("{n}_conv2")),
            &[&y],
        )
    } else {
        b.chain(
            &y,
            [
                zero_pad((1, 1), (1, 1)).named(format!("{n}_conv2_pad")),
                conv_nobias(planes, 3, stride, format!("{n}_conv2")),
            ],
        )
    };
    let y = b.chain(
        &y,
        [
            torch_bn(format!("{n}_bn2")),
            activation("relu").named(format!("{n}_relu2")),
            conv_nobias(4 * planes, 1, 1, format!("{n}_conv3")),
            torch_bn(format!("{n}_bn3")),
        ],
    );
    let shortcut = if downsample {
        b.chain(
            x,
            [
                conv_nobias(4 * planes, 1, stride, format!("{n}_downsample_0")),
                torch_bn(format!("{n}_downsample_1")),
            ],
        )
    } else {
        x.clone()
    };
    let s = b.apply(
        LayerSpec::from(Add {}).named(format!("{n}_add")),
        &[&y, &shortcut],
    );
    b.apply(activation("relu").named(format!("{n}_relu")), &[&s])
}

/// torchvision's `resnet50` (ResNet v1.5).
fn resnet50(t: &Torchvision) -> Layout {
    let d = t.width_divisor;
    let mut b = GraphBuilder::new(t.name.clone(), t.input_shape.clone());
    let mut entries = vec![
        entry("conv1", "conv1", Kind::Conv),
        entry("bn1", "bn1", Kind::BatchNorm),
    ];
    let x = b.input();
    let mut x = b.chain(
        &x,
        [
            zero_pad((3, 3), (3, 3)).named("conv1_pad"),
            conv_nobias(64 / d, 7, 2, "conv1"),
            torch_bn("bn1"),
            activation("relu").named("relu"),
            // Zeros pad like PyTorch's -inf here: every window holds a value ≥ 0 after the ReLU.
            zero_pad((1, 1), (1, 1)).named("maxpool_pad"),
            max_pool(3).strides(2).named("maxpool"),
        ],
    );
    for (stage, (planes, blocks, stride)) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]
        .into_iter()
        .enumerate()
    {
        for i in 0..blocks {
            let module = format!("layer{}.{i}", stage + 1);
            let s = if i == 0 { stride } else { 1 };
            x = bottleneck(&mut b, &mut entries, &x, planes / d, s, i == 0, &module);
        }
    }
    let out = if t.include_top {
        entries.push(entry("fc", "fc", Kind::Linear));
        b.chain(
            &x,
            [
                global_avg_pool().named("avgpool"),
                dense(t.classes, "softmax").named("fc"),
            ],
        )
    } else {
        x
    };
    Layout {
        spec: b.build(&[&out]),
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(name: &str) -> u64 {
        let l = layout(&Torchvision::new(name)).unwrap();
        let arch = Architecture::from_spec(&l.spec).unwrap();
        let (total, _, _) = arch.param_counts();
        total
    }

    #[test]
    fn parameter_counts_are_torchvisions() {
        // sum(p.numel() for p in model.parameters()) plus the batch norms' running statistics.
        assert_eq!(params("vgg11"), 132_863_336);
        assert_eq!(params("vgg13"), 133_047_848);
        assert_eq!(params("vgg16"), 138_357_544);
        assert_eq!(params("vgg19"), 143_667_240);
        assert_eq!(params("alexnet"), 61_100_840);
        // 25,557,032 trainable plus 53,120 running statistics.
        assert_eq!(params("resnet50"), 25_557_032 + 53_120);
    }

    #[test]
    fn output_shapes_and_the_flatten_permutation() {
        let l = layout(&Torchvision::new("alexnet")).unwrap();
        let fc1 = l.entries.iter().find(|e| e.layer == "fc1").unwrap();
        assert_eq!(fc1.kind, Kind::FlattenedLinear { h: 6, w: 6, c: 256 });
        let fc2 = l.entries.iter().find(|e| e.layer == "fc2").unwrap();
        assert_eq!(fc2.kind, Kind::Linear);
        let v = layout(&Torchvision::new("vgg16")).unwrap();
        let fc1 = v
            .entries
            .iter()
            .find(|e| e.module == "classifier.0")
            .unwrap();
        assert_eq!(fc1.kind, Kind::FlattenedLinear { h: 7, w: 7, c: 512 });
        assert_eq!(
            v.entries.iter().filter(|e| e.kind == Kind::Conv).count(),
            13
        );
        let r = layout(&Torchvision::new("resnet50")).unwrap();
        assert_eq!(r.entries.len(), 2 + 16 * 6 + 4 * 2 + 1);
        let fc = r.entries.last().unwrap();
        assert_eq!(fc.kind, Kind::Linear, "after a global pool, no permutation");
    }

    #[test]
    fn other_input_sizes() {
        let mut t = Torchvision::new("vgg16");
        t.input_shape = vec![448, 448, 3];
        let l = layout(&t).unwrap();
        assert!(
            l.spec
                .layers
                .iter()
                .any(|s| s.name.as_deref() == Some("avgpool"))
        );
        t.input_shape = vec![150, 150, 3];
        let e = layout(&t).unwrap_err().to_string();
        assert!(
            e.contains("7x7 feature map") && e.contains("150x150 gives 4x4"),
            "{e}"
        );
        t.include_top = false;
        let l = layout(&t).unwrap();
        assert_eq!(l.entries.len(), 13);
        let mut r = Torchvision::new("resnet50");
        r.input_shape = vec![64, 64, 3];
        r.classes = 10;
        layout(&r).unwrap();
        let e = layout(&Torchvision::new("densenet121"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("densenet121") && e.contains("vgg16"), "{e}");
    }
}

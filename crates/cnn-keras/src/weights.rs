//! `model.weights.h5` in Keras 3's layout: each layer's variables under
//! `layers/<snake_case class>[_<n>]/vars/<i>` (the group carrying the layer's name in its
//! `name` attribute), counted in the order Keras lists the layers; the model's own (empty)
//! `vars` group at the root. Written and read with `hdf5-pure` (no libhdf5).

use std::collections::HashMap;

use cnn_nn::{Architecture, Model};
use cnn_tensor::Tensor;
use hdf5_pure::{AttrValue, DType, File, FileBuilder};

use crate::error::{KerasError, Result};
use crate::naming::layer_paths;

/// One object of the list Keras saves: its Keras class (which names its path) and the cnn
/// layer it holds (`None`: the input layer, which has no weights).
pub(crate) type Slot<'a> = (&'a str, Option<usize>);

fn weight_err(path: &str, message: impl Into<String>) -> KerasError {
    KerasError::Weight {
        path: path.into(),
        message: message.into(),
    }
}

fn h5_err(path: &str) -> impl Fn(hdf5_pure::Error) -> KerasError + '_ {
    move |e| weight_err(path, e.to_string())
}

/// The weights of `model` as the bytes of a Keras 3 `.weights.h5` file, its layers in Keras's
/// list order (see [`crate::naming::functional_order`]).
pub(crate) fn write_weights(model: &Model, order: &[Slot<'_>]) -> Result<Vec<u8>> {
    let arch = model.architecture();
    let weights: HashMap<&str, &Tensor> = model.named_weights().collect();
    let paths = layer_paths(order.iter().map(|s| s.0));
    let mut file = FileBuilder::new();
    let mut layers = file.create_group("layers");
    for ((_, entry), path) in order.iter().zip(&paths) {
        let leaf = path.trim_start_matches("layers/");
        let mut group = layers.create_group(leaf);
        let mut vars = group.create_group("vars");
        let (name, params) = match entry {
            None => (arch.input_name.as_str(), &[][..]),
            Some(i) => (arch.layers[*i].name.as_str(), &arch.layers[*i].params[..]),
        };
        vars.set_attr("name", AttrValue::String(name.into()));
        for (k, p) in params.iter().enumerate() {
            let t = weights
                .get(p.name.as_str())
                .ok_or_else(|| weight_err(path, format!("the model has no weight `{}`", p.name)))?;
            let shape: Vec<u64> = t.dims().iter().map(|&d| d as u64).collect();
            vars.create_dataset(&k.to_string())
                .with_f32_data(t.data())
                .with_shape(&shape);
        }
        group.add_group(vars.finish());
        layers.add_group(group.finish());
    }
    file.add_group(layers.finish());
    let mut root_vars = file.create_group("vars");
    root_vars.set_attr("name", AttrValue::String(arch.name.clone()));
    file.add_group(root_vars.finish());
    file.finish().map_err(|e| weight_err("/", e.to_string()))
}

/// Reads the weights of `arch`'s layers, listed in Keras's `order`, from the bytes of a Keras 3
/// weights file: every variable present with the architecture's shape, as `f32`; none extra.
pub(crate) fn read_weights(
    file: &File,
    arch: &Architecture,
    order: &[Slot<'_>],
) -> Result<HashMap<String, Tensor>> {
    let paths = layer_paths(order.iter().map(|s| s.0));
    let mut out = HashMap::new();
    for ((_, entry), path) in order.iter().zip(&paths) {
        let params = entry.map_or(&[][..], |i| &arch.layers[i].params[..]);
        let vars_path = format!("{path}/vars");
        let vars = match file.group(&vars_path) {
            Ok(g) => Some(g),
            // Keras may drop empty groups.
            Err(_) if params.is_empty() => None,
            Err(e) => return Err(weight_err(&vars_path, format!("missing ({e})"))),
        };
        let Some(vars) = vars else { continue };
        let names = vars.datasets().map_err(h5_err(&vars_path))?;
        if names.len() != params.len() {
            let layer = entry.map_or(arch.input_name.as_str(), |i| &arch.layers[i].name);
            return Err(weight_err(
                &vars_path,
                format!(
                    "holds {} variables but layer `{layer}` has {}",
                    names.len(),
                    params.len()
                ),
            ));
        }
        for (k, p) in params.iter().enumerate() {
            let ds_path = format!("{vars_path}/{k}");
            let ds = vars.dataset(&k.to_string()).map_err(h5_err(&ds_path))?;
            let t = read_checked(&ds, p).map_err(|m| weight_err(&ds_path, m))?;
            out.insert(p.name.clone(), t);
        }
    }
    Ok(out)
}

/// One variable, read after its shape (against the architecture's `want`) and type were
/// checked, so a file cannot make the reader allocate more than the architecture declared. The
/// error is a message for the caller to place.
pub(crate) fn read_checked(
    ds: &hdf5_pure::Dataset,
    want: &cnn_nn::ParamSpec,
) -> std::result::Result<Tensor, String> {
    let shape = ds.shape().map_err(|e| e.to_string())?;
    if shape.len() != want.shape.len()
        || shape.iter().zip(&want.shape).any(|(&a, &b)| a != b as u64)
    {
        // A 4-D kernel whose last two axes are the wanted first two: channels-first (Theano).
        let theano = shape.len() == 4
            && want.shape.len() == 4
            && shape[2..] == [want.shape[0] as u64, want.shape[1] as u64];
        return Err(format!(
            "has shape {shape:?} but `{}` needs {:?}{}",
            want.name,
            want.shape,
            if theano {
                " (a channels_first / Theano kernel? only TensorFlow-ordered weights are read)"
            } else {
                ""
            }
        ));
    }
    match ds.dtype().map_err(|e| e.to_string())? {
        DType::F32 | DType::F64 => {}
        other => return Err(format!("holds {other:?}, not floating-point numbers")),
    }
    let data = ds.read_f32().map_err(|e| e.to_string())?;
    Tensor::new(want.shape.clone(), data).map_err(|e| e.to_string())
}

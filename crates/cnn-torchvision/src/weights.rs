//! torchvision's `state_dict` tensors, from a safetensors file, onto a cnn model.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use cnn_nn::{Architecture, Model, Tensor};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use crate::arch::{Kind, Torchvision, layout};
use crate::error::{Result, TorchvisionError};

/// An imported model and what the reader wants the user to know.
#[derive(Debug)]
pub struct Imported {
    /// The model with the file's weights.
    pub model: Model,
    /// Things worth saying (tensors converted from half precision, a classifier left out).
    pub notes: Vec<String>,
}

/// Reads the safetensors file at `path` onto torchvision's architecture `t`.
///
/// # Errors
/// The file cannot be read, is not a valid safetensors file, or its tensors are not `t`'s
/// (a name missing or left over, a shape or type that does not fit): the error names the tensor.
pub fn import_safetensors(path: &Path, t: &Torchvision) -> Result<Imported> {
    let bytes = std::fs::read(path).map_err(|source| TorchvisionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    import_safetensors_bytes(&bytes, t, &path.display().to_string())
}

/// As [`import_safetensors`], from the file's bytes; `source_name` names it in errors.
///
/// # Errors
/// As [`import_safetensors`].
pub fn import_safetensors_bytes(
    bytes: &[u8],
    t: &Torchvision,
    source_name: &str,
) -> Result<Imported> {
    let err = |message: String| TorchvisionError::File {
        source_name: source_name.into(),
        message,
    };
    let layout = layout(t)?;
    let arch = Architecture::from_spec(&layout.spec)?;
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| err(format!("not a valid safetensors file: {e}")))?;
    let mut unused: BTreeSet<String> = st.names().into_iter().map(String::from).collect();
    let mut tensors = HashMap::new();
    let mut converted = BTreeSet::new();
    for e in &layout.entries {
        let layer = &arch.layers[arch
            .layer_index(&e.layer)
            .ok_or_else(|| err(format!("internal: no layer `{}`", e.layer)))?];
        let pairs: &[(&str, &str)] = match e.kind {
            Kind::BatchNorm => &[
                ("weight", "gamma"),
                ("bias", "beta"),
                ("running_mean", "moving_mean"),
                ("running_var", "moving_variance"),
            ],
            _ => &[("weight", "kernel"), ("bias", "bias")],
        };
        for &(theirs, ours) in pairs {
            let Some(p) = layer
                .params
                .iter()
                .find(|p| p.name.ends_with(&format!("/{ours}")))
            else {
                continue;
            };
            let key = format!("{}.{theirs}", e.module);
            let view = st.tensor(&key).map_err(|_| {
                let width = match t.width_divisor {
                    1 => String::new(),
                    d => format!(" at width 1/{d}"),
                };
                err(format!(
                    "`{key}` is missing: not torchvision's {}{width}",
                    t.name
                ))
            })?;
            unused.remove(&key);
            let want = torch_shape(&p.shape, e.kind, theirs == "weight");
            if view.shape() != want.as_slice() {
                return Err(err(format!(
                    "`{key}` has shape {:?}, but {} `{}` needs {:?}",
                    view.shape(),
                    t.name,
                    e.layer,
                    want
                )));
            }
            let (data, dtype) = floats(&view).map_err(|m| err(format!("`{key}`: {m}")))?;
            if dtype != Dtype::F32 {
                converted.insert(format!("{dtype:?}"));
            }
            let data = if theirs == "weight" {
                rearrange(&data, view.shape(), e.kind)
            } else {
                data
            };
            let tensor =
                Tensor::new(p.shape.clone(), data).map_err(|e| err(format!("`{key}`: {e}")))?;
            tensors.insert(p.name.clone(), tensor);
        }
    }
    unused.retain(|k| !k.ends_with(".num_batches_tracked"));
    let mut notes = Vec::new();
    if !t.include_top {
        let before = unused.len();
        unused.retain(|k| !k.starts_with("classifier.") && !k.starts_with("fc."));
        if unused.len() < before {
            notes.push("the classifier's weights in the file were left out (no top)".into());
        }
    }
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().take(5).map(String::as_str).collect();
        return Err(err(format!(
            "{} tensors that torchvision's {} does not have, such as {}: another architecture \
             (a `_bn` VGG, another ResNet depth)?",
            unused.len(),
            t.name,
            list.join(", ")
        )));
    }
    if !converted.is_empty() {
        let kinds: Vec<String> = converted.into_iter().collect();
        notes.push(format!(
            "tensors stored as {} converted to f32",
            kinds.join(", ")
        ));
    }
    let model = Model::from_tensors(arch, &mut tensors)?;
    Ok(Imported { model, notes })
}

/// The shape torchvision stores for a cnn weight of shape `ours`.
fn torch_shape(ours: &[usize], kind: Kind, weight: bool) -> Vec<usize> {
    match (kind, weight, ours) {
        (Kind::Conv, true, [kh, kw, i, o]) => vec![*o, *i, *kh, *kw],
        (Kind::Linear | Kind::FlattenedLinear { .. }, true, [i, o]) => vec![*o, *i],
        _ => ours.to_vec(),
    }
}

/// A tensor's values as f32 (f32, f64, f16 and bf16 are read; other types are refused).
fn floats(view: &TensorView<'_>) -> std::result::Result<(Vec<f32>, Dtype), String> {
    let raw = view.data();
    let dtype = view.dtype();
    let data = match dtype {
        Dtype::F32 => raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::F16 => raw
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => raw
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => return Err(format!("stored as {other:?}, not a floating-point type")),
    };
    Ok((data, dtype))
}

/// torchvision's weight layout to cnn's: OIHW → HWIO, (out, in) → (in, out), and for the first
/// Linear after a flatten the inputs from (C, H, W) order to (H, W, C).
fn rearrange(data: &[f32], shape: &[usize], kind: Kind) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    match (kind, shape) {
        (Kind::Conv, &[o, i, kh, kw]) => {
            for oo in 0..o {
                for ii in 0..i {
                    for y in 0..kh {
                        for x in 0..kw {
                            out[((y * kw + x) * i + ii) * o + oo] =
                                data[((oo * i + ii) * kh + y) * kw + x];
                        }
                    }
                }
            }
        }
        (Kind::Linear, &[o, i]) => transpose(data, &mut out, o, i, |theirs| theirs),
        (Kind::FlattenedLinear { h, w, c }, &[o, i]) if i == h * w * c => {
            // PyTorch's input (ci, y, x) is cnn's input (y, x, ci).
            transpose(data, &mut out, o, i, |theirs| {
                let (ci, yx) = (theirs / (h * w), theirs % (h * w));
                yx * c + ci
            })
        }
        _ => out.copy_from_slice(data),
    }
    out
}

/// `out[row(j) * o + k] = data[k * i + j]`: an (o, i) matrix transposed with its columns
/// permuted, in blocks of rows so that reads and writes both stream (VGG's first Linear is
/// 102 M values).
fn transpose(data: &[f32], out: &mut [f32], o: usize, i: usize, row: impl Fn(usize) -> usize) {
    const BLOCK: usize = 32;
    for k0 in (0..o).step_by(BLOCK) {
        let k1 = (k0 + BLOCK).min(o);
        for j in 0..i {
            let r = row(j) * o;
            for k in k0..k1 {
                out[r + k] = data[k * i + j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_kernels_go_from_oihw_to_hwio() {
        // o=2, i=3, kh=1, kw=2: value = 1000 o + 100 i + 10 y + x.
        let (o, i, kh, kw) = (2, 3, 1, 2);
        let mut data = Vec::new();
        for oo in 0..o {
            for ii in 0..i {
                for y in 0..kh {
                    for x in 0..kw {
                        data.push((1000 * oo + 100 * ii + 10 * y + x) as f32);
                    }
                }
            }
        }
        let out = rearrange(&data, &[o, i, kh, kw], Kind::Conv);
        // HWIO: [y][x][i][o].
        assert_eq!(out[0], 0.0);
        assert_eq!(out[1], 1000.0);
        assert_eq!(out[2], 100.0);
        assert_eq!(out[(i) * o], 1.0, "x = 1, i = 0, o = 0");
        assert_eq!(out[(i + 2) * o + 1], 1201.0);
    }

    #[test]
    fn the_flattened_linear_reads_hwc_where_pytorch_reads_chw() {
        let (h, w, c, o) = (2, 3, 4, 2);
        let i = h * w * c;
        let data: Vec<f32> = (0..o * i).map(|v| v as f32).collect();
        let out = rearrange(&data, &[o, i], Kind::FlattenedLinear { h, w, c });
        // Our input (y=1, x=2, ch=3) is PyTorch's input (ch=3, y=1, x=2).
        let ours = (w + 2) * c + 3;
        let theirs = (3 * h + 1) * w + 2;
        for oo in 0..o {
            assert_eq!(out[ours * o + oo], data[oo * i + theirs]);
        }
        // A permutation: every value once.
        let mut sorted = out.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, data);
    }
}

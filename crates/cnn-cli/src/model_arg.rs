//! Resolving a `--model` argument: a zoo name, a JSON spec file, a saved `.cnn` model, or a
//! Keras model file (`.keras`, or a legacy `.h5` model), imported on the fly.

use std::path::Path;

use cnn_nn::{ModelSpec, ZOO, load_model, zoo};

use crate::error::{UserError, bad_input};

/// What a model argument names.
pub enum ModelSource {
    /// A spec (from the zoo or a JSON file), to be built with fresh weights.
    Spec(ModelSpec),
    /// A saved model file.
    Saved(Box<cnn_nn::Saved>),
}

/// Parses `64x64x3` (or `64,64,3`) into dimensions.
pub fn parse_shape(s: &str) -> Result<Vec<usize>, UserError> {
    let dims: Result<Vec<usize>, _> = s
        .split(['x', 'X', ','])
        .map(|d| d.trim().parse::<usize>())
        .collect();
    match dims {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x > 0 && x <= cnn_nn::MAX_DIM) => Ok(d),
        _ => Err(UserError::new(
            "bad option",
            "--input-shape".into(),
            format!("`{s}` is not HxWxC with positive sizes (e.g. 28x28x1)"),
        )),
    }
}

/// A model imported from a Keras file, as a saved model without optimizer state.
fn from_keras(imported: cnn_keras::Imported) -> ModelSource {
    ModelSource::Saved(Box::new(cnn_nn::Saved {
        model: imported.model,
        optimizer: None,
        epoch: 0,
        history: None,
        extra: imported.extra.into_iter().collect(),
    }))
}

/// The first bytes of a file (up to 16), which say what it is.
pub fn file_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(16);
    std::fs::File::open(path)?.take(16).read_to_end(&mut head)?;
    Ok(head)
}

/// A trained model from a file: a `.cnn` model or a Keras model (`.keras`, legacy `.h5`), for
/// the commands that need weights (evaluate, predict, visualize).
pub fn load_saved(path: &Path) -> Result<cnn_nn::Saved, UserError> {
    let arg = path.display().to_string();
    let head = file_head(path).map_err(|e| bad_input("cannot load model", &arg, e))?;
    if head.first() == Some(&b'{') {
        return Err(UserError::new(
            "no trained weights",
            arg,
            "a JSON spec describes an architecture only".into(),
        )
        .with_hint("train it first: cnn train -m SPEC.json … -o m.cnn"));
    }
    match resolve(&arg, None, None)? {
        ModelSource::Saved(s) => Ok(*s),
        ModelSource::Spec(_) => Err(UserError::new(
            "no trained weights",
            arg,
            "a zoo name describes an architecture only".into(),
        )),
    }
}

/// Resolves `arg`. Zoo models take `input_shape` / `classes` when given.
pub fn resolve(
    arg: &str,
    input_shape: Option<&[usize]>,
    classes: Option<usize>,
) -> Result<ModelSource, UserError> {
    if ZOO.contains(&arg) {
        return zoo(arg, input_shape, classes)
            .map(ModelSource::Spec)
            .map_err(|e| bad_input("bad model", arg, e));
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(UserError::new(
            "unknown model",
            arg.into(),
            format!("not a zoo model and no such file; zoo: {}", ZOO.join(", ")),
        )
        .with_hint(
            "pass a zoo name, a JSON spec file, a .cnn model saved by `cnn train`, or a Keras .keras or .h5 model",
        ));
    }
    let head = file_head(path).map_err(|e| bad_input("cannot read model", arg, e))?;
    if head.first() == Some(&b'{') {
        let text =
            std::fs::read_to_string(path).map_err(|e| bad_input("cannot read model", arg, e))?;
        let mut spec: ModelSpec = serde_json::from_str(&text)
            .map_err(|e| bad_input("bad model spec", format!("{arg}:{}", e.line()), e))?;
        if let Some(s) = input_shape {
            spec.input_shape = s.to_vec();
        }
        return Ok(ModelSource::Spec(spec));
    }
    if head.starts_with(b"PK\x03\x04") {
        // A zip: a Keras 3 `.keras` file.
        let imported = cnn_keras::import_keras(path)
            .map_err(|e| bad_input("cannot import Keras model", arg, e))?;
        return Ok(from_keras(imported));
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        // A Keras HDF5 model (Keras 2's `model.save("m.h5")`); weights-only files need
        // `cnn import --arch`.
        let imported = cnn_keras::import_h5(path, None).map_err(|e| {
            let weights_only = matches!(e, cnn_keras::KerasError::WeightsOnly { .. });
            let err = bad_input("cannot import Keras model", arg, e);
            if weights_only {
                err.with_hint("import them onto their architecture first: cnn import FILE --arch NAME -o m.cnn")
            } else {
                err
            }
        })?;
        return Ok(from_keras(imported));
    }
    let saved = load_model(path).map_err(|e| bad_input("cannot load model", arg, e))?;
    Ok(ModelSource::Saved(Box::new(saved)))
}

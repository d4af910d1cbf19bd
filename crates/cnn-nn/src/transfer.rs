//! Transfer learning (Chollet §5.3): a pretrained model's classifier replaced with a fresh one
//! for another task's classes, and its base frozen up to a layer (`cnn train --new-head
//! --freeze-until LAYER`). Every kept layer keeps its weights.

use crate::error::{NnError, Result};
use crate::spec::layers::{dense, global_avg_pool};
use crate::{LayerConfig, Model, ModelSpec};

/// The name of the classifier `--new-head` adds.
pub const NEW_HEAD: &str = "new_head";

/// `model` with a new head (when `new_head`: the last `Dense` replaced by a softmax `Dense` of
/// `classes` units named [`NEW_HEAD`]; a convolutional base without a `Dense` gets global
/// average pooling first) and, with `freeze_until`, every layer up to and including that one
/// frozen and every later one trainable (so fine-tuning can unfreeze the top of a base frozen
/// before). `seed` draws the new head's weights; all other weights are `model`'s.
///
/// # Errors
/// No layer is called `freeze_until`, or the new model cannot be built.
pub fn transfer(
    model: Model,
    new_head: bool,
    freeze_until: Option<&str>,
    classes: usize,
    seed: u64,
) -> Result<Model> {
    if !new_head && freeze_until.is_none() {
        return Ok(model);
    }
    let mut spec: ModelSpec = model.architecture().to_spec();
    if new_head {
        let last_dense = spec
            .layers
            .iter()
            .rposition(|l| matches!(l.config, LayerConfig::Dense(_)));
        match last_dense {
            // Replace the classifier: the head reads what it read (in a chain, with no
            // `inputs`, the layer before, as the old one did).
            Some(d) => {
                let reads = spec.layers[d].inputs.clone();
                spec.layers.truncate(d);
                let mut head = dense(classes, "softmax").named(NEW_HEAD);
                head.inputs = reads;
                spec.layers.push(head);
            }
            // A convolutional base (include_top=False): global average pooling, then the head
            // (Keras's transfer-learning guide).
            None => {
                let out = model.architecture().outputs[0];
                let base = model.architecture().layers[out].name.clone();
                let graph = !spec.outputs.is_empty();
                let pool = global_avg_pool().named("new_head_pool");
                let head = dense(classes, "softmax").named(NEW_HEAD);
                if graph {
                    spec.layers.push(pool.reading([base]));
                    spec.layers.push(head.reading(["new_head_pool"]));
                } else {
                    spec.layers.push(pool);
                    spec.layers.push(head);
                }
            }
        }
        if !spec.outputs.is_empty() {
            spec.outputs = vec![NEW_HEAD.into()];
        }
    }
    if let Some(last) = freeze_until {
        let i = spec
            .layers
            .iter()
            .position(|l| l.name.as_deref() == Some(last))
            .ok_or_else(|| NnError::Unknown {
                kind: "layer to freeze until",
                name: last.into(),
                known: spec
                    .layers
                    .iter()
                    .filter_map(|l| l.name.as_deref())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        // Up to the layer frozen, everything after it trainable (so fine-tuning can unfreeze
        // the top block of a model trained with its base frozen).
        for (k, l) in spec.layers.iter_mut().enumerate() {
            l.trainable = k > i;
        }
    }
    let mut out = Model::new(&spec, seed)?;
    // Every weight the new model shares with the old one by name comes across.
    let old: std::collections::HashMap<&str, &crate::Tensor> = model.named_weights().collect();
    let names: Vec<String> = out.named_weights().map(|(n, _)| n.to_string()).collect();
    for n in names {
        if let Some(t) = old.get(n.as_str())
            && let Some(w) = out.weight_mut(&n)
            && w.dims() == t.dims()
        {
            w.clone_from(t);
        }
    }
    Ok(out)
}

//! Keras's names for what it saves: snake-case class names, the weight paths built from them
//! (`layers/conv2d_1/vars/0`), and the order a Functional model lists its layers in — the order
//! those paths are counted in.

use cnn_nn::{Architecture, Source};

/// Keras's `to_snake_case` of a class name: `Conv2D` → `conv2d`, `ReLU` → `re_lu`,
/// `BatchNormalization` → `batch_normalization`, `InputLayer` → `input_layer`.
pub fn snake_case(class: &str) -> String {
    let c: Vec<char> = class
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // First rule: `(.)([A-Z][a-z]+)` → `\1_\2`, left to right without overlaps.
    let mut a = String::new();
    let mut i = 0;
    while i < c.len() {
        a.push(c[i]);
        let starts_word = c.get(i + 1).is_some_and(|x| x.is_ascii_uppercase())
            && c.get(i + 2).is_some_and(|x| x.is_ascii_lowercase());
        if starts_word {
            a.push('_');
            // The matched word is consumed by this match: copy it whole.
            let mut j = i + 1;
            a.push(c[j]);
            j += 1;
            while j < c.len() && c[j].is_ascii_lowercase() {
                a.push(c[j]);
                j += 1;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    // Second rule: `([a-z])([A-Z])` → `\1_\2`.
    let a: Vec<char> = a.chars().collect();
    let mut b = String::new();
    for (k, &ch) in a.iter().enumerate() {
        b.push(ch);
        if ch.is_ascii_lowercase() && a.get(k + 1).is_some_and(|x| x.is_ascii_uppercase()) {
            b.push('_');
        }
    }
    b.to_lowercase()
}

/// The weight-file path of each object in a saved list, from its class name: the first
/// `Conv2D` is `layers/conv2d`, the second `layers/conv2d_1` (Keras's `_save_container_state`).
pub fn layer_paths<'a>(classes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut used: std::collections::HashMap<String, usize> = Default::default();
    classes
        .into_iter()
        .map(|class| {
            let name = snake_case(class);
            let n = used.entry(name.clone()).or_insert(0);
            let path = if *n == 0 {
                format!("layers/{name}")
            } else {
                format!("layers/{name}_{n}")
            };
            *n += 1;
            path
        })
        .collect()
}

/// The order Keras's `Functional` lists the layers of `arch` in (`ops/function.py`,
/// `map_graph`): by decreasing depth — the longest path to an output — and, within a depth, by
/// first visit of a depth-first walk from the outputs. Indices into `arch.layers`; `None` is
/// the input layer (always first). Layers that reach no output are left out, as Keras drops
/// them.
pub fn functional_order(arch: &Architecture) -> Vec<Option<usize>> {
    // Node ids: 0 = the input, i + 1 = layer i.
    let n = arch.layers.len() + 1;
    let parents = |node: usize| -> Vec<usize> {
        if node == 0 {
            return Vec::new();
        }
        arch.layers[node - 1]
            .inputs
            .iter()
            .map(|s| match s {
                Source::Input => 0,
                Source::Layer(j) => j + 1,
            })
            .collect()
    };
    let mut visit_index: Vec<Option<usize>> = vec![None; n];
    let mut finished = vec![false; n];
    let mut post_order = Vec::with_capacity(n);
    let mut next_index = 0;
    for &o in &arch.outputs {
        // Iterative form of `_build_map_helper`: pre-order visit index, post-order list.
        let mut stack: Vec<(usize, usize)> = vec![(o + 1, 0)];
        while let Some(&mut (node, ref mut k)) = stack.last_mut() {
            if *k == 0 {
                if finished[node] {
                    stack.pop();
                    continue;
                }
                if visit_index[node].is_none() {
                    visit_index[node] = Some(next_index);
                    next_index += 1;
                }
            }
            let ps = parents(node);
            if *k < ps.len() {
                let p = ps[*k];
                *k += 1;
                if !finished[p] {
                    stack.push((p, 0));
                }
            } else {
                finished[node] = true;
                post_order.push(node);
                stack.pop();
            }
        }
    }
    let mut depth = vec![0usize; n];
    for &node in post_order.iter().rev() {
        for p in parents(node) {
            depth[p] = depth[p].max(depth[node] + 1);
        }
    }
    let mut nodes: Vec<usize> = post_order;
    nodes.sort_by_key(|&node| (std::cmp::Reverse(depth[node]), visit_index[node]));
    nodes.into_iter().map(|node| node.checked_sub(1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_is_keras_to_snake_case() {
        for (class, want) in [
            ("Conv2D", "conv2d"),
            ("ReLU", "re_lu"),
            ("BatchNormalization", "batch_normalization"),
            ("InputLayer", "input_layer"),
            ("MaxPooling2D", "max_pooling2d"),
            ("GlobalAveragePooling2D", "global_average_pooling2d"),
            ("DepthwiseConv2D", "depthwise_conv2d"),
            ("SeparableConv2D", "separable_conv2d"),
            ("ZeroPadding2D", "zero_padding2d"),
            ("Dense", "dense"),
            ("LeakyReLU", "leaky_re_lu"),
            ("PReLU", "p_re_lu"),
            ("Functional", "functional"),
        ] {
            assert_eq!(snake_case(class), want, "{class}");
        }
    }

    #[test]
    fn paths_count_per_class() {
        assert_eq!(
            layer_paths(["Conv2D", "ReLU", "Conv2D", "Dense", "Conv2D"]),
            [
                "layers/conv2d",
                "layers/re_lu",
                "layers/conv2d_1",
                "layers/dense",
                "layers/conv2d_2"
            ]
        );
    }
}

//! Building an ONNX graph: nodes with unique output names, initializers (weights and
//! constants), attributes, and the layout of every value.

use crate::proto::onnx::{
    AttributeProto, NodeProto, TensorProto, attribute_proto::AttributeType, tensor_proto::DataType,
};

/// How a value is stored in the ONNX graph. Images (rank-4 values, NHWC in Keras) are kept
/// NCHW inside the graph, as ONNX's Conv and pooling operators want; every other value is in
/// Keras's own order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A batch of images stored `[N, C, H, W]` (Keras shape `(None, H, W, C)`).
    Nchw,
    /// Stored exactly as Keras orders it.
    Keras,
}

/// A value in the graph: its name, layout and Keras shape without the batch dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The ONNX value name.
    pub name: String,
    /// How it is stored.
    pub layout: Layout,
    /// Keras shape without the batch dimension (`[H, W, C]` for images).
    pub shape: Vec<usize>,
}

impl Value {
    /// Maps a Keras axis of this value (negative counts from the end, batch is axis 0) to its
    /// axis in the stored tensor.
    pub fn stored_axis(&self, keras_axis: i64) -> Option<i64> {
        let rank = self.shape.len() as i64 + 1;
        let a = if keras_axis < 0 {
            keras_axis + rank
        } else {
            keras_axis
        };
        if !(0..rank).contains(&a) {
            return None;
        }
        Some(match self.layout {
            Layout::Keras => a,
            // NHWC axis -> NCHW axis.
            Layout::Nchw => [0, 2, 3, 1][a as usize],
        })
    }
}

/// An attribute value.
pub enum Attr {
    /// One integer.
    Int(i64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
    /// A string.
    Str(&'static str),
}

/// The nodes and initializers written so far.
#[derive(Default)]
pub struct GraphWriter {
    /// Nodes in topological order.
    pub nodes: Vec<NodeProto>,
    /// Weights and constants.
    pub initializers: Vec<TensorProto>,
    used: std::collections::HashSet<String>,
}

impl GraphWriter {
    /// A name based on `base` that no value has yet.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while !self.used.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    /// Reserves `name` exactly (model inputs and outputs); `false` if it was taken.
    pub fn reserve(&mut self, name: &str) -> bool {
        self.used.insert(name.to_string())
    }

    /// Adds a node `op(inputs)` whose one output (and the node itself) is named `base/op`;
    /// returns that name.
    pub fn node(
        &mut self,
        op: &str,
        base: &str,
        inputs: &[&str],
        attrs: Vec<(&'static str, Attr)>,
    ) -> String {
        let out = self.fresh(&format!("{base}/{op}"));
        self.node_to(op, &out, inputs, attrs, &out);
        out
    }

    /// Adds a node called `name` computing `op(inputs)` into the value `out` (a name already
    /// taken with [`GraphWriter::fresh`] or [`GraphWriter::reserve`]).
    pub fn node_to(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<(&'static str, Attr)>,
        out: &str,
    ) {
        let name = name.to_string();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            name: Some(name),
            op_type: Some(op.to_string()),
            attribute: attrs.into_iter().map(|(n, a)| attribute(n, a)).collect(),
            ..Default::default()
        });
    }

    /// A float initializer named after `base` with these dimensions; returns its name.
    pub fn f32s(&mut self, base: &str, dims: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        let name = self.fresh(base);
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DataType::Float as i32),
            name: Some(name.clone()),
            raw_data: Some(raw),
            ..Default::default()
        });
        name
    }

    /// An int64 initializer (shapes, pads, axes); returns its name.
    pub fn i64s(&mut self, base: &str, data: &[i64]) -> String {
        let name = self.fresh(base);
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: vec![data.len() as i64],
            data_type: Some(DataType::Int64 as i32),
            name: Some(name.clone()),
            raw_data: Some(raw),
            ..Default::default()
        });
        name
    }

    /// A float scalar initializer; returns its name.
    pub fn scalar(&mut self, base: &str, v: f32) -> String {
        self.f32s(base, &[], &[v])
    }

    /// `Transpose(perm)` of `x`.
    pub fn transpose(&mut self, base: &str, x: &str, perm: [i64; 4]) -> String {
        self.node(
            "Transpose",
            base,
            &[x],
            vec![("perm", Attr::Ints(perm.to_vec()))],
        )
    }
}

fn attribute(name: &str, a: Attr) -> AttributeProto {
    let mut p = AttributeProto {
        name: Some(name.to_string()),
        ..Default::default()
    };
    match a {
        Attr::Int(i) => {
            p.r#type = Some(AttributeType::Int as i32);
            p.i = Some(i);
        }
        Attr::Ints(v) => {
            p.r#type = Some(AttributeType::Ints as i32);
            p.ints = v;
        }
        Attr::Float(f) => {
            p.r#type = Some(AttributeType::Float as i32);
            p.f = Some(f);
        }
        Attr::Str(s) => {
            p.r#type = Some(AttributeType::String as i32);
            p.s = Some(s.as_bytes().to_vec());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut w = GraphWriter::default();
        assert_eq!(w.fresh("conv2d"), "conv2d");
        assert_eq!(w.fresh("conv2d"), "conv2d_1");
        assert_eq!(w.fresh("conv2d"), "conv2d_2");
        assert!(!w.reserve("conv2d_1"));
        assert!(w.reserve("output"));
    }

    #[test]
    fn keras_axes_map_to_nchw() {
        let v = Value {
            name: "x".into(),
            layout: Layout::Nchw,
            shape: vec![8, 8, 3],
        };
        assert_eq!(v.stored_axis(-1), Some(1));
        assert_eq!(v.stored_axis(3), Some(1));
        assert_eq!(v.stored_axis(1), Some(2));
        assert_eq!(v.stored_axis(2), Some(3));
        assert_eq!(v.stored_axis(4), None);
        let flat = Value {
            layout: Layout::Keras,
            shape: vec![10],
            ..v
        };
        assert_eq!(flat.stored_axis(-1), Some(1));
    }
}

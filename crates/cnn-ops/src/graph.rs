//! Reverse-mode automatic differentiation over the kernels of this crate.
//!
//! A [`Graph`] records a forward pass: every op appends a node holding its output value and a
//! backward closure with whatever it saved (pool indices, dropout masks, normalised inputs).
//! [`Graph::backward`] walks the nodes in reverse creation order (a valid topological order)
//! from a scalar loss and returns the gradient of every [`Graph::variable`] — parameters, or
//! the input image when a visualisation needs `dL/dinput` — and of any intermediate value marked
//! with [`Graph::retain_grad`] (Grad-CAM needs the last conv layer's). Gradients of inputs
//! that nothing requires are never computed (the first convolution skips `dL/dx`).
//!
//! [`Graph::inference`] gives a graph that records nothing: values only, no closures, no saved
//! state.
//!
//! ```
//! use cnn_ops::{Graph, Labels};
//! use cnn_tensor::Tensor;
//! let w = Tensor::new([2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
//! let mut g = Graph::new();
//! let x = g.constant(Tensor::new([1, 2], vec![3.0, 1.0]).unwrap());
//! let w = g.variable(&w); // borrowed, not copied
//! let logits = g.dense(x, w, None).unwrap();
//! let loss = g.softmax_cross_entropy(logits, &Labels::Sparse(vec![0])).unwrap();
//! let grads = g.backward(loss).unwrap();
//! assert_eq!(grads.get(w).unwrap().dims(), &[2, 2]);
//! ```

use std::borrow::Cow;
use std::time::{Duration, Instant};

use cnn_tensor::Tensor;

use crate::activation::{Activation, softmax_backward, softmax_forward};
use crate::batchnorm::{BatchNormOptions, ReplicaSum, batch_norm_backward_synced};
use crate::conv::{
    Conv2dOptions, ConvNeeds, conv2d_backward, conv2d_forward, conv2d_max_pool_backward,
    conv2d_max_pool_forward,
};
use crate::dense::{dense_backward, dense_forward};
use crate::depthwise::{depthwise_conv2d_backward, depthwise_conv2d_forward};
use crate::dropout::{apply_mask, dropout_mask};
use crate::error::{OpError, Result, shape_err};
use crate::loss::{
    Labels, binary_cross_entropy, binary_cross_entropy_with_logits, softmax_cross_entropy,
};
use crate::lrn::{LrnOptions, lrn_backward, lrn_forward};
use crate::pad::{Pad2d, zero_pad2d_backward, zero_pad2d_forward};
use crate::pool::{
    Pool2dOptions, avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward,
    global_avg_pool2d_forward, global_max_pool2d_backward, global_max_pool2d_forward,
    max_pool2d_backward, max_pool2d_forward,
};

/// A convolution's forward pass with its activation ([`crate::conv2d_forward_act`]).
type ConvForward =
    fn(&Tensor, &Tensor, Option<&Tensor>, &Conv2dOptions, Activation) -> Result<Tensor>;

/// A handle to a value in a [`Graph`]. Only meaningful for the graph that created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(usize);

impl Var {
    /// The node's position in its graph (creation order).
    pub fn index(self) -> usize {
        self.0
    }
}

/// Gradients for each input from `(inputs, output, dL/doutput, which inputs need one)`.
type BackwardFn<'a> = Box<
    dyn Fn(&[&Tensor], &Tensor, &Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'a,
>;

struct Node<'a> {
    value: Cow<'a, Tensor>,
    inputs: Vec<Var>,
    backward: Option<BackwardFn<'a>>,
    requires_grad: bool,
    keep_grad: bool,
}

/// A recorded forward pass. `'a` is the lifetime of borrowed tensors (parameters).
pub struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    recording: bool,
    /// When profiling: the moment each node was added.
    stamps: Option<Vec<Instant>>,
    /// Synchronised batch normalisation: statistics summed over the replicas.
    replicas: Option<&'a dyn ReplicaSum>,
    /// An inference graph whose user frees values once nothing reads them any more.
    streaming: bool,
    /// Nodes whose values the caller will not read again ([`Graph::donate`]).
    donated: Vec<usize>,
}

impl Default for Graph<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// Gradients produced by [`Graph::backward`].
#[derive(Debug, Default)]
pub struct Gradients {
    grads: Vec<Option<Tensor>>,
    times: Vec<Duration>,
}

impl Gradients {
    /// The gradient of `v`, if `v` is a variable (or retained) that the loss depends on.
    pub fn get(&self, v: Var) -> Option<&Tensor> {
        self.grads.get(v.0).and_then(|g| g.as_ref())
    }

    /// When the graph was profiling ([`Graph::profile`]): the time each node's backward step
    /// took (its backward function and the accumulation of its input gradients), by node
    /// index; empty otherwise.
    pub fn backward_times(&self) -> &[Duration] {
        &self.times
    }

    /// Takes ownership of the gradient of `v`.
    pub fn take(&mut self, v: Var) -> Option<Tensor> {
        self.grads.get_mut(v.0).and_then(|g| g.take())
    }
}

impl<'a> Graph<'a> {
    /// A graph that records operations for [`Graph::backward`].
    pub fn new() -> Self {
        Graph {
            nodes: Vec::new(),
            recording: true,
            stamps: None,
            replicas: None,
            streaming: false,
            donated: Vec::new(),
        }
    }

    /// A graph for inference: it computes values but records nothing to differentiate.
    pub fn inference() -> Self {
        Graph {
            nodes: Vec::new(),
            recording: false,
            stamps: None,
            replicas: None,
            streaming: false,
            donated: Vec::new(),
        }
    }

    /// An inference graph for a caller that frees each value ([`Graph::take_value`]) once
    /// nothing reads it any more (a model's `predict`): peak memory is then the largest few
    /// activations, not all of them. [`Graph::streaming`] tells the caller.
    pub fn inference_streaming() -> Self {
        let mut g = Self::inference();
        g.streaming = true;
        g
    }

    /// Frees the values of the nodes added since the graph had `first` nodes, except `keep`
    /// (a streaming caller's intermediate values of one step).
    pub fn release_since(&mut self, first: usize, keep: Var) {
        for (i, n) in self.nodes.iter_mut().enumerate().skip(first) {
            if i != keep.0
                && let Ok(empty) = Tensor::zeros([0])
            {
                n.value = Cow::Owned(empty);
            }
        }
    }

    /// Tells an inference graph that the caller will not read `v`'s value again: the next
    /// element-wise operation on it (batch norm in inference mode, an activation) may then
    /// overwrite it instead of writing a new tensor — one pass over memory already in the
    /// cache instead of a fresh allocation. No effect on a recording graph (its backward
    /// passes read the values).
    pub fn donate(&mut self, v: Var) {
        if !self.recording && v.0 < self.nodes.len() {
            self.donated.push(v.0);
        }
    }

    /// `v`'s value, taken out of the graph, when it was donated and is owned by the graph.
    fn take_donated(&mut self, v: Var) -> Option<Tensor> {
        let at = self.donated.iter().position(|&d| d == v.0)?;
        self.donated.swap_remove(at);
        let node = self.nodes.get_mut(v.0)?;
        match &node.value {
            Cow::Owned(t) if !t.is_empty() => self.take_value(v).ok(),
            _ => None,
        }
    }

    /// Whether this graph's values are to be freed as soon as they are consumed.
    pub fn streaming(&self) -> bool {
        self.streaming
    }

    /// Synchronised batch normalisation: from now on, training-mode batch norms take their
    /// statistics over every replica's rows, summed by `replicas` (data parallelism's
    /// SyncBatchNorm). Every replica must run the same graph.
    pub fn sync_batch_norm(&mut self, replicas: &'a dyn ReplicaSum) {
        self.replicas = Some(replicas);
    }

    /// Starts profiling: from now on the graph notes when each node is added (so the time of
    /// an operation is the gap since the previous node) and [`Graph::backward`] times each
    /// node's backward step. Costs one clock read per node.
    pub fn profile(&mut self) {
        self.stamps = Some(vec![Instant::now(); self.nodes.len()]);
    }

    /// When profiling, the moment each node was added, by node index.
    pub fn stamps(&self) -> Option<&[Instant]> {
        self.stamps.as_deref()
    }

    /// Whether this graph records operations.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Number of nodes recorded.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn leaf(&mut self, t: Cow<'a, Tensor>, requires_grad: bool) -> Var {
        self.nodes.push(Node {
            value: t,
            inputs: Vec::new(),
            backward: None,
            requires_grad: requires_grad && self.recording,
            keep_grad: true,
        });
        if let Some(s) = &mut self.stamps {
            s.push(Instant::now());
        }
        Var(self.nodes.len() - 1)
    }

    /// A value that needs no gradient (input data, labels). Accepts `Tensor` or `&Tensor`.
    pub fn constant(&mut self, t: impl Into<Cow<'a, Tensor>>) -> Var {
        self.leaf(t.into(), false)
    }

    /// A value whose gradient [`Graph::backward`] returns (parameters, or an input image).
    pub fn variable(&mut self, t: impl Into<Cow<'a, Tensor>>) -> Var {
        self.leaf(t.into(), true)
    }

    /// Keeps the gradient of an intermediate value (e.g. a conv layer's output for Grad-CAM).
    pub fn retain_grad(&mut self, v: Var) {
        if let Some(n) = self.nodes.get_mut(v.0) {
            n.keep_grad = true;
        }
    }

    /// The value of `v`.
    ///
    /// # Panics
    /// If `v` comes from another graph with more nodes (a programming error).
    pub fn value(&self, v: Var) -> &Tensor {
        &self.nodes[v.0].value
    }

    /// The value of `v`, or an error if `v` does not belong to this graph.
    pub fn try_value(&self, v: Var) -> Result<&Tensor> {
        self.nodes
            .get(v.0)
            .map(|n| &*n.value)
            .ok_or(OpError::UnknownVar(v.0))
    }

    /// Takes the value of `v` out of the graph (leaving an empty tensor behind).
    pub fn take_value(&mut self, v: Var) -> Result<Tensor> {
        let n = self.nodes.get_mut(v.0).ok_or(OpError::UnknownVar(v.0))?;
        let empty = Tensor::zeros([0])?;
        Ok(std::mem::replace(&mut n.value, Cow::Owned(empty)).into_owned())
    }

    fn push(&mut self, value: Tensor, inputs: Vec<Var>, backward: BackwardFn<'a>) -> Var {
        let requires_grad = self.recording && inputs.iter().any(|v| self.nodes[v.0].requires_grad);
        self.nodes.push(Node {
            value: Cow::Owned(value),
            inputs,
            backward: requires_grad.then_some(backward),
            requires_grad,
            keep_grad: false,
        });
        if let Some(s) = &mut self.stamps {
            s.push(Instant::now());
        }
        Var(self.nodes.len() - 1)
    }

    fn needs_any(&self, vars: &[Var]) -> bool {
        self.recording && vars.iter().any(|v| self.nodes[v.0].requires_grad)
    }

    /// 2-D convolution of NHWC `x` with kernel `w` `[kh, kw, C, F]` and optional bias `[F]`.
    pub fn conv2d(&mut self, x: Var, w: Var, b: Option<Var>, opts: &Conv2dOptions) -> Result<Var> {
        self.conv2d_then(x, w, b, opts, false)
    }

    /// [`Graph::conv2d`] followed by a ReLU applied in place: one tensor instead of two, and
    /// the same values and gradients as `relu(conv2d(..))` (the ReLU's gradient needs only its
    /// output: `y > 0` exactly where the convolution's output was positive).
    pub fn conv2d_relu(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        opts: &Conv2dOptions,
    ) -> Result<Var> {
        self.conv2d_then(x, w, b, opts, true)
    }

    fn conv2d_then(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        opts: &Conv2dOptions,
        relu: bool,
    ) -> Result<Var> {
        let bias = b.map(|b| self.try_value(b)).transpose()?;
        let y = conv2d_forward(self.try_value(x)?, self.try_value(w)?, bias, opts)?;
        Ok(self.push_conv(y, (x, w, b), *opts, relu, None))
    }

    /// Pushes a convolution's output `y` (pooled, with the pool's source indices into the
    /// convolution's output of the given dimensions, when `pooled`), applying the ReLU in place
    /// first when `relu`.
    fn push_conv(
        &mut self,
        mut y: Tensor,
        (x, w, b): (Var, Var, Option<Var>),
        opts: Conv2dOptions,
        relu: bool,
        pooled: Option<(Vec<usize>, Vec<u32>)>,
    ) -> Var {
        if relu {
            Activation::Relu.apply_inplace(y.data_mut());
        }
        let mut inputs = vec![x, w];
        inputs.extend(b);
        self.push(
            y,
            inputs,
            Box::new(move |ins, out, dy, needs| {
                let masked = relu_masked(relu, out, dy)?;
                let dy = masked.as_ref().unwrap_or(dy);
                let needs = ConvNeeds {
                    input: needs[0],
                    kernel: needs[1],
                    bias: needs.get(2).copied().unwrap_or(false),
                };
                let g = match &pooled {
                    Some((conv_dims, idx)) => conv2d_max_pool_backward(
                        ins[0],
                        ins[1],
                        (dy, idx, conv_dims),
                        &opts,
                        needs,
                    )?,
                    None => conv2d_backward(ins[0], ins[1], dy, &opts, needs)?,
                };
                Ok(vec![g.input, g.kernel, g.bias])
            }),
        )
    }

    /// `max_pool2d(conv2d(x))`, followed by a ReLU when `relu` (which commutes with the max),
    /// in one pass where [`conv2d_max_pool_forward`] fuses them (the convolution's output is
    /// never stored; backward routes the pooled gradient to the convolution's output and goes
    /// on from there), else as the separate operations. Values and gradients are the same
    /// either way.
    pub fn conv2d_max_pool(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        opts: &Conv2dOptions,
        pool: &Pool2dOptions,
        relu: bool,
    ) -> Result<Var> {
        let bias = b.map(|b| self.try_value(b)).transpose()?;
        let fused =
            conv2d_max_pool_forward(self.try_value(x)?, self.try_value(w)?, bias, opts, pool)?;
        let Some((y, idx, conv_dims)) = fused else {
            let c = self.conv2d(x, w, b, opts)?;
            let p = self.max_pool2d(c, pool)?;
            return if relu { self.relu(p) } else { Ok(p) };
        };
        Ok(self.push_conv(y, (x, w, b), *opts, relu, Some((conv_dims, idx))))
    }

    /// Max pooling.
    pub fn max_pool2d(&mut self, x: Var, opts: &Pool2dOptions) -> Result<Var> {
        let (y, idx) = max_pool2d_forward(self.try_value(x)?, opts)?;
        let idx = if self.needs_any(&[x]) {
            idx
        } else {
            Vec::new()
        };
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, _, dy, _| {
                Ok(vec![Some(max_pool2d_backward(ins[0].dims(), &idx, dy)?)])
            }),
        ))
    }

    /// Average pooling.
    pub fn avg_pool2d(&mut self, x: Var, opts: &Pool2dOptions) -> Result<Var> {
        let y = avg_pool2d_forward(self.try_value(x)?, opts)?;
        let opts = *opts;
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, _, dy, _| {
                Ok(vec![Some(avg_pool2d_backward(ins[0].dims(), dy, &opts)?)])
            }),
        ))
    }

    /// Global average pooling `[N, H, W, C]` → `[N, C]`.
    pub fn global_avg_pool2d(&mut self, x: Var) -> Result<Var> {
        let y = global_avg_pool2d_forward(self.try_value(x)?)?;
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, _, dy, _| {
                Ok(vec![Some(global_avg_pool2d_backward(ins[0].dims(), dy)?)])
            }),
        ))
    }

    /// Global max pooling `[N, H, W, C]` → `[N, C]`.
    pub fn global_max_pool2d(&mut self, x: Var) -> Result<Var> {
        let (y, at) = global_max_pool2d_forward(self.try_value(x)?)?;
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, _, dy, _| {
                Ok(vec![Some(global_max_pool2d_backward(
                    ins[0].dims(),
                    dy,
                    &at,
                )?)])
            }),
        ))
    }

    /// Depthwise convolution of NHWC `x` with kernel `w` `[kh, kw, C, M]` and optional bias
    /// `[C·M]` (Keras's `DepthwiseConv2D`).
    pub fn depthwise_conv2d(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        opts: &Conv2dOptions,
    ) -> Result<Var> {
        let y = depthwise_conv2d_forward(
            self.try_value(x)?,
            self.try_value(w)?,
            b.map(|b| self.try_value(b)).transpose()?,
            opts,
        )?;
        let mut inputs = vec![x, w];
        inputs.extend(b);
        let opts = *opts;
        Ok(self.push(
            y,
            inputs,
            Box::new(move |ins, _, dy, needs| {
                let g = depthwise_conv2d_backward(
                    ins[0],
                    ins[1],
                    dy,
                    &opts,
                    (needs[0], needs[1], needs.get(2).copied().unwrap_or(false)),
                )?;
                let mut out = vec![g.input, g.kernel];
                if ins.len() > 2 {
                    out.push(g.bias);
                }
                Ok(out)
            }),
        ))
    }

    /// `act(conv2d(x, w) + b)`, the activation applied to each tile of the output as it is
    /// made ([`crate::conv2d_forward_act`]: the same bits, one pass fewer). A graph that
    /// records runs the convolution and the activation as separate operations, for their
    /// gradients.
    pub fn conv2d_act(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        opts: &Conv2dOptions,
        act: Activation,
    ) -> Result<Var> {
        if self.recording {
            let y = self.conv2d_then(x, w, b, opts, act == Activation::Relu)?;
            return match act {
                Activation::Relu => Ok(y),
                _ => self.activation(y, act),
            };
        }
        self.inference_conv(
            (x, w, b),
            opts,
            act,
            crate::conv::conv2d_forward_act,
            "conv2d",
        )
    }

    /// [`Graph::depthwise_conv2d`] then `act`, applied to each output pixel as it is summed
    /// ([`crate::depthwise_conv2d_forward_act`]). A graph that records runs them separately.
    pub fn depthwise_conv2d_act(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        opts: &Conv2dOptions,
        act: Activation,
    ) -> Result<Var> {
        if self.recording {
            let y = self.depthwise_conv2d(x, w, b, opts)?;
            return self.activation(y, act);
        }
        self.inference_conv(
            (x, w, b),
            opts,
            act,
            crate::depthwise::depthwise_conv2d_forward_act,
            "depthwise_conv2d",
        )
    }

    /// Runs an inference-only convolution `forward` (with its activation) on `x`, `w` and `b`
    /// and pushes its output, which carries no gradient.
    fn inference_conv(
        &mut self,
        (x, w, b): (Var, Var, Option<Var>),
        opts: &Conv2dOptions,
        act: Activation,
        forward: ConvForward,
        op: &'static str,
    ) -> Result<Var> {
        let bias = b.map(|b| self.try_value(b)).transpose()?;
        let y = forward(self.try_value(x)?, self.try_value(w)?, bias, opts, act)?;
        let mut inputs = vec![x, w];
        inputs.extend(b);
        Ok(self.push(
            y,
            inputs,
            Box::new(move |_, _, _, _| Err(shape_err(op, "inference only: nothing saved"))),
        ))
    }

    /// `x · scale + offset`, element by element (Keras's `Rescaling`).
    pub fn affine(&mut self, x: Var, scale: f32, offset: f32) -> Result<Var> {
        let mut y = self.try_value(x)?.clone();
        y.map_inplace(|v| v * scale + offset);
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |_, _, dy, _| {
                let mut g = dy.clone();
                g.map_inplace(|v| v * scale);
                Ok(vec![Some(g)])
            }),
        ))
    }

    /// Fully connected layer `x · w + b` on `[N, in]`.
    pub fn dense(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        let bias = b.map(|b| self.try_value(b)).transpose()?;
        let y = dense_forward(self.try_value(x)?, self.try_value(w)?, bias)?;
        let mut inputs = vec![x, w];
        inputs.extend(b);
        Ok(self.push(
            y,
            inputs,
            Box::new(move |ins, _, dy, needs| {
                let nb = needs.get(2).copied().unwrap_or(false);
                let (dx, dw, db) = dense_backward(ins[0], ins[1], dy, (needs[0], needs[1], nb))?;
                Ok(vec![dx, dw, db])
            }),
        ))
    }

    /// An element-wise activation.
    pub fn activation(&mut self, x: Var, act: Activation) -> Result<Var> {
        if act == Activation::Linear {
            return Ok(x);
        }
        let y = match self.take_donated(x) {
            Some(mut t) => {
                act.apply_inplace(t.data_mut());
                t
            }
            None => act.forward(self.try_value(x)?),
        };
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, out, dy, _| Ok(vec![Some(act.backward(ins[0], out, dy)?)])),
        ))
    }

    /// ReLU (shorthand for [`Graph::activation`]).
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        self.activation(x, Activation::Relu)
    }

    /// Softmax over the last axis.
    pub fn softmax(&mut self, x: Var) -> Result<Var> {
        let y = softmax_forward(self.try_value(x)?)?;
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |_, out, dy, _| Ok(vec![Some(softmax_backward(out, dy)?)])),
        ))
    }

    /// The same data under new dimensions (same element count).
    pub fn reshape(&mut self, x: Var, dims: &[usize]) -> Result<Var> {
        let y = self.try_value(x)?.clone().reshape(dims)?;
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, _, dy, _| Ok(vec![Some(dy.clone().reshape(ins[0].dims())?)])),
        ))
    }

    /// Flattens all but the first axis: `[N, ...]` → `[N, prod(...)]`.
    pub fn flatten(&mut self, x: Var) -> Result<Var> {
        let d = self.try_value(x)?.dims();
        let n = *d
            .first()
            .ok_or_else(|| shape_err("flatten", "cannot flatten a scalar"))?;
        let rest = d[1..].iter().product();
        self.reshape(x, &[n, rest])
    }

    /// Inverted dropout with the mask drawn from `seed` (use only in training).
    pub fn dropout(&mut self, x: Var, rate: f32, seed: u64) -> Result<Var> {
        let xv = self.try_value(x)?;
        let mask = dropout_mask(xv.len(), rate, seed)?;
        let y = apply_mask(xv, &mask);
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |_, _, dy, _| Ok(vec![Some(apply_mask(dy, &mask))])),
        ))
    }

    /// Batch normalisation over the last axis; in training it updates the moving statistics.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        moving_mean: &mut Tensor,
        moving_var: &mut Tensor,
        training: bool,
        opts: &BatchNormOptions,
    ) -> Result<Var> {
        if !training && let Some(mut t) = self.take_donated(x) {
            crate::batchnorm::apply_inplace(
                &mut t,
                (self.try_value(gamma)?, self.try_value(beta)?),
                (moving_mean, moving_var),
                opts,
            )?;
            return Ok(self.push(
                t,
                vec![x, gamma, beta],
                Box::new(|_, _, _, _| Err(shape_err("batch_norm", "nothing saved"))),
            ));
        }
        let replicas = self.replicas;
        let save = self.needs_any(&[x, gamma, beta]);
        let (y, saved) = crate::batchnorm::forward(
            self.try_value(x)?,
            self.try_value(gamma)?,
            self.try_value(beta)?,
            (moving_mean, moving_var),
            training,
            opts,
            replicas,
            save,
        )?;
        let saved = save.then_some(saved);
        Ok(self.push(
            y,
            vec![x, gamma, beta],
            Box::new(move |ins, _, dy, _| {
                let saved = saved
                    .as_ref()
                    .ok_or_else(|| shape_err("batch_norm", "nothing saved"))?;
                let (dx, dg, db) = batch_norm_backward_synced(ins[1], saved, dy, replicas)?;
                Ok(vec![Some(dx), Some(dg), Some(db)])
            }),
        ))
    }

    /// Local response normalisation across channels.
    pub fn lrn(&mut self, x: Var, opts: &LrnOptions) -> Result<Var> {
        let y = lrn_forward(self.try_value(x)?, opts)?;
        let opts = *opts;
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, _, dy, _| Ok(vec![Some(lrn_backward(ins[0], dy, &opts)?)])),
        ))
    }

    fn scalar_loss(&mut self, input: Var, loss: f32, grad: Tensor) -> Var {
        let grad = if self.needs_any(&[input]) {
            grad
        } else {
            Tensor::scalar(0.0)
        };
        self.push(
            Tensor::scalar(loss),
            vec![input],
            Box::new(move |_, _, dy, _| {
                let s = dy.item().unwrap_or(1.0);
                let mut g = grad.clone();
                g.map_inplace(|v| v * s);
                Ok(vec![Some(g)])
            }),
        )
    }

    /// Mean softmax cross-entropy of logits `[N, K]` against `labels` (a scalar).
    pub fn softmax_cross_entropy(&mut self, logits: Var, labels: &Labels) -> Result<Var> {
        let (loss, grad) = softmax_cross_entropy(self.try_value(logits)?, labels)?;
        Ok(self.scalar_loss(logits, loss, grad))
    }

    /// Mean binary cross-entropy of logits against targets in `[0, 1]` (a scalar).
    pub fn binary_cross_entropy_with_logits(
        &mut self,
        logits: Var,
        targets: &Tensor,
    ) -> Result<Var> {
        let (loss, grad) = binary_cross_entropy_with_logits(self.try_value(logits)?, targets)?;
        Ok(self.scalar_loss(logits, loss, grad))
    }

    /// Mean binary cross-entropy of probabilities (clipped like Keras) against targets.
    pub fn binary_cross_entropy(&mut self, probs: Var, targets: &Tensor) -> Result<Var> {
        let (loss, grad) = binary_cross_entropy(self.try_value(probs)?, targets)?;
        Ok(self.scalar_loss(probs, loss, grad))
    }

    /// Element-wise sum of two same-shaped values. In an inference graph a donated input (see
    /// [`Graph::donate`]) is overwritten with the sum (addition commutes: the same bits).
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        let (av, bv) = (self.try_value(a)?, self.try_value(b)?);
        if av.shape() != bv.shape() {
            return Err(shape_err(
                "add",
                format!("{} and {} differ", av.shape(), bv.shape()),
            ));
        }
        // Not when the value is added to itself: it is read while the sum is written.
        let donated = if a == b {
            None
        } else if let Some(t) = self.take_donated(a) {
            Some((t, b))
        } else {
            self.take_donated(b).map(|t| (t, a))
        };
        let (mut y, other) = match donated {
            Some((t, other)) => (t, other),
            None => (self.try_value(a)?.clone(), b),
        };
        y.data_mut()
            .iter_mut()
            .zip(self.try_value(other)?.data())
            .for_each(|(p, q)| *p += q);
        Ok(self.push(
            y,
            vec![a, b],
            Box::new(|_, _, dy, _| Ok(vec![Some(dy.clone()), Some(dy.clone())])),
        ))
    }

    /// Element-wise product of two same-shaped values.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        let (av, bv) = (self.try_value(a)?, self.try_value(b)?);
        if av.shape() != bv.shape() {
            return Err(shape_err(
                "mul",
                format!("{} and {} differ", av.shape(), bv.shape()),
            ));
        }
        let mut y = av.clone();
        y.data_mut()
            .iter_mut()
            .zip(bv.data())
            .for_each(|(p, q)| *p *= q);
        Ok(self.push(
            y,
            vec![a, b],
            Box::new(|ins, _, dy, needs| {
                let prod = |other: &Tensor| {
                    let mut g = dy.clone();
                    g.data_mut()
                        .iter_mut()
                        .zip(other.data())
                        .for_each(|(p, q)| *p *= q);
                    g
                };
                Ok(vec![
                    needs[0].then(|| prod(ins[1])),
                    needs[1].then(|| prod(ins[0])),
                ])
            }),
        ))
    }

    /// Zero padding around NHWC images (Keras's `ZeroPadding2D`).
    pub fn zero_pad2d(&mut self, x: Var, pad: &Pad2d) -> Result<Var> {
        let xv = self.try_value(x)?;
        let y = zero_pad2d_forward(xv, pad)?;
        let pad = *pad;
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, _, dy, _| {
                Ok(vec![Some(zero_pad2d_backward(dy, ins[0].dims(), &pad)?)])
            }),
        ))
    }

    /// Joins values along their last axis: `[..., C1]`, `[..., C2]`, ... → `[..., C1 + C2 + ...]`
    /// (all other axes equal). The gradient splits back along the same axis.
    pub fn concat_last(&mut self, xs: &[Var]) -> Result<Var> {
        let values = xs
            .iter()
            .map(|&v| self.try_value(v))
            .collect::<Result<Vec<_>>>()?;
        let Some(first) = values.first() else {
            return Err(shape_err("concat", "nothing to join"));
        };
        let (_, lead) = first
            .dims()
            .split_last()
            .ok_or_else(|| shape_err("concat", "cannot join scalars"))?;
        let mut widths = Vec::with_capacity(values.len());
        for v in &values {
            match v.dims().split_last() {
                Some((&c, l)) if l == lead => widths.push(c),
                _ => {
                    return Err(shape_err(
                        "concat",
                        format!(
                            "{} and {} differ in more than the last axis",
                            first.shape(),
                            v.shape()
                        ),
                    ));
                }
            }
        }
        let total: usize = widths.iter().sum();
        let rows: usize = lead.iter().product();
        let mut data = vec![0.0f32; rows * total];
        let mut offset = 0;
        for (v, &c) in values.iter().zip(&widths) {
            if c > 0 {
                data.chunks_exact_mut(total)
                    .zip(v.data().chunks_exact(c))
                    .for_each(|(out, inp)| out[offset..offset + c].copy_from_slice(inp));
            }
            offset += c;
        }
        let mut dims = lead.to_vec();
        dims.push(total);
        let y = Tensor::new(dims, data)?;
        Ok(self.push(
            y,
            xs.to_vec(),
            Box::new(move |ins, _, dy, needs| {
                let mut offset = 0;
                let mut grads = Vec::with_capacity(widths.len());
                for ((x, &c), &need) in ins.iter().zip(&widths).zip(needs) {
                    grads.push(if need {
                        let mut g = Vec::with_capacity(x.len());
                        if c > 0 {
                            dy.data()
                                .chunks_exact(total)
                                .for_each(|r| g.extend_from_slice(&r[offset..offset + c]));
                        }
                        Some(Tensor::new(x.dims(), g)?)
                    } else {
                        None
                    });
                    offset += c;
                }
                Ok(grads)
            }),
        ))
    }

    /// Multiplies every element by `s`.
    pub fn scale(&mut self, x: Var, s: f32) -> Result<Var> {
        let mut y = self.try_value(x)?.clone();
        y.map_inplace(|v| v * s);
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |_, _, dy, _| {
                let mut g = dy.clone();
                g.map_inplace(|v| v * s);
                Ok(vec![Some(g)])
            }),
        ))
    }

    /// Sum of all elements (a scalar).
    pub fn sum(&mut self, x: Var) -> Result<Var> {
        let xv = self.try_value(x)?;
        let s: f64 = xv.data().iter().map(|&v| v as f64).sum();
        self.reduce(x, s as f32, 1.0)
    }

    /// Mean of all elements (a scalar).
    pub fn mean(&mut self, x: Var) -> Result<Var> {
        let xv = self.try_value(x)?;
        if xv.is_empty() {
            return Err(shape_err("mean", "mean of an empty tensor"));
        }
        let n = xv.len() as f64;
        let s: f64 = xv.data().iter().map(|&v| v as f64).sum();
        self.reduce(x, (s / n) as f32, (1.0 / n) as f32)
    }

    fn reduce(&mut self, x: Var, value: f32, per_element: f32) -> Result<Var> {
        Ok(self.push(
            Tensor::scalar(value),
            vec![x],
            Box::new(move |ins, _, dy, _| {
                let g = dy.item().unwrap_or(1.0) * per_element;
                Ok(vec![Some(Tensor::full(ins[0].shape(), g)?)])
            }),
        ))
    }

    /// Selects index `i` of the last axis: `[..., C]` → `[...]` (a channel of a feature map, or
    /// one class's score).
    pub fn select_last(&mut self, x: Var, i: usize) -> Result<Var> {
        let xv = self.try_value(x)?;
        let (&c, outer) = xv
            .dims()
            .split_last()
            .ok_or_else(|| shape_err("select_last", "cannot index a scalar"))?;
        if i >= c {
            return Err(shape_err(
                "select_last",
                format!("index {i} out of range for last axis {c}"),
            ));
        }
        let data: Vec<f32> = xv.data().chunks_exact(c).map(|r| r[i]).collect();
        let y = Tensor::new(outer, data)?;
        Ok(self.push(
            y,
            vec![x],
            Box::new(move |ins, _, dy, _| {
                let mut g = Tensor::zeros(ins[0].shape())?;
                g.data_mut()
                    .chunks_exact_mut(c)
                    .zip(dy.data())
                    .for_each(|(r, &v)| r[i] = v);
                Ok(vec![Some(g)])
            }),
        ))
    }

    /// Back-propagates from the scalar `loss`, returning the gradients of every variable and
    /// retained value that the loss depends on.
    pub fn backward(&self, loss: Var) -> Result<Gradients> {
        self.backward_where(loss, None, 1.0)
    }

    /// [`Graph::backward`] of `scale × loss` (data parallelism weighs each part's mean loss by
    /// its share of the batch before the gradients meet in synchronised batch norms).
    pub fn backward_scaled(&self, loss: Var, scale: f32) -> Result<Gradients> {
        self.backward_where(loss, None, scale)
    }

    /// Back-propagates from the scalar `loss` only as far as `wanted` needs: gradients flow
    /// along the paths from the values in `wanted` to the loss and nowhere else, so nothing
    /// before them and no parameter off those paths is differentiated. The gradients of
    /// `wanted` equal [`Graph::backward`]'s (Grad-CAM wants one feature map's gradient, not
    /// VGG-16's 138 M parameter gradients).
    pub fn backward_to(&self, loss: Var, wanted: &[Var]) -> Result<Gradients> {
        let mut on_path = vec![false; self.nodes.len()];
        for v in wanted {
            self.try_value(*v)?;
            on_path[v.0] = true;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if node.inputs.iter().any(|v| on_path[v.0]) {
                on_path[i] = true;
            }
        }
        self.backward_where(loss, Some(&on_path), 1.0)
    }

    /// [`Graph::backward`], differentiating only the nodes marked in `on_path` when given.
    fn backward_where(&self, loss: Var, on_path: Option<&[bool]>, seed: f32) -> Result<Gradients> {
        let lv = self.try_value(loss)?;
        if lv.len() != 1 {
            return Err(OpError::NotScalar(lv.shape().clone()));
        }
        let mut grads: Vec<Option<Tensor>> = (0..self.nodes.len()).map(|_| None).collect();
        grads[loss.0] = Some(Tensor::full(lv.shape(), seed)?);
        let mut times = if self.stamps.is_some() {
            vec![Duration::ZERO; self.nodes.len()]
        } else {
            Vec::new()
        };
        for i in (0..=loss.0).rev() {
            let t0 = (!times.is_empty()).then(Instant::now);
            let node = &self.nodes[i];
            let wanted = |j: usize| on_path.is_none_or(|p| p[j]);
            if !node.requires_grad || !wanted(i) {
                grads[i] = None;
                continue;
            }
            let Some(bw) = &node.backward else { continue };
            let Some(g) = grads[i].take() else { continue };
            let inputs: Vec<&Tensor> = node
                .inputs
                .iter()
                .map(|v| &*self.nodes[v.0].value)
                .collect();
            let needs: Vec<bool> = node
                .inputs
                .iter()
                .map(|v| self.nodes[v.0].requires_grad && wanted(v.0))
                .collect();
            if !needs.contains(&true) {
                // A wanted value's own inputs are not differentiated.
                if node.keep_grad {
                    grads[i] = Some(g);
                }
                continue;
            }
            let gs = bw(&inputs, &node.value, &g, &needs)?;
            for ((v, gi), &need) in node.inputs.iter().zip(gs).zip(&needs) {
                let (Some(gi), true) = (gi, need) else {
                    continue;
                };
                if gi.shape() != self.nodes[v.0].value.shape() {
                    return Err(shape_err(
                        "backward",
                        format!(
                            "gradient {} for a value of shape {}",
                            gi.shape(),
                            self.nodes[v.0].value.shape()
                        ),
                    ));
                }
                match &mut grads[v.0] {
                    Some(acc) => acc
                        .data_mut()
                        .iter_mut()
                        .zip(gi.data())
                        .for_each(|(a, b)| *a += b),
                    slot => *slot = Some(gi),
                }
            }
            if node.keep_grad {
                grads[i] = Some(g);
            }
            if let Some(t0) = t0 {
                times[i] = t0.elapsed();
            }
        }
        Ok(Gradients { grads, times })
    }
}

/// `dy` masked by a ReLU whose output is `out`, when `relu` (`None`: use `dy` as it is).
fn relu_masked(relu: bool, out: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
    relu.then(|| Activation::Relu.backward(out, out, dy))
        .transpose()
}

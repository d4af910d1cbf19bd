#!/usr/bin/env python3
"""The peers of `cargo xtask bench --zoo --peers`: one zoo model in PyTorch eager or ONNX Runtime.

PyTorch: the model is built from cnn's own JSON spec (the layer list `cargo xtask bench` writes
for the zoo model: Keras class names and arguments), layer for layer, in NCHW as PyTorch runs
convolutions fastest, with TensorFlow's `same` padding (asymmetric where the stride needs it) so
every shape and multiply-add matches cnn's. The training step is the one cnn's zoo bench times:
Adam 1e-3, sparse categorical cross-entropy on the logits (the final softmax fused into the loss,
as cnn does), the model's usual batch of random images, two untimed steps, then at least three
steps and `--seconds`. Inference: eval mode, `torch.no_grad()`, batch 64 for throughput, batch 1
for the median latency.

ONNX Runtime: the `.onnx` cnn exported for the same model (NHWC input, as cnn's export
writes it), `intra_op_num_threads` = `--threads`, all graph optimisations; batch 64 and batch 1
as above.

Peak resident memory is the process's own (`VmHWM`), reset between training and inference by
writing 5 to /proc/self/clear_refs, as cnn's zoo bench does. The last stdout line is one JSON
object.
"""

import argparse
import json
import math
import os
import sys
import time


def vm_hwm_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def timed(seconds, min_runs, f):
    t0 = time.perf_counter()
    runs = 0
    while runs < min_runs or time.perf_counter() - t0 < seconds:
        f()
        runs += 1
    return runs, time.perf_counter() - t0


def latency_ms(seconds, f):
    f()
    lat = []
    t0 = time.perf_counter()
    while len(lat) < 5 or (time.perf_counter() - t0 < seconds / 2 and len(lat) < 200):
        t = time.perf_counter()
        f()
        lat.append((time.perf_counter() - t) * 1e3)
    lat.sort()
    n = len(lat)
    return lat[n // 2] if n % 2 else 0.5 * (lat[n // 2 - 1] + lat[n // 2])


def pair(v):
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def same_pads(size, k, s, d=1):
    """TensorFlow's `same`: output ceil(size / s); the odd pixel of padding goes after."""
    eff = (k - 1) * d + 1
    out = math.ceil(size / s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def build_torch(spec):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    acts = {
        "linear": lambda x: x,
        "relu": F.relu,
        "relu6": F.relu6,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "gelu": F.gelu,
        "swish": F.silu,
        "silu": F.silu,
        "elu": F.elu,
        "selu": F.selu,
        "softplus": F.softplus,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
        # The final softmax is fused into the loss (logits out), as in cnn's training step.
        "softmax": lambda x: x,
    }

    def act(name):
        if name not in acts:
            raise SystemExit(f"zoo_peer.py: activation {name!r} is not mapped")
        return acts[name]

    class Pad(nn.Module):
        """Explicit TF-style padding before a conv or pool run with padding 0."""

        def __init__(self, pads, value=0.0):
            super().__init__()
            self.pads, self.value = pads, value

        def forward(self, x):
            if any(self.pads):
                return F.pad(x, self.pads, value=self.value)
            return x

    class Graph(nn.Module):
        def __init__(self):
            super().__init__()
            self.mods = nn.ModuleList()
            self.plan = []  # (name, inputs, kind, module index or None, extra)

        def forward(self, x):
            values = {spec.get("input_name", "input_1"): x}
            last = x
            for name, inputs, kind, idx, extra in self.plan:
                xs = [values[i] for i in inputs] if inputs else [last]
                if kind == "add":
                    y = xs[0]
                    for t in xs[1:]:
                        y = y + t
                elif kind == "mul":
                    y = xs[0]
                    for t in xs[1:]:
                        y = y * t
                elif kind == "cat":
                    y = torch.cat(xs, dim=1)
                elif kind == "flatten":
                    # Keras flattens NHWC: channels last, as cnn's Dense weights expect.
                    y = xs[0].permute(0, 2, 3, 1).flatten(1) if xs[0].dim() == 4 else xs[0].flatten(1)
                else:
                    y = self.mods[idx](xs[0])
                    if extra is not None:
                        y = extra(y)
                values[name] = y
                last = y
            outs = spec.get("outputs") or []
            return values[outs[0]] if outs else last

    g = Graph()
    shapes = {}
    in_h, in_w, in_c = spec["input_shape"]
    input_name = spec.get("input_name", "input_1")
    shapes[input_name] = (in_c, in_h, in_w)
    last_shape = shapes[input_name]
    counts = {}
    for i, layer in enumerate(spec["layers"]):
        t = layer["type"]
        counts[t] = counts.get(t, 0) + 1
        name = layer.get("name") or f"{t}_{counts[t]}"
        inputs = layer.get("inputs")
        if isinstance(inputs, str):
            inputs = [inputs]
        in_shape = shapes[inputs[0]] if inputs else last_shape
        extra = None
        kind = "mod"
        mod = None
        if t in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
            c, h, w = in_shape
            kh, kw = pair(layer["kernel_size"])
            sh, sw = pair(layer.get("strides", 1))
            dh, dw = pair(layer.get("dilation_rate", 1))
            same = layer.get("padding", "valid") == "same"
            ph = same_pads(h, kh, sh, dh) if same else (0, 0)
            pw = same_pads(w, kw, sw, dw) if same else (0, 0)
            bias = layer.get("use_bias", True)
            if t == "Conv2D":
                out_c = layer["filters"]
                conv = nn.Conv2d(c, out_c, (kh, kw), (sh, sw), 0, (dh, dw), bias=bias)
            elif t == "DepthwiseConv2D":
                out_c = c * layer.get("depth_multiplier", 1)
                conv = nn.Conv2d(c, out_c, (kh, kw), (sh, sw), 0, (dh, dw), groups=c, bias=bias)
            else:
                mult = layer.get("depth_multiplier", 1)
                out_c = layer["filters"]
                conv = nn.Sequential(
                    nn.Conv2d(c, c * mult, (kh, kw), (sh, sw), 0, (dh, dw), groups=c, bias=False),
                    nn.Conv2d(c * mult, out_c, 1, bias=bias),
                )
            mod = nn.Sequential(Pad((pw[0], pw[1], ph[0], ph[1])), conv)
            extra = act(layer.get("activation", "linear"))
            oh = (h + ph[0] + ph[1] - ((kh - 1) * dh + 1)) // sh + 1
            ow = (w + pw[0] + pw[1] - ((kw - 1) * dw + 1)) // sw + 1
            shape = (out_c, oh, ow)
        elif t in ("MaxPooling2D", "AveragePooling2D"):
            c, h, w = in_shape
            kh, kw = pair(layer.get("pool_size", 2))
            strides = layer.get("strides")
            sh, sw = pair(strides) if strides is not None else (kh, kw)
            same = layer.get("padding", "valid") == "same"
            ph = same_pads(h, kh, sh) if same else (0, 0)
            pw = same_pads(w, kw, sw) if same else (0, 0)
            if t == "MaxPooling2D":
                pool = nn.MaxPool2d((kh, kw), (sh, sw))
                mod = nn.Sequential(Pad((pw[0], pw[1], ph[0], ph[1]), float("-inf")), pool)
            else:
                # The same work as Keras's; at `same` borders Keras divides by the real pixels
                # only (a speed peer: the arithmetic is what counts here).
                pool = nn.AvgPool2d((kh, kw), (sh, sw), padding=0)
                mod = nn.Sequential(Pad((pw[0], pw[1], ph[0], ph[1])), pool)
            shape = (c, (h + sum(ph) - kh) // sh + 1, (w + sum(pw) - kw) // sw + 1)
        elif t in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            c = in_shape[0]
            mod = nn.AdaptiveAvgPool2d(1) if t == "GlobalAveragePooling2D" else nn.AdaptiveMaxPool2d(1)
            mod = nn.Sequential(mod, nn.Flatten())
            shape = (c,)
        elif t == "Flatten":
            kind = "flatten"
            shape = (int(math.prod(in_shape)),)
        elif t == "Dense":
            units = layer["units"]
            mod = nn.Linear(int(math.prod(in_shape)), units, bias=layer.get("use_bias", True))
            extra = act(layer.get("activation", "linear"))
            shape = (units,)
        elif t == "Dropout":
            mod = nn.Dropout(layer["rate"])
            shape = in_shape
        elif t == "BatchNormalization":
            # Keras's momentum m is PyTorch's 1 - m.
            mod = nn.BatchNorm2d(in_shape[0], eps=layer.get("epsilon", 1e-3), momentum=1 - layer.get("momentum", 0.99)) \
                if len(in_shape) == 3 else nn.BatchNorm1d(in_shape[0], eps=layer.get("epsilon", 1e-3), momentum=1 - layer.get("momentum", 0.99))
            shape = in_shape
        elif t == "Activation":
            mod = nn.Identity()
            extra = act(layer["activation"])
            shape = in_shape
        elif t == "ReLU":
            mv = layer.get("max_value")
            mod = nn.ReLU6() if mv == 6 else nn.ReLU() if mv is None else nn.Hardtanh(0.0, mv)
            shape = in_shape
        elif t == "Rescaling":
            scale, offset = layer["scale"], layer.get("offset", 0.0)
            mod = nn.Identity()
            extra = lambda x, s=scale, o=offset: x * s + o
            shape = in_shape
        elif t == "ZeroPadding2D":
            p = layer.get("padding", 1)
            if isinstance(p, int):
                (t_, b_), (l_, r_) = (p, p), (p, p)
            elif isinstance(p[0], int):
                (t_, b_), (l_, r_) = (p[0], p[0]), (p[1], p[1])
            else:
                (t_, b_), (l_, r_) = p
            mod = Pad((l_, r_, t_, b_))
            c, h, w = in_shape
            shape = (c, h + t_ + b_, w + l_ + r_)
        elif t == "LocalResponseNormalization":
            r = layer.get("depth_radius", 2)
            mod = nn.LocalResponseNorm(2 * r + 1, alpha=layer.get("alpha", 1e-4) * (2 * r + 1),
                                       beta=layer.get("beta", 0.75), k=layer.get("bias", 2.0))
            shape = in_shape
        elif t == "Add":
            kind, shape = "add", in_shape
        elif t == "Multiply":
            kind, shape = "mul", in_shape
        elif t == "Concatenate":
            kind = "cat"
            parts = [shapes[n] for n in inputs]
            shape = (sum(s[0] for s in parts),) + tuple(parts[0][1:])
        else:
            raise SystemExit(f"zoo_peer.py: layer type {t} is not mapped")
        idx = None
        if mod is not None:
            g.mods.append(mod)
            idx = len(g.mods) - 1
        g.plan.append((name, inputs, kind, idx, extra))
        shapes[name] = shape
        last_shape = shape
    return g


def run_torch(args, spec):
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = build_torch(spec)
    h, w, c = spec["input_shape"]
    # Keras's count: weights plus the batch norms' moving statistics (PyTorch's buffers).
    params = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))
    )
    x = torch.rand(args.batch, c, h, w)
    y = torch.arange(args.batch) % args.classes
    with torch.no_grad():
        out_shape = tuple(model(x[:2]).shape)
    if out_shape != (2, args.classes):
        raise SystemExit(f"zoo_peer.py: the model outputs {out_shape}, not (2, {args.classes})")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(1 if args.quick else 2):
        step()
    n, secs = timed(args.seconds, 1 if args.quick else 3, step)
    train_per_second = n * args.batch / secs
    peak_train = vm_hwm_mib()
    del opt
    reset_peak()
    model.eval()
    xi = torch.rand(64, c, h, w)
    x1 = torch.rand(1, c, h, w)
    with torch.no_grad():
        model(xi)
        n, secs = timed(args.seconds, 1 if args.quick else 3, lambda: model(xi))
        inference_per_second = n * 64 / secs
        lat = latency_ms(args.seconds, lambda: model(x1))
    return {
        "framework": "torch",
        "version": torch.__version__,
        "params": params,
        "train_per_second": train_per_second,
        "inference_per_second": inference_per_second,
        "latency_ms": lat,
        "peak_rss_mib": peak_train,
        "inference_rss_mib": vm_hwm_mib(),
    }


def run_onnxruntime(args, spec):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    h, w, c = spec["input_shape"]
    rng = np.random.default_rng(4)
    xi = rng.random((64, h, w, c), dtype=np.float32)
    x1 = rng.random((1, h, w, c), dtype=np.float32)
    sess.run(None, {name: xi})
    n, secs = timed(args.seconds, 1 if args.quick else 3, lambda: sess.run(None, {name: xi}))
    inference_per_second = n * 64 / secs
    lat = latency_ms(args.seconds, lambda: sess.run(None, {name: x1}))
    return {
        "framework": "onnxruntime",
        "version": ort.__version__,
        "inference_per_second": inference_per_second,
        "latency_ms": lat,
        "inference_rss_mib": vm_hwm_mib(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--framework", choices=["torch", "onnxruntime"], required=True)
    p.add_argument("--spec", required=True, help="cnn's JSON spec of the model")
    p.add_argument("--onnx", help="cnn's ONNX export of the model (onnxruntime)")
    p.add_argument("--batch", type=int, default=32, help="training batch")
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--quick", action="store_true", help="one timed step of each kind")
    args = p.parse_args()
    if args.quick:
        args.seconds = 0.0
    with open(args.spec) as f:
        spec = json.load(f)
    if args.framework == "torch":
        out = run_torch(args, spec)
    else:
        if not args.onnx:
            raise SystemExit("zoo_peer.py: --framework onnxruntime needs --onnx")
        out = run_onnxruntime(args, spec)
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

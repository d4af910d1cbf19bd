"""Writes 20-step trajectories of Keras 3's own optimizers and learning-rate schedules.

Run with Keras 3 (TensorFlow backend):
    python scripts/keras/optimizer_trajectories.py > crates/cnn-nn/tests/fixtures/keras_optimizers.json

Each case starts a float32 weight vector at `w0` and applies the fixed gradients `grads[t]`
with `optimizer.apply_gradients` (so no loss function is involved), recording the weights
after every step and after `finalize_variable_values`. cnn's `tests/optimizers.rs` replays the same gradients through its own
optimizers and must land on the same weights (1e-6 relative).
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402

STEPS = 20
W0 = [0.5, -1.25, 2.0, 0.0, -0.3, 3.5]


def gradients():
    rng = np.random.default_rng(20261129)
    g = rng.uniform(-1.0, 1.0, size=(STEPS, len(W0))).astype(np.float32)
    g[:, 3] *= 10.0       # one large coordinate
    g[5:9, 1] = 0.0       # a few zero gradients
    g[12, :] *= 0.01      # one tiny step
    return g


def trajectory(optimizer, grads):
    """The weights after every step and, last, after `finalize_variable_values` (what `fit`
    calls at its end: the moving average replaces the weights when the optimizer keeps one)."""
    w = keras.Variable(np.array(W0, dtype=np.float32))
    out = []
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), w)])
        out.append([float(x) for x in np.asarray(w.numpy(), dtype=np.float32)])
    optimizer.finalize_variable_values([w])
    return out, [float(x) for x in np.asarray(w.numpy(), dtype=np.float32)]


def main():
    opt = keras.optimizers
    sch = keras.optimizers.schedules
    cases = {
        "sgd": (lambda: opt.SGD(0.1), {"kind": "sgd", "lr": 0.1}),
        "sgd momentum": (lambda: opt.SGD(0.05, momentum=0.9),
                         {"kind": "sgd", "lr": 0.05, "momentum": 0.9}),
        "sgd nesterov": (lambda: opt.SGD(0.05, momentum=0.9, nesterov=True),
                         {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}),
        "rmsprop": (lambda: opt.RMSprop(0.01), {"kind": "rmsprop", "lr": 0.01}),
        "rmsprop momentum": (lambda: opt.RMSprop(0.01, rho=0.8, momentum=0.5),
                             {"kind": "rmsprop", "lr": 0.01, "rho": 0.8, "momentum": 0.5}),
        "rmsprop centered": (lambda: opt.RMSprop(0.01, centered=True, momentum=0.3),
                             {"kind": "rmsprop", "lr": 0.01, "centered": True, "momentum": 0.3}),
        "adam": (lambda: opt.Adam(0.01), {"kind": "adam", "lr": 0.01}),
        "adam betas": (lambda: opt.Adam(0.02, beta_1=0.8, beta_2=0.9, epsilon=1e-4),
                       {"kind": "adam", "lr": 0.02, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-4}),
        "adam amsgrad": (lambda: opt.Adam(0.01, amsgrad=True),
                         {"kind": "adam", "lr": 0.01, "amsgrad": True}),
        "adamw": (lambda: opt.AdamW(0.01, weight_decay=0.1),
                  {"kind": "adamw", "lr": 0.01, "weight_decay": 0.1}),
        "adamw amsgrad": (lambda: opt.AdamW(0.01, weight_decay=0.05, amsgrad=True),
                          {"kind": "adamw", "lr": 0.01, "weight_decay": 0.05, "amsgrad": True}),
        "adagrad": (lambda: opt.Adagrad(0.1), {"kind": "adagrad", "lr": 0.1}),
        "adagrad accumulator": (lambda: opt.Adagrad(0.05, initial_accumulator_value=0.5),
                                {"kind": "adagrad", "lr": 0.05, "initial_accumulator_value": 0.5}),
        "adadelta": (lambda: opt.Adadelta(1.0), {"kind": "adadelta", "lr": 1.0}),
        "adadelta rho": (lambda: opt.Adadelta(0.5, rho=0.9, epsilon=1e-5),
                         {"kind": "adadelta", "lr": 0.5, "rho": 0.9, "epsilon": 1e-5}),
        "nadam": (lambda: opt.Nadam(0.01), {"kind": "nadam", "lr": 0.01}),
        "nadam betas": (lambda: opt.Nadam(0.02, beta_1=0.8, beta_2=0.95),
                        {"kind": "nadam", "lr": 0.02, "beta_1": 0.8, "beta_2": 0.95}),
        "sgd exponential decay": (
            lambda: opt.SGD(sch.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5)),
            {"kind": "sgd", "lr": 0.1,
             "schedule": {"type": "exponential_decay", "decay_steps": 5, "decay_rate": 0.5,
                          "staircase": False}}),
        "sgd exponential decay staircase": (
            lambda: opt.SGD(sch.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5,
                                                 staircase=True)),
            {"kind": "sgd", "lr": 0.1,
             "schedule": {"type": "exponential_decay", "decay_steps": 5, "decay_rate": 0.5,
                          "staircase": True}}),
        "adam cosine decay": (
            lambda: opt.Adam(sch.CosineDecay(0.01, decay_steps=15, alpha=0.1)),
            {"kind": "adam", "lr": 0.01,
             "schedule": {"type": "cosine_decay", "decay_steps": 15, "alpha": 0.1}}),
        "sgd momentum piecewise": (
            lambda: opt.SGD(sch.PiecewiseConstantDecay([5, 12], [0.1, 0.05, 0.01]),
                            momentum=0.9),
            {"kind": "sgd", "lr": 0.1, "momentum": 0.9,
             "schedule": {"type": "piecewise", "boundaries": [5, 12],
                          "factors": [1.0, 0.5, 0.1]}}),
        "sgd nesterov weight decay": (
            lambda: opt.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
            {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "decay": 0.1}),
        "adam weight decay": (lambda: opt.Adam(0.01, weight_decay=0.2),
                              {"kind": "adam", "lr": 0.01, "decay": 0.2}),
        "sgd momentum cosine warmup": (
            lambda: opt.SGD(sch.CosineDecay(0.02, decay_steps=12, alpha=0.1,
                                            warmup_target=0.1, warmup_steps=5),
                            momentum=0.9),
            {"kind": "sgd", "lr": 0.1, "momentum": 0.9,
             "schedule": {"type": "cosine_decay_warmup", "warmup_steps": 5,
                          "warmup_start": 0.2, "decay_steps": 12, "alpha": 0.1}}),
        "sgd momentum ema lookahead": (
            lambda: opt.SGD(0.05, momentum=0.9, use_ema=True, ema_momentum=0.7,
                            ema_overwrite_frequency=4),
            {"kind": "sgd", "lr": 0.05, "momentum": 0.9,
             "ema": {"momentum": 0.7, "overwrite_frequency": 4}}),
        "adam ema": (
            lambda: opt.Adam(0.01, use_ema=True, ema_momentum=0.9),
            {"kind": "adam", "lr": 0.01, "ema": {"momentum": 0.9}}),
    }
    grads = gradients()
    out = {
        "_made_with": {"keras": keras.__version__, "backend": keras.backend.backend()},
        "w0": W0,
        "grads": [[float(x) for x in row] for row in grads],
        "cases": {},
    }
    for name, (make, config) in cases.items():
        steps, final = trajectory(make(), grads)
        out["cases"][name] = {"config": config, "trajectory": steps, "finalized": final}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

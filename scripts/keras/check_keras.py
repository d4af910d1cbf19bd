"""Checks .keras files exported by cnn with Keras itself.

For each case file (JSON: {"model": "m.keras", "input": {"shape", "data"}, "expected": {"shape",
"data"}, "tolerance": 1e-4, "layers": ["input_1", "conv2d", ...]}):
  1. keras.saving.load_model(safe_mode=True) opens it (no code from the file runs);
  2. the loaded model lists its layers in the order given (the order its weight paths count);
  3. model(x, training=False) equals `expected` (cnn's own prediction) within `tolerance`
     (absolute, relative above 1);
  4. with "trainable_params", Keras counts as many trainable weights (frozen layers kept).
Prints one JSON line per case; exits 1 if any case fails.

Run: python scripts/keras/check_keras.py case1.json [case2.json ...]
     (needs keras 3 and a backend; CI uses tensorflow-cpu)
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's own (Eigen) depthwise kernel refuses unequal strides ("Current implementation
# only supports equal length strides"), which the every-layer graph has; its oneDNN kernels
# take them, but TensorFlow turns oneDNN on by default only on some Intel CPUs — on an AMD
# EPYC the check failed for that reason alone. Always on, so the check does not depend on the
# machine.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def check(path):
    with open(path) as f:
        case = json.load(f)
    model = keras.saving.load_model(case["model"], safe_mode=True)
    names = [layer.name for layer in model.layers]
    want_names = case.get("layers")
    if want_names is not None and names != want_names:
        return dict(case=path, ok=False, error=f"layers {names}, expected {want_names}")
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    if "trainable_params" in case and trainable != case["trainable_params"]:
        return dict(case=path, ok=False,
                    error=f"{trainable} trainable weights, expected {case['trainable_params']}")
    x = np.asarray(case["input"]["data"], dtype=np.float32).reshape(case["input"]["shape"])
    want = np.asarray(case["expected"]["data"], dtype=np.float32).reshape(
        case["expected"]["shape"])
    got = keras.ops.convert_to_numpy(model(x, training=False))
    if got.shape != want.shape:
        return dict(case=path, ok=False, error=f"shape {got.shape}, expected {want.shape}")
    diff = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)))
    ok = diff <= case.get("tolerance", 1e-4)
    return dict(case=path, ok=ok, max_diff=diff, model=model.__class__.__name__,
                layers=len(model.layers), params=int(model.count_params()), trainable=trainable,
                keras=keras.__version__, backend=keras.backend.backend())


def main():
    failed = 0
    for path in sys.argv[1:]:
        try:
            result = check(path)
        except Exception as e:  # noqa: BLE001 - reported per case
            result = dict(case=path, ok=False, error=f"{type(e).__name__}: {e}")
        failed += not result["ok"]
        print(json.dumps(result), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""Checks exported ONNX models with the ONNX project's own tools.

For each case file (JSON: {"model": "m.onnx", "input": {"shape", "data"}, "expected": {"shape",
"data"}, "tolerance": 1e-4, "nchw": false}):
  1. onnx.checker.check_model(full_check=True) — the model is valid ONNX, shapes inferred;
  2. ONNX Runtime (CPU, 2 intra-op threads) runs it on the input;
  3. its first output must equal `expected` (cnn's own prediction) within `tolerance`
     (absolute, relative above 1).
Prints one JSON line per case; exits 1 if any case fails.

Run: python scripts/onnx/check_onnx.py case1.json [case2.json ...]   (needs onnx, onnxruntime)
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def check(path):
    with open(path) as f:
        case = json.load(f)
    model = onnx.load(case["model"])
    onnx.checker.check_model(model, full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(case["model"], opts, providers=["CPUExecutionProvider"])
    x = np.asarray(case["input"]["data"], dtype=np.float32).reshape(case["input"]["shape"])
    want = np.asarray(case["expected"]["data"], dtype=np.float32).reshape(
        case["expected"]["shape"])
    inputs = session.get_inputs()
    got = session.run(None, {inputs[0].name: x})[0]
    if got.shape != want.shape:
        return dict(case=path, ok=False, error=f"shape {got.shape}, expected {want.shape}")
    diff = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)))
    ok = diff <= case.get("tolerance", 1e-4)
    return dict(case=path, ok=ok, max_diff=diff, opset=model.opset_import[0].version,
                onnxruntime=ort.__version__, onnx=onnx.__version__)


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

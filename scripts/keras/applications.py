"""The Keras applications VGG16, ResNet50 and MobileNetV2 with random weights, saved in the
layout Keras publishes their ImageNet weights in, with Keras's own outputs — the full-size
check behind `cargo xtask verify-pretrained` (files of 14 to 553 MB: made on demand, never
committed).

    python scripts/keras/applications.py --out DIR

For each NAME writes
  NAME.h5            the weights as the published `*_weights_tf_dim_ordering_tf_kernels.h5`
                     files hold them (Keras 2's save_weights layout: layer_names,
                     weight_names, `<layer>/<layer>/kernel:0`), written by
                     import_fixtures.keras2_weights
  NAME.pixels.u8     two random 224x224x3 images as bytes (NHWC)
  NAME.logits.f32    Keras's output for them, little-endian f32 [2, 1000]: the model built with
                     classifier_activation=None (the logits), after the application's own
                     preprocess_input (caffe for VGG16 and ResNet50, tf for MobileNetV2)
  manifest.json      shapes, preprocessing modes and versions

Batch-norm moving statistics are measured layer by layer on random images (as training leaves
them), then perturbed, so activations keep a sane size through 50 layers and every statistic
matters. Needs keras 3 with the tensorflow backend and h5py.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from import_fixtures import keras2_weights  # noqa: E402

APPS = {
    "vgg16": (keras.applications.VGG16, keras.applications.vgg16.preprocess_input, "caffe"),
    "resnet50": (keras.applications.ResNet50, keras.applications.resnet50.preprocess_input,
                 "caffe"),
    "mobilenetv2": (keras.applications.MobileNetV2,
                    keras.applications.mobilenet_v2.preprocess_input, "tf"),
}


def calibrate(model, x, rng):
    """Each batch norm's moving statistics set to its input's batch statistics, in order."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            probe = keras.Model(model.inputs, layer.input)
            a = keras.ops.convert_to_numpy(probe(x, training=False))
            mean = a.mean(axis=(0, 1, 2))
            var = a.var(axis=(0, 1, 2))
            c = mean.shape[0]
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.75, 1.25, c).astype("float32"),
                rng.normal(0, 0.1, c).astype("float32"),
                (mean + rng.normal(0, 0.05, c) * np.sqrt(var)).astype("float32"),
                (var * rng.uniform(0.8, 1.2, c)).astype("float32"),
            ])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", default=list(APPS))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(20261130)
    manifest = {"keras": keras.__version__, "models": {}}
    for name in a.only:
        build, preprocess, mode = APPS[name]
        keras.utils.set_random_seed(1)
        model = build(weights=None, classifier_activation=None)
        pixels = rng.integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
        x = preprocess(pixels.astype("float32"))
        calibrate(model, x, rng)
        logits = keras.ops.convert_to_numpy(model(x, training=False)).astype("<f4")
        keras2_weights(model, os.path.join(a.out, f"{name}.h5"))
        pixels.tofile(os.path.join(a.out, f"{name}.pixels.u8"))
        logits.tofile(os.path.join(a.out, f"{name}.logits.f32"))
        manifest["models"][name] = {"preprocess": mode, "input_shape": [224, 224, 3],
                                    "batch": 2, "classes": int(logits.shape[1]),
                                    "params": int(model.count_params())}
        print(f"{name}: {model.count_params():,} parameters, logits up to "
              f"{np.abs(logits).max():.2f}", flush=True)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

"""Makes the Keras import fixtures: small models saved by Keras 3 itself, with Keras's own
predictions, for crates/cnn-keras/tests/import.rs.

Writes crates/cnn-keras/tests/fixtures/:
  sequential.keras   a Sequential convnet (Conv2D, BatchNormalization, LeakyReLU, pooling,
                     Dropout, Flatten, Dense, Softmax layer)
  functional.keras   a Functional graph with every layer class cnn imports (residual Add,
                     Concatenate, Multiply, depthwise and separable convolutions, ...)
  unsupported.keras  a model with a LayerNormalization (cnn must refuse it, naming it)
  frozen.keras       the sequential model with its first convolution and batch norm frozen
                     (trainable=False), with Keras's trainable / non-trainable counts
  sequential.h5, functional.h5
                     the same models in Keras's legacy HDF5 format (model.save("m.h5"):
                     model_config plus model_weights with layer_names / weight_names)
  functional.weights.h5
                     Keras 3 weights only (model.save_weights), architecture given separately
  keras2-sequential-weights.h5
                     the sequential model's weights as Keras 2's save_weights (and the Keras
                     applications' published files) lay them out: layer_names and weight_names
                     as fixed-length byte strings, variables under `<layer>/<layer>/kernel:0`
  expected.json      per model: the input and Keras's output (model(x, training=False))

Weights are random, with batch-norm statistics and biases moved away from their initial values
so every term shows. Run: python scripts/keras/import_fixtures.py (needs keras 3, tensorflow).
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as L  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "cnn-keras", "tests",
                   "fixtures")
rng = np.random.default_rng(20261130)


def perturb(model):
    for layer in model.layers:
        for w in layer.weights:
            name = w.path.split("/")[-1]
            v = keras.ops.convert_to_numpy(w)
            if name in ("bias", "beta", "moving_mean"):
                w.assign(rng.uniform(-0.3, 0.3, v.shape).astype("float32"))
            elif name in ("gamma", "moving_variance"):
                w.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))


def sequential():
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((12, 10, 3), name="image"),
        L.Conv2D(6, 3, padding="same", name="conv1"),
        L.BatchNormalization(name="bn1"),
        L.LeakyReLU(negative_slope=0.1, name="leaky"),
        L.MaxPooling2D(name="pool1"),
        L.Conv2D(8, (3, 2), strides=(1, 2), activation="relu", name="conv2"),
        L.AveragePooling2D(2, strides=1, padding="same", name="pool2"),
        L.Dropout(0.25, name="drop"),
        L.Flatten(name="flat"),
        L.Dense(16, activation="elu", name="fc1"),
        L.Dense(5, name="logits"),
        L.Softmax(name="probs"),
    ], name="seq_convnet")


def functional():
    keras.utils.set_random_seed(2)
    inp = keras.Input((11, 9, 3), name="pixels")
    x = L.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = L.ZeroPadding2D(((1, 0), (2, 1)))(x)
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = L.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)
    x = L.ReLU(max_value=6.0)(x)
    d = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu6")(x)
    d = L.Conv2D(8, 1, activation="swish")(d)
    s = L.SeparableConv2D(8, 3, padding="same", dilation_rate=2, activation="gelu")(x)
    x = L.Add()([x, d, s])
    a = L.Activation("sigmoid")(x)
    b = L.Activation("tanh")(x)
    m = L.Multiply()([a, b])
    c = L.Concatenate()([m, x])
    c = L.Conv2D(6, 2, activation="hard_sigmoid")(c)
    g1 = L.GlobalAveragePooling2D()(c)
    g2 = L.GlobalMaxPooling2D()(c)
    r = L.Reshape((-1, 3))(c)
    r = L.Flatten()(r)
    r = L.Dense(12, activation="leaky_relu")(r)
    out = L.Concatenate()([g1, g2, r])
    out = L.Dense(4, activation="softmax", name="scores")(out)
    return keras.Model(inp, out, name="every_class")


def unsupported():
    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input((6, 6, 2)),
        L.Conv2D(3, 3, name="conv"),
        L.LayerNormalization(name="layer_norm"),
        L.Flatten(),
        L.Dense(2),
    ], name="with_layer_norm")


def keras2_weights(model, path):
    """Keras 2's `save_weights_to_hdf5_group` layout, written with h5py as Keras 2 wrote it."""
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            g = f.create_group(layer.name)
            names = [f"{layer.name}/{w.path.split('/')[-1]}:0".encode() for w in layer.weights]
            g.attrs["weight_names"] = np.array(names) if names else np.array([])
            for n, w in zip(names, layer.weights):
                g.create_dataset(n.decode(), data=keras.ops.convert_to_numpy(w))


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    for name, build in [("sequential", sequential), ("functional", functional),
                        ("unsupported", unsupported)]:
        model = build()
        perturb(model)
        shape = (2,) + tuple(model.inputs[0].shape[1:])
        scale = 255.0 if name == "functional" else 1.0
        x = (rng.uniform(0, 1, shape) * scale).astype("float32")
        y = keras.ops.convert_to_numpy(model(x, training=False))
        model.save(os.path.join(OUT, f"{name}.keras"))
        if name != "unsupported":
            model.save(os.path.join(OUT, f"{name}.h5"))
        if name == "functional":
            model.save_weights(os.path.join(OUT, f"{name}.weights.h5"))
        if name == "sequential":
            keras2_weights(model, os.path.join(OUT, "keras2-sequential-weights.h5"))
        expected[name] = {
            "input": {"shape": list(x.shape), "data": [float(v) for v in x.ravel()]},
            "output": {"shape": list(y.shape), "data": [float(v) for v in y.ravel()]},
            "layers": [layer.name for layer in model.layers],
            "params": int(model.count_params()),
        }
    # Frozen layers: Keras's own counts of what trains.
    model = sequential()
    perturb(model)
    model.get_layer("conv1").trainable = False
    model.get_layer("bn1").trainable = False
    model.save(os.path.join(OUT, "frozen.keras"))
    x = rng.uniform(0, 1, (2, 12, 10, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    expected["frozen"] = {
        "trainable": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "non_trainable": int(sum(np.prod(w.shape) for w in model.non_trainable_weights)),
        "input": {"shape": list(x.shape), "data": [float(v) for v in x.ravel()]},
        "output": {"shape": list(y.shape), "data": [float(v) for v in y.ravel()]},
        "params": int(model.count_params()),
    }
    # Keras's preprocess_input modes on RGB pixels 0-255 (cnn_nn::Preprocess must match).
    from keras.applications import imagenet_utils
    px = rng.uniform(0, 255, (2, 3, 4, 3)).astype("float32")
    expected["preprocess"] = {
        "pixels": {"shape": list(px.shape), "data": [float(v) for v in px.ravel()]},
    }
    for mode in ("caffe", "tf", "torch"):
        y = imagenet_utils.preprocess_input(px.copy(), mode=mode)
        expected["preprocess"][mode] = [float(v) for v in np.asarray(y).ravel()]
    expected["keras_version"] = keras.__version__
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
    print("wrote", OUT, "with keras", keras.__version__)


if __name__ == "__main__":
    main()

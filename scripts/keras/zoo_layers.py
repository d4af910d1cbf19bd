"""Writes the per-layer facts of Keras's own models that cnn's zoo rebuilds.

Run with Keras 3 (TensorFlow backend):
    python scripts/keras/zoo_layers.py > crates/cnn-nn/tests/fixtures/keras_zoo.json

For each model: Keras's parameter totals and, for every layer, its class, output shape
(without the batch dimension), parameter count and the layers it reads. cnn's
`tests/summary_zoo.rs` compares its zoo against this file layer by layer.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from keras import layers  # noqa: E402


def resnet_v1(depth, input_shape=(32, 32, 3), num_classes=10):
    """keras-team/keras `examples/cifar10_resnet.py` (Keras 2 era), `resnet_v1`."""

    def resnet_layer(inputs, num_filters=16, kernel_size=3, strides=1,
                     activation="relu", batch_normalization=True):
        x = layers.Conv2D(num_filters, kernel_size=kernel_size, strides=strides,
                          padding="same", kernel_initializer="he_normal")(inputs)
        if batch_normalization:
            x = layers.BatchNormalization()(x)
        if activation is not None:
            x = layers.Activation(activation)(x)
        return x

    num_filters = 16
    num_res_blocks = (depth - 2) // 6
    inputs = keras.Input(shape=input_shape)
    x = resnet_layer(inputs)
    for stack in range(3):
        for res_block in range(num_res_blocks):
            strides = 2 if stack > 0 and res_block == 0 else 1
            y = resnet_layer(x, num_filters=num_filters, strides=strides)
            y = resnet_layer(y, num_filters=num_filters, activation=None)
            if stack > 0 and res_block == 0:
                x = resnet_layer(x, num_filters=num_filters, kernel_size=1,
                                 strides=strides, activation=None,
                                 batch_normalization=False)
            x = layers.add([x, y])
            x = layers.Activation("relu")(x)
        num_filters *= 2
    x = layers.AveragePooling2D(pool_size=8)(x)
    y = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax",
                           kernel_initializer="he_normal")(y)
    return keras.Model(inputs, outputs)


def every_layer():
    """One small graph with every layer cnn adds for graphs, named so cnn's JSON spec
    (tests/summary_zoo.rs) can say the same."""
    inp = keras.Input((16, 16, 3))
    r = layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(inp)
    a = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(r)
    d = layers.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same",
                               name="dw")(a)
    s = layers.SeparableConv2D(16, 3, padding="same", depth_multiplier=2,
                               activation="swish", name="sep")(a)
    p = layers.MaxPooling2D(2, name="pool")(s)
    m = layers.Multiply(name="mul")([d, p])
    c = layers.Concatenate(name="cat")([m, d])
    z = layers.ZeroPadding2D(((1, 0), (0, 2)), name="zpad")(c)
    re = layers.ReLU(6.0, name="relu6")(z)
    g = layers.GlobalMaxPooling2D(name="gmp")(re)
    rs = layers.Reshape((4, 8), name="reshape")(g)
    f = layers.Flatten(name="flat")(rs)
    n = layers.BatchNormalization(epsilon=1.001e-5, name="bn")(f)
    out = layers.Dense(5, activation="softmax", name="out")(n)
    return keras.Model(inp, out)


def describe(model):
    def count(ws):
        return int(sum(int(w.numpy().size) for w in ws))

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inbound = []
        node = layer._inbound_nodes[0]
        for t in node.input_tensors:
            inbound.append(t._keras_history.operation.name)
        shape = layer.output.shape
        out.append({
            "name": layer.name,
            "class": layer.__class__.__name__,
            "output_shape": [None if d is None else int(d) for d in shape[1:]],
            "params": count(layer.weights),
            "inputs": inbound,
        })
    return {
        "total": count(model.weights),
        "trainable": count(model.trainable_weights),
        "non_trainable": count(model.non_trainable_weights),
        "layers": out,
    }


def main():
    apps = keras.applications
    # Each model from a fresh session, so Keras's automatic names start over.
    builders = {
        "resnet50": lambda: apps.ResNet50(weights=None),
        "resnet50 --no-top": lambda: apps.ResNet50(weights=None, include_top=False,
                                                   input_shape=(224, 224, 3)),
        "vgg16": lambda: apps.VGG16(weights=None),
        "vgg16 --no-top 150x150x3": lambda: apps.VGG16(weights=None, include_top=False,
                                                       input_shape=(150, 150, 3)),
        "resnet20-cifar": lambda: resnet_v1(20),
        "mobilenetv2": lambda: apps.MobileNetV2(weights=None),
        "mobilenetv2 128x128x3": lambda: apps.MobileNetV2(weights=None,
                                                          input_shape=(128, 128, 3)),
        "mobilenetv2 --no-top 97x97x3": lambda: apps.MobileNetV2(
            weights=None, include_top=False, input_shape=(97, 97, 3)),
        "every-layer": every_layer,
    }
    facts = {}
    for name, build in builders.items():
        keras.backend.clear_session()
        facts[name] = describe(build())
    facts["_made_with"] = {"keras": keras.__version__, "backend": keras.backend.backend()}
    json.dump(facts, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

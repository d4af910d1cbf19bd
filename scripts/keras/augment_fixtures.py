"""Writes what Keras's own ImageDataGenerator outputs, for cnn-augment's parity tests.

Run with Keras 3 (TensorFlow backend), scipy, Pillow and keras-preprocessing 1.1.2:
    python scripts/keras/augment_fixtures.py > crates/cnn-augment/tests/fixtures/keras_augment.json

Every output below comes from the other library's code, not from our reading of it:

- "keras": `tensorflow.keras.preprocessing.image.ImageDataGenerator(fill_mode, cval,
  interpolation_order).apply_transform(x, params)` — Keras 3's generator, what
  `from tensorflow.keras.preprocessing.image import ImageDataGenerator` gives today — for every
  geometric transform, fill mode (constant, nearest, reflect, wrap) and interpolation order, on
  square and non-square, 1- and 3-channel asymmetric images; then channel shift, flips and
  brightness, alone and combined; `standardize` after `fit` for every standardisation option.
- "grid-wrap": Keras 3's `apply_affine_transform` with scipy's `grid-wrap` mode (the
  `abcd|abcd|abcd` pattern Keras's docstring promises for `wrap`; Keras passes `wrap`, which
  scipy reads differently).
- "documented": the documented axes (`height_shift_range` moves rows), which Keras 3 swaps
  (keras-team/keras#17398) — from keras-preprocessing 1.1.2 (Keras 2), from Keras 3's own
  function told not to swap, and from scipy (see below for which shows what).

Images are float32, as `img_to_array` makes them. Outputs are float32 values.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import PIL  # noqa: E402
import scipy  # noqa: E402
import keras  # noqa: E402
import keras_preprocessing  # noqa: E402
from keras_preprocessing.image import ImageDataGenerator as Keras2Generator  # noqa: E402
from keras_preprocessing.image import apply_affine_transform as keras2_affine  # noqa: E402
from tensorflow.keras.preprocessing.image import ImageDataGenerator  # noqa: E402
from tensorflow.keras.preprocessing.image import apply_affine_transform  # noqa: E402

SIZES = [(5, 7), (6, 6)]
CHANNELS = [1, 3]
MODES = ["constant", "nearest", "reflect", "wrap"]
CVAL = 0.5
GEOMETRY = {
    "identity": {},
    "rotate30": dict(theta=30.0),
    "rotate-75": dict(theta=-75.0),
    "tx1.6": dict(tx=1.6),
    "ty-2.3": dict(ty=-2.3),
    "shift_far": dict(tx=8.4, ty=-9.7),
    "shear20": dict(shear=20.0),
    "zoom_out": dict(zx=1.3, zy=1.15),
    "zoom_in": dict(zx=0.7, zy=0.85),
    "combined": dict(theta=17.0, tx=-0.7, ty=1.2, shear=-11.0, zx=0.9, zy=1.2),
    "combined_far": dict(theta=-140.0, tx=3.3, ty=-4.1, shear=33.0, zx=1.7, zy=0.6),
}
AFFINE_KEYS = ("theta", "tx", "ty", "shear", "zx", "zy")


def image(h, w, c, scale=1.0, shift=0.0):
    r, col, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    # Asymmetric in both axes and across channels.
    v = np.sin(r * 1.3 + 0.2) * 3 + col * col * 0.25 + r * 0.5 + ch * 1.7
    return (v * scale + shift).astype(np.float32)


def floats(a):
    # The shortest decimal that reads back as the same float32.
    return [float(str(x)) for x in np.asarray(a, dtype=np.float32).ravel()]


cases = []
inputs = {}


def add(kind, name, x, out, **fields):
    """One case; its input image is stored once in `inputs` and named by key."""
    key = str(len(inputs))
    for k, v in inputs.items():
        if v["shape"] == list(x.shape) and v["data"] == floats(x):
            key = k
            break
    else:
        inputs[key] = dict(shape=list(x.shape), data=floats(x))
    cases.append(dict(kind=kind, name=name, h=x.shape[0], w=x.shape[1], c=x.shape[2],
                      input=key, output=floats(out), **fields))


def full(params):
    p = dict(theta=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0)
    p.update(params)
    return p


# Keras 3 geometry, every fill mode and order.
for (h, w) in SIZES:
    for c in CHANNELS:
        x = image(h, w, c)
        for tname, params in GEOMETRY.items():
            for mode in MODES:
                for order in (0, 1):
                    gen = ImageDataGenerator(fill_mode=mode, cval=CVAL, interpolation_order=order)
                    out = gen.apply_transform(x.copy(), dict(params))
                    add("keras", f"{tname}/{mode}/order{order}/{h}x{w}x{c}", x, out,
                        params=full(params), fill_mode=mode, cval=CVAL, order=order)

# Keras 3 geometry with scipy's grid-wrap (the documented wrap pattern).
for (h, w) in SIZES:
    x = image(h, w, 3)
    for tname, params in GEOMETRY.items():
        for order in (0, 1):
            p = full(params)
            out = apply_affine_transform(x.copy(), *[p[k] for k in AFFINE_KEYS], row_axis=0,
                                         col_axis=1, channel_axis=2, fill_mode="grid-wrap",
                                         cval=CVAL, order=order)
            add("keras", f"{tname}/grid-wrap/order{order}/{h}x{w}x3", x, out,
                params=p, fill_mode="grid-wrap", cval=CVAL, order=order)

# The documented axes (`Axes::Documented`). No Keras computes them with the right centre on a
# non-square image, so three sources, each for what it can show:
# - keras-preprocessing 1.1.2 (Keras 2): shifts, every fill mode. Its centre is (h/2 + 0.5,
#   w/2 + 0.5), off by one pixel (Keras 3 fixed it), which a pure shift does not see.
# - Keras 3's apply_affine_transform told that columns come first (row_axis=1, col_axis=0), so it
#   does not swap: every transform on square images, where the centre's offsets are equal.
# - scipy.ndimage.affine_transform, which both call, with Keras 3's matrix on (row, column):
#   every transform on the non-square image.
SHIFTS = ("tx1.6", "ty-2.3", "shift_far")
for (h, w) in SIZES:
    x = image(h, w, 3)
    for tname in SHIFTS:
        for order in (0, 1):
            for mode in MODES:
                gen = Keras2Generator(fill_mode=mode, cval=CVAL, interpolation_order=order)
                out = gen.apply_transform(x.copy(), dict(GEOMETRY[tname]))
                add("documented", f"keras-preprocessing/{tname}/{mode}/order{order}/{h}x{w}x3",
                    x, out, params=full(GEOMETRY[tname]), fill_mode=mode, cval=CVAL, order=order)


def scipy_documented(x, p, mode, order):
    t, s = np.deg2rad(p["theta"]), np.deg2rad(p["shear"])
    m = (np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
         @ np.array([[1, 0, p["tx"]], [0, 1, p["ty"]], [0, 0, 1]])
         @ np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
         @ np.array([[p["zx"], 0, 0], [0, p["zy"], 0], [0, 0, 1]]))
    h, w = x.shape[:2]
    o1, o2 = h / 2 - 0.5, w / 2 - 0.5
    m = (np.array([[1, 0, o1], [0, 1, o2], [0, 0, 1]]) @ m
         @ np.array([[1, 0, -o1], [0, 1, -o2], [0, 0, 1]]))
    return np.stack([scipy.ndimage.affine_transform(x[:, :, k], m[:2, :2], m[:2, 2], order=order,
                                                    mode=mode, cval=CVAL)
                     for k in range(x.shape[2])], axis=-1)


for (h, w) in SIZES:
    x = image(h, w, 3)
    for tname, params in GEOMETRY.items():
        if tname == "identity":
            continue
        p = full(params)
        for order in (0, 1):
            for mode in MODES + ["grid-wrap"]:
                if h == w:
                    source = "keras-unswapped"
                    out = apply_affine_transform(x.copy(), *[p[k] for k in AFFINE_KEYS],
                                                 row_axis=1, col_axis=0, channel_axis=2,
                                                 fill_mode=mode, cval=CVAL, order=order)
                else:
                    source = "scipy"
                    out = scipy_documented(x, p, mode, order)
                add("documented", f"{source}/{tname}/{mode}/order{order}/{h}x{w}x3", x, out,
                    params=p, fill_mode=mode, cval=CVAL, order=order)

# Channel shift, flips and brightness (Keras 3), alone and after a geometric transform.
PIXEL = {
    "channel_shift+3.5": dict(channel_shift_intensity=3.5),
    "channel_shift-20": dict(channel_shift_intensity=-20.0),
    "flip_h": dict(flip_horizontal=True),
    "flip_v": dict(flip_vertical=True),
    "flip_hv": dict(flip_horizontal=True, flip_vertical=True),
    "brightness0.4": dict(brightness=0.4),
    "brightness1.0": dict(brightness=1.0),
    "brightness1.3": dict(brightness=1.3),
    "brightness2.5": dict(brightness=2.5),
    "everything": dict(theta=12.0, tx=0.8, ty=-1.1, shear=5.0, zx=0.9, zy=1.1,
                       flip_horizontal=True, flip_vertical=True,
                       channel_shift_intensity=7.25, brightness=0.8),
}
# Brightness goes through uint8 (PIL): images inside [0, 255] are truncated as they are,
# others are scaled by their own range and back.
RANGES = {"0-255": (20.0, 3.0), "narrow": (4.0, 60.0), "negative": (30.0, -200.0),
          "above": (40.0, 100.0), "unit": (0.05, 0.0)}
for (h, w) in SIZES:
    for c in CHANNELS:
        for rname, (scale, shift) in RANGES.items():
            x = image(h, w, c, scale, shift)
            for pname, params in PIXEL.items():
                gen = ImageDataGenerator()
                out = gen.apply_transform(x.copy(), dict(params))
                add("keras", f"{pname}/{rname}/{h}x{w}x{c}", x, out, params=full(params),
                    fill_mode="nearest", cval=0.0, order=1)

# standardize() after fit(), every option (Keras 3).
STANDARDIZE = {
    "rescale": dict(rescale=1 / 255),
    "samplewise_center": dict(samplewise_center=True),
    "samplewise_std": dict(samplewise_std_normalization=True),
    "samplewise_both": dict(rescale=1 / 255, samplewise_center=True,
                            samplewise_std_normalization=True),
    "featurewise_center": dict(featurewise_center=True),
    "featurewise_std": dict(featurewise_std_normalization=True),
    "featurewise_both": dict(rescale=0.5, featurewise_center=True,
                             featurewise_std_normalization=True),
    "all": dict(rescale=1 / 255, samplewise_center=True, samplewise_std_normalization=True,
                featurewise_center=True, featurewise_std_normalization=True),
}
for c in CHANNELS:
    batch = np.stack([image(6, 6, c, 10.0 + 7 * i, 3.0 * i) for i in range(4)])
    for sname, opts in STANDARDIZE.items():
        gen = ImageDataGenerator(**opts)
        gen.fit(batch)
        x = image(6, 6, c, 13.0, 5.0)
        out = gen.standardize(x.copy())
        opts_json = {k: (float(v) if not isinstance(v, bool) else v) for k, v in opts.items()}
        add("standardize", f"{sname}/c{c}", x, out, options=opts_json,
            fit_batch=floats(batch), fit_shape=list(batch.shape))

json.dump({"generator": "scripts/keras/augment_fixtures.py", "keras": keras.__version__,
           "keras_preprocessing": keras_preprocessing.__version__, "scipy": scipy.__version__,
           "numpy": np.__version__, "pillow": PIL.__version__, "inputs": inputs, "cases": cases}, sys.stdout)
print()

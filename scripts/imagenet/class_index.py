"""Rebuilds crates/cnn-datasets/data/imagenet_class_index.json, Keras's
`imagenet_class_index.json` (what `keras.applications.imagenet_utils.decode_predictions`
downloads), from the ImageNet-1k synset lists that timm ships (Apache-2.0), and proves it is
Keras's file byte for byte: its MD5 must be the `file_hash` Keras pins,
c2c37ea517e94d9795004a39431a14cb.

The file maps class index -> [WordNet id, first lemma with spaces as underscores], in the
order of the synset ids (the order every ImageNet-1k model's outputs use).

Run: pip download --no-deps timm && python scripts/imagenet/class_index.py timm-*.whl
"""
import hashlib
import json
import os
import sys
import zipfile

KERAS_MD5 = "c2c37ea517e94d9795004a39431a14cb"
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "cnn-datasets", "data",
                   "imagenet_class_index.json")


def main():
    with zipfile.ZipFile(sys.argv[1]) as z:
        synsets = z.read("timm/data/_info/imagenet_synsets.txt").decode().split()
        lemmas = dict(line.split("\t", 1) for line in
                      z.read("timm/data/_info/imagenet_synset_to_lemma.txt").decode().splitlines())
    assert len(synsets) == 1000
    index = {str(i): [w, lemmas[w].split(", ")[0].replace(" ", "_")]
             for i, w in enumerate(synsets)}
    text = json.dumps(index)
    digest = hashlib.md5(text.encode()).hexdigest()
    if digest != KERAS_MD5:
        sys.exit(f"MD5 {digest} is not Keras's {KERAS_MD5}")
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote", OUT, "MD5", digest, "(Keras's)")


if __name__ == "__main__":
    main()

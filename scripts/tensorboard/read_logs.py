"""Reads TensorBoard logs with TensorBoard's own reader and prints what it found, as JSON.

For each run directory under LOGDIR (e.g. train/, validation/), TensorBoard's
EventAccumulator loads every event file; we print the scalars (tag -> [[step, value], ...]),
the histograms (tag -> [[step, count, min, max], ...]) and the images
(tag -> [[step, width, height, PNG bytes], ...]).

Run: python scripts/tensorboard/read_logs.py LOGDIR   (needs tensorboard)
"""
import json
import os
import sys

from tensorboard.backend.event_processing import event_accumulator


def read_run(path):
    acc = event_accumulator.EventAccumulator(
        path, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0,
                             event_accumulator.IMAGES: 0})
    acc.Reload()
    tags = acc.Tags()
    return {
        "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
        "histograms": {t: [[e.step, e.histogram_value.num, e.histogram_value.min,
                            e.histogram_value.max] for e in acc.Histograms(t)]
                       for t in tags["histograms"]},
        "images": {t: [[e.step, e.width, e.height, len(e.encoded_image_string)]
                       for e in acc.Images(t)] for t in tags["images"]},
    }


def main(logdir):
    runs = {}
    for name in sorted(os.listdir(logdir)):
        path = os.path.join(logdir, name)
        if os.path.isdir(path):
            runs[name] = read_run(path)
    print(json.dumps(runs))


if __name__ == "__main__":
    main(sys.argv[1])

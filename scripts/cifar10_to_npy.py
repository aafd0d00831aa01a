#!/usr/bin/env python3
"""Turns the CIFAR-10 python batches into the .npy of images `reawaken llm probe --docs`
reads for Image GPT: N x 32 x 32 x 3 uint8, RGB, channels last, in batch order.

    python3 scripts/cifar10_to_npy.py cifar-10-batches-py data/cifar10_train.npy [--test]

`cifar-10-batches-py/` is what https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz
unpacks to (download it yourself; reawaken never downloads). Without --test: the five
training batches (50 000 images); with --test: test_batch (10 000). Also writes
OUT.labels.npy (int64 class ids). Needs only numpy.
"""
import argparse
import os
import pickle

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("batches", help="the cifar-10-batches-py directory")
    ap.add_argument("out", help="output .npy (N x 32 x 32 x 3 uint8)")
    ap.add_argument("--test", action="store_true", help="convert test_batch instead")
    a = ap.parse_args()
    names = ["test_batch"] if a.test else [f"data_batch_{i}" for i in range(1, 6)]
    images, labels = [], []
    for n in names:
        with open(os.path.join(a.batches, n), "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        # Each row is 3072 bytes: the 1024 red values, then green, then blue (row-major 32x32).
        images.append(batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.extend(batch[b"labels"])
    images = np.ascontiguousarray(np.concatenate(images), dtype=np.uint8)
    np.save(a.out, images)
    np.save(os.path.splitext(a.out)[0] + ".labels.npy", np.asarray(labels, dtype=np.int64))
    print(f"{a.out}: {images.shape} uint8")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes Fashion-MNIST images as a folder of PNG files, the layout `selfsup datasets upload` takes.

  examples/python/fashion_folder.py OUT [--train 2000] [--test 500]

OUT/train/<class>/<n>.png and OUT/test/<class>/<n>.png, from Debian's dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist). The Python standard library only: a stand-in for a folder of your own photos.
"""
import argparse
import gzip
import os
import struct
import zlib

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]


def idx(path: str):
    """The header fields and the bytes of an IDX file (plain or gzipped)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def png(pixels: bytes, width: int, height: int) -> bytes:
    """An 8-bit grey PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def find(root: str, stem: str) -> str:
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(root, name)):
            return os.path.join(root, name)
    raise SystemExit(f"{stem} not found under {root} (apt-get install dataset-fashion-mnist)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--train", type=int, default=2000, help="training images (default 2000)")
    p.add_argument("--test", type=int, default=500, help="test images (default 500)")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    for split, stem, count in (("train", "train", a.train), ("test", "t10k", a.test)):
        (n, h, w), images = idx(find(a.data, stem + "-images-idx3-ubyte"))
        _, labels = idx(find(a.data, stem + "-labels-idx1-ubyte"))
        for i in range(min(count, n)):
            folder = os.path.join(a.out, split, CLASSES[labels[i]])
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
                f.write(png(images[i * h * w:(i + 1) * h * w], w, h))
    print(f"{a.out}: {min(a.train, 60000)} train and {min(a.test, 10000)} test images in 10 class folders")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

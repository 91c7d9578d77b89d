#!/usr/bin/env python3
"""Embeds image files with a model served by the selfsup encoder-service, from Python.

  examples/python/generate.sh                       # once: the API's Python modules into ./gen
  examples/python/embed.py --model fashion a.png b.jpg [--server localhost:8082]

Prints one line per image: its name, the embedding's length and its first values.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from selfsup.v1 import encoder_pb2, encoder_pb2_grpc  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="localhost:8082", help="encoder-service host:port")
    p.add_argument("--model", required=True, help="the served model's name")
    p.add_argument("--normalize", action="store_true", help="unit-length embeddings")
    p.add_argument("images", nargs="+", help="PNG or JPEG files")
    a = p.parse_args()

    images = []
    for path in a.images:
        with open(path, "rb") as f:
            images.append(encoder_pb2.Image(encoded=f.read()))
    request = encoder_pb2.EmbedRequest(model=a.model, images=images, normalize=a.normalize)
    with grpc.insecure_channel(a.server) as channel:
        stub = encoder_pb2_grpc.EncoderServiceStub(channel)
        try:
            response = stub.Embed(request, timeout=30)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 2
    print(f"model {response.model} v{response.version}")
    for path, e in zip(a.images, response.embeddings):
        head = " ".join(f"{v:.4f}" for v in e.values[:4])
        print(f"{path}: {len(e.values)} values: {head} ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())

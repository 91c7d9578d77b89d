#!/usr/bin/env python3
"""Embeds image files with a model served by the selfsup encoder-service, from Python.

  examples/python/generate.sh                       # once: the API's Python modules into ./gen
  examples/python/embed.py --model fashion a.png b.jpg [--server localhost:8082] [--tls-ca ca.crt]

Prints one line per image: its name, the embedding's length and its first values. The token (a reader's is
enough): --token, else $SELFSUP_TOKEN, else the reader token of the services' token file (var/auth/tokens).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from selfsup.v1 import encoder_pb2, encoder_pb2_grpc  # noqa: E402


def token_from_file(path: str) -> str:
    """The reader token of a token file (lines "reader=TOKEN[,TOKEN...]"), or "" if there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "reader" and value:
                    return value.split(",")[0].strip()
    except FileNotFoundError:
        pass
    return ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="localhost:8082", help="encoder-service host:port")
    p.add_argument("--model", required=True, help="the served model's name")
    p.add_argument("--normalize", action="store_true", help="unit-length embeddings")
    p.add_argument("--token", default=os.environ.get("SELFSUP_TOKEN", ""), help="access token")
    p.add_argument("--token-file", default=os.environ.get("SELFSUP_TOKEN_FILE", "var/auth/tokens"))
    p.add_argument("--tls-ca", default=os.environ.get("SELFSUP_TLS_CA", ""), help="CA to trust: talk TLS")
    p.add_argument("images", nargs="+", help="PNG or JPEG files")
    a = p.parse_args()

    images = []
    for path in a.images:
        with open(path, "rb") as f:
            images.append(encoder_pb2.Image(encoded=f.read()))
    request = encoder_pb2.EmbedRequest(model=a.model, images=images, normalize=a.normalize)
    token = a.token or token_from_file(a.token_file)
    metadata = [("authorization", "Bearer " + token)] if token else []
    if a.tls_ca:
        with open(a.tls_ca, "rb") as f:
            channel = grpc.secure_channel(a.server, grpc.ssl_channel_credentials(root_certificates=f.read()))
    else:
        channel = grpc.insecure_channel(a.server)
    with channel:
        stub = encoder_pb2_grpc.EncoderServiceStub(channel)
        try:
            response = stub.Embed(request, timeout=30, metadata=metadata)
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

#!/usr/bin/env python3
"""Embeds image files through the Open Inference Protocol (KServe v2) on the selfsup encoder-service, from Python.

  examples/python/generate.sh                       # once: the Python modules into ./gen
  examples/python/infer.py --model fashion a.png b.jpg [--server localhost:8082] [--tls-ca ca.crt] [--compare]

Uses only the protocol's own messages (inference.GRPCInferenceService): ModelReady, ModelMetadata, then
ModelInfer with the files as a BYTES tensor. Prints the output's shape and each image's first values. With
--compare it also calls selfsup's Embed on the same files and prints the largest difference. The token (a
reader's is enough): --token, else $SELFSUP_TOKEN, else the reader token of var/auth/tokens.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from inference import open_inference_pb2 as oip, open_inference_pb2_grpc as oip_grpc  # noqa: E402

from embed import token_from_file  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="localhost:8082", help="encoder-service host:port")
    p.add_argument("--model", required=True, help="the served model's name")
    p.add_argument("--version", default="", help="a version number; empty: the default version")
    p.add_argument("--token", default=os.environ.get("SELFSUP_TOKEN", ""), help="access token")
    p.add_argument("--token-file", default=os.environ.get("SELFSUP_TOKEN_FILE", "var/auth/tokens"))
    p.add_argument("--tls-ca", default=os.environ.get("SELFSUP_TLS_CA", ""), help="CA to trust: talk TLS")
    p.add_argument("--compare", action="store_true", help="also call Embed and print the largest difference")
    p.add_argument("images", nargs="+", help="PNG or JPEG files")
    a = p.parse_args()

    token = a.token or token_from_file(a.token_file)
    metadata = [("authorization", "Bearer " + token)] if token else []
    files = []
    for path in a.images:
        with open(path, "rb") as f:
            files.append(f.read())
    if a.tls_ca:
        with open(a.tls_ca, "rb") as f:
            channel = grpc.secure_channel(a.server, grpc.ssl_channel_credentials(root_certificates=f.read()))
    else:
        channel = grpc.insecure_channel(a.server)
    with channel:
        stub = oip_grpc.GRPCInferenceServiceStub(channel)
        try:
            ready = stub.ModelReady(oip.ModelReadyRequest(name=a.model, version=a.version), metadata=metadata)
            if not ready.ready:
                print(f"model {a.model} is not ready", file=sys.stderr)
                return 1
            meta = stub.ModelMetadata(oip.ModelMetadataRequest(name=a.model, version=a.version), metadata=metadata)
            tensor = oip.ModelInferRequest.InferInputTensor(
                name="image_bytes", datatype="BYTES", shape=[len(files)],
                contents=oip.InferTensorContents(bytes_contents=files))
            r = stub.ModelInfer(
                oip.ModelInferRequest(model_name=a.model, model_version=a.version, id="infer.py", inputs=[tensor]),
                timeout=30, metadata=metadata)
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()}", file=sys.stderr)
            return 2
        out = r.outputs[0]
        n, dim = out.shape
        values = list(out.contents.fp32_contents)
        print(f"{r.model_name} v{r.model_version}: {out.name} {out.datatype} {list(out.shape)} "
              f"(metadata: inputs {[(t.name, t.datatype, list(t.shape)) for t in meta.inputs]})")
        for i, path in enumerate(a.images):
            print(f"{path}  [" + "  ".join(f"{v:.4f}" for v in values[i * dim:i * dim + 6]) + "...]")
        if a.compare:
            from selfsup.v1 import encoder_pb2, encoder_pb2_grpc
            embed = encoder_pb2_grpc.EncoderServiceStub(channel).Embed(
                encoder_pb2.EmbedRequest(model=a.model, version=int(a.version or 0),
                                         images=[encoder_pb2.Image(encoded=f) for f in files]),
                timeout=30, metadata=metadata)
            diff = max(abs(v - values[i * dim + j])
                       for i, e in enumerate(embed.embeddings) for j, v in enumerate(e.values))
            print(f"largest difference from Embed: {diff:.3g}")
            if diff > 1e-6:
                return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""From a folder of your own images to a searched gallery, from Python, with no shared file system.

  examples/python/generate.sh                     # once: the API's Python modules into ./gen
  examples/python/own_images.py FOLDER --name photos [--steps 60] [--trainer localhost:8080]
      [--encoder localhost:8082] [--image-size 28] [--channels 1] [--tls-ca ca.crt]

FOLDER holds train/ and test/ (test optional), each with one sub-folder per class, or the training images
directly. The script uploads it to the trainer-service (DatasetService; an upload cut short resumes: only the
missing files are sent), seals it, pretrains SimCLR on it, waits for the encoder to be published to the
encoder-service, adds the test images to the model's gallery and searches it with each test image. It prints the
share of test images found as their own nearest neighbour and the leave-one-out kNN accuracy of the gallery, and exits 1
if an image is not found as its own neighbour. The operator token: --token, $SELFSUP_TOKEN, or the services'
token file (var/auth/tokens).
"""
import argparse
import hashlib
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from selfsup.v1 import common_pb2, dataset_pb2, dataset_pb2_grpc  # noqa: E402
from selfsup.v1 import encoder_pb2, encoder_pb2_grpc, trainer_pb2, trainer_pb2_grpc  # noqa: E402

CHUNK = 1 << 20
IMAGE = (".png", ".jpg", ".jpeg")


def token_from_file(path: str, role: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == role and value:
                    return value.split(",")[0].strip()
    except FileNotFoundError:
        pass
    return ""


def scan(root: str):
    """(path, split, label, name) of every image: train/ and test/ if there, else root is the training split."""
    splits = [s for s in ("train", "test") if os.path.isdir(os.path.join(root, s))]
    out = []
    for split in splits or ["train"]:
        base = os.path.join(root, split) if splits else root
        for entry in sorted(os.listdir(base)):
            p = os.path.join(base, entry)
            if os.path.isdir(p):
                out += [(os.path.join(p, f), split, entry, f) for f in sorted(os.listdir(p)) if f.lower().endswith(IMAGE)]
            elif entry.lower().endswith(IMAGE):
                out.append((p, split, "", entry))
    return out


def remote_files(datasets, name, md):
    have, token = set(), ""
    while True:
        page = datasets.ListDatasetFiles(dataset_pb2.ListDatasetFilesRequest(name=name, page_token=token), metadata=md)
        have |= {(f.split, f.label, f.name) for f in page.files}
        token = page.next_page_token
        if not token:
            return have


def messages(name, files):
    """Each file's header with its first bytes, then the rest in 1 MiB chunks; the first message names the dataset."""
    first = True
    for path, split, label, fname in files:
        with open(path, "rb") as f:
            data = f.read()
        header = dataset_pb2.FileHeader(name=fname, label=label, split=split, size=len(data),
                                        sha256=hashlib.sha256(data).hexdigest())
        for off in range(0, len(data), CHUNK):
            m = dataset_pb2.UploadFilesRequest(data=data[off:off + CHUNK])
            if off == 0:
                m.file.CopyFrom(header)
            if first:
                m.dataset = name
                first = False
            yield m


def upload(datasets, name, files, md):
    try:
        info = datasets.GetDataset(dataset_pb2.GetDatasetRequest(name=name), metadata=md)
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:
            raise
        info = datasets.CreateDataset(dataset_pb2.CreateDatasetRequest(name=name), metadata=md)
    if info.state == dataset_pb2.DATASET_STATE_READY:
        print(f"dataset {name}: sealed already, {info.files} files")
        return info
    have = remote_files(datasets, name, md)
    missing = [f for f in files if (f[1], f[2], f[3]) not in have]
    print(f"dataset {name}: {len(files) - len(missing)} of {len(files)} files there, sending {len(missing)}")
    if missing:
        r = datasets.UploadFiles(messages(name, missing), metadata=md, timeout=3600)
        print(f"uploaded {r.files} files ({r.bytes} bytes)")
    return datasets.SealDataset(dataset_pb2.SealDatasetRequest(name=name), metadata=md)


def until_served(call, *args, **kwargs):
    """Calls the encoder-service, waiting while a replica does not serve the model yet: a model published a moment
    ago reaches every replica behind a proxy within their store poll (10 s by default)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return call(*args, **kwargs)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            time.sleep(1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--name", required=True, help="the dataset's name, also the published model's")
    p.add_argument("--trainer", default="localhost:8080")
    p.add_argument("--encoder", default="localhost:8082")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--token", default=os.environ.get("SELFSUP_TOKEN", ""))
    p.add_argument("--token-file", default=os.environ.get("SELFSUP_TOKEN_FILE", "var/auth/tokens"))
    p.add_argument("--tls-ca", default=os.environ.get("SELFSUP_TLS_CA", ""), help="CA to trust: talk TLS")
    a = p.parse_args()
    md = [("authorization", "Bearer " + (a.token or token_from_file(a.token_file, "operator")))]
    files = scan(a.folder)
    if not files:
        print(f"error: {a.folder} holds no PNG or JPEG image", file=sys.stderr)
        return 2
    if a.tls_ca:
        with open(a.tls_ca, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        channels = (grpc.secure_channel(a.trainer, credentials), grpc.secure_channel(a.encoder, credentials))
    else:
        channels = (grpc.insecure_channel(a.trainer), grpc.insecure_channel(a.encoder))
    with channels[0] as tch, channels[1] as ech:
        datasets = dataset_pb2_grpc.DatasetServiceStub(tch)
        trainer = trainer_pb2_grpc.TrainerServiceStub(tch)
        encoder = encoder_pb2_grpc.EncoderServiceStub(ech)
        try:
            info = upload(datasets, a.name, files, md)
            print(f"sealed: {info.files} files, sha256 {info.sha256[:16]}...")
            spec = trainer_pb2.RunSpec(
                name=a.name, method=trainer_pb2.METHOD_SIMCLR, steps=a.steps, batch_size=64, model_name=a.name,
                dataset=common_pb2.DatasetRef(uploaded=a.name, image_size=a.image_size, channels=a.channels))
            run = trainer.StartRun(spec, metadata=md)
            print(f"run {run.run_id}: {run.total_steps} steps")
            for event in trainer.WatchRun(trainer_pb2.WatchRunRequest(run_id=run.run_id), metadata=md, timeout=3600):
                if event.HasField("run"):
                    run = event.run
            if run.state != trainer_pb2.RUN_STATE_SUCCEEDED or not run.published_model:
                print(f"error: run ended {trainer_pb2.RunState.Name(run.state)} {run.error} {run.publish_error}",
                      file=sys.stderr)
                return 1
            print(f"published as {run.published_model}")
            test = [f for f in files if f[1] == "test"] or files[:200]
            images = []
            for path, _, label, fname in test:
                with open(path, "rb") as f:
                    images.append((f"{label}/{fname}", label, f.read()))
            until_served(encoder.ClearGallery, encoder_pb2.ClearGalleryRequest(model=a.name), metadata=md)
            for i in range(0, len(images), 256):
                until_served(encoder.AddToGallery, encoder_pb2.AddToGalleryRequest(model=a.name, items=[
                    encoder_pb2.GalleryItem(id=i_d, label=label, image=encoder_pb2.Image(encoded=b))
                    for i_d, label, b in images[i:i + 256]]), metadata=md)
            found = correct = 0
            for i in range(0, len(images), 64):
                batch = images[i:i + 64]
                r = until_served(encoder.Search, encoder_pb2.SearchRequest(model=a.name, k=10, queries=[
                    encoder_pb2.Image(encoded=b) for _, _, b in batch]), metadata=md)
                for (i_d, label, _), result in zip(batch, r.results):
                    found += result.neighbors[0].id == i_d
                    # Leave-one-out: the other neighbours vote, weighted by exp(score / 0.1).
                    votes = {}
                    for n in result.neighbors:
                        if n.id != i_d:
                            votes[n.label] = votes.get(n.label, 0.0) + math.exp(n.score / 0.1)
                    correct += bool(votes) and max(votes, key=votes.get) == label
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 2
    print(f"search: {found}/{len(images)} test images found as their own nearest neighbour; "
          f"leave-one-out kNN (k=9) right for {correct}/{len(images)}")
    return 0 if found == len(images) else 1


if __name__ == "__main__":
    sys.exit(main())

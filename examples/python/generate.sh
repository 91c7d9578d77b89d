#!/usr/bin/env bash
# Generates the Python gRPC modules of selfsup's API and of the Open Inference Protocol into ./gen, with Debian's
# protoc and its gRPC plugin (apt-get install protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
# python3-grpcio python3-protobuf).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
protos="$here/../../proto/src/main/proto"
mkdir -p "$here/gen"
protoc -I "$protos" -I /usr/include --python_out="$here/gen" --grpc_out="$here/gen" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" "$protos"/selfsup/v1/*.proto \
  "$protos"/inference/open_inference.proto

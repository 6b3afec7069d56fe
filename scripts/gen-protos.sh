#!/usr/bin/env bash
# Generates swarmpy/api/*_pb2*.py(i) from protos/; --check fails if the committed code is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PATH="$(dirname "$PY"):$PATH"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$PY" -m grpc_tools.protoc -I protos \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  protos/swarmpy/api/*.proto
touch "$out/swarmpy/api/__init__.py"
if [[ "${1:-}" == "--check" ]]; then
  if ! diff -r -q "$out/swarmpy/api" swarmpy/api >/dev/null; then
    diff -r "$out/swarmpy/api" swarmpy/api | head -20 >&2
    echo "generated protobuf code is stale: run 'make proto' and commit the result" >&2
    exit 1
  fi
  echo "generated protobuf code is up to date"
else
  rm -rf swarmpy/api
  cp -r "$out/swarmpy/api" swarmpy/api
fi

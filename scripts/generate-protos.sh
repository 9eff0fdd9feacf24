#!/usr/bin/env bash
# Regenerates the committed Swift code for Protos/ with protoc-gen-swift from
# swift-protobuf 1.39.0 (built once into a scratch folder outside the project).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plugin_dir=${PROTOC_GEN_SWIFT_DIR:-/tmp/zserve-protoc-gen-swift}
if [ ! -x "$plugin_dir/.build/release/protoc-gen-swift" ]; then
  rm -rf "$plugin_dir"
  git clone -q https://github.com/apple/swift-protobuf.git "$plugin_dir"
  git -C "$plugin_dir" checkout -q 1.39.0
  (cd "$plugin_dir" && swift build -c release --product protoc-gen-swift)
fi
plugin="$plugin_dir/.build/release/protoc-gen-swift"
cd "$root/Protos"
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --swift_out="$root/Sources/ServingProtocol/Generated" zserve/v1/*.proto
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --swift_out="$root/Sources/ONNXSchema/Generated" onnx/onnx.proto
echo "generated Swift code in Sources/ServingProtocol/Generated and Sources/ONNXSchema/Generated"

#!/bin/sh
# Build the plugin, run it in the real host sandbox on the samples, and fail
# on any difference from sample/expected.jsonl (for this plugin's CI).
set -eu
cd "$(dirname "$0")"
enricher plugin build .
enricher plugin test target/{{name}}.wasm --input sample/input.jsonl --claims sample/claims.csv --expect sample/expected.jsonl

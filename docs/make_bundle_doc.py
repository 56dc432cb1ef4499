"""Regenerate docs/bundle.md from the shipped manifest schema: `python docs/make_bundle_doc.py`."""

from __future__ import annotations

import json
from pathlib import Path

from mutualsense.bundle import SCHEMA_VERSION, manifest_schema

INTRO = f"""# Bundles

A bundle is the unit of deployment: one folder holding `manifest.json`, the ONNX model it came
from (`model.onnx`, with the `mutualsense::CrossDiffusionAttention` nodes and their standard-op
function bodies, so ONNX Runtime runs it anywhere), a TensorRT-facing copy without function
bodies (`model.trt.onnx`, for TensorRT parsers before 10.7, which must use the plugin), and —
once built on the target — engines, their build logs and the CDA plugin library.

- `mutualsense export CHECKPOINT --out BUNDLE [--precision fp32|fp16]` writes one (atomically: a
  temporary folder renamed into place).
- `mutualsense build-engine BUNDLE --plugin LIB` adds an engine on the Jetson; engine files are
  named `engine-trt<TensorRT version>-sm<compute capability>-<precision>.plan`, so one bundle can
  carry engines for several targets. New files are written under temporary names and
  `manifest.json` is replaced last.
- `mutualsense.Bundle.load(path)` (no torch) checks the manifest against the schema below and
  every file's size and sha256, and says what is wrong and how to fix it.

## Manifest schema, version {SCHEMA_VERSION}

The schema ships in the package (`mutualsense/schemas/bundle-manifest.v{SCHEMA_VERSION}.json`). A runtime
refuses manifests of a newer schema version with the advice to upgrade.

```json
"""


def main() -> None:
    text = INTRO + json.dumps(manifest_schema(), indent=2) + "\n```\n"
    (Path(__file__).parent / "bundle.md").write_text(text)


if __name__ == "__main__":
    main()

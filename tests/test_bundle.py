"""Bundles: schema validation, hash verification, atomic writes and updates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import manifest_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutualsense.bundle import MANIFEST, Bundle, update_bundle, validate_manifest, write_bundle
from mutualsense.errors import BundleError
from mutualsense.preprocess import InputSpec


def test_round_trip(tmp_path: Path, fake_bundle) -> None:
    b = fake_bundle(tmp_path / "b")
    assert b.input_spec == InputSpec(height=64, width=64)
    assert b.onnx_path.read_bytes().startswith(b"onnx-bytes")
    assert b.precision == "fp32" and b.batch == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_tampered_missing_truncated_files_are_named(tmp_path: Path, fake_bundle) -> None:
    b = fake_bundle(tmp_path / "b")
    onnx = b.onnx_path
    onnx.write_bytes(b"onnx-bytEs" * 100)  # same size, other content
    with pytest.raises(BundleError, match=r"model\.onnx has sha256 .* manifest records") as info:
        Bundle.load(b.path)
    assert "re-export" in (info.value.remedy or "")
    onnx.write_bytes(b"short")
    with pytest.raises(BundleError, match="has 5 bytes"):
        Bundle.load(b.path)
    onnx.unlink()
    with pytest.raises(BundleError, match="is missing"):
        Bundle.load(b.path)


def test_invalid_json_newer_schema_and_schema_violations(tmp_path: Path, fake_bundle) -> None:
    b = fake_bundle(tmp_path / "b")
    mpath = b.path / MANIFEST
    good = json.loads(mpath.read_text())
    mpath.write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.load(b.path)
    mpath.write_text(json.dumps({**good, "schema_version": 2}))
    with pytest.raises(BundleError, match="schema version 2.*reads up to version 1") as info:
        Bundle.load(b.path)
    assert "upgrade" in (info.value.remedy or "")
    mpath.write_text(json.dumps({**good, "precision": "int4"}))
    with pytest.raises(BundleError, match="at precision: 'int4' is not one of"):
        Bundle.load(b.path)


def test_missing_or_non_bundle_paths(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        Bundle.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="has no manifest.json"):
        Bundle.load(tmp_path / "empty")


def test_failed_write_leaves_nothing_behind(tmp_path: Path, fake_bundle) -> None:
    out = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt), write_bundle(out) as tmp:
        (tmp / "model.onnx").write_bytes(b"x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    fake_bundle(out)
    with pytest.raises(BundleError, match="already exists"):
        fake_bundle(out)


def test_update_adds_files_and_replaces_the_manifest_last(tmp_path: Path, fake_bundle) -> None:
    b = fake_bundle(tmp_path / "b")
    engine = tmp_path / "e.plan"
    engine.write_bytes(b"engine")
    entry = {"file": "engine.plan", "tensorrt": "10.3.0", "compute_capability": "8.7", "precision": "fp16"}
    updated = update_bundle(b, {"engine.plan": (engine, "engine")}, {"engines": [entry]})
    again = Bundle.load(b.path)
    assert again.manifest["engines"] == [entry] == updated.manifest["engines"]
    assert again.manifest["files"]["engine.plan"]["role"] == "engine"
    # an invalid change is refused and the bundle stays as it was
    with pytest.raises(BundleError):
        update_bundle(again, {}, {"engines": [{"file": "x"}]})
    assert Bundle.load(b.path).manifest["engines"] == [entry]
    assert sorted(p.name for p in b.path.iterdir()) == ["engine.plan", MANIFEST, "model.onnx", "model.trt.onnx"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    key=st.sampled_from(["precision", "input", "onnx", "files", "format", "schema_version", "output"]),
    value=json_values,
)
def test_fuzzed_manifests_fail_only_with_bundle_errors(key: str, value: object) -> None:
    manifest = {"format": "mutualsense.bundle", "schema_version": 1, "created": "x", "files": {}, **manifest_body()}
    manifest["files"] = {"model.onnx": {"sha256": "0" * 64, "size": 1, "role": "onnx"}}
    manifest[key] = value
    try:
        validate_manifest(manifest)
    except BundleError as exc:
        assert exc.remedy

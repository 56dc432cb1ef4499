"""Every bad input gives one paragraph (what, how to fix), exit code 2 (CLI) or a typed exception (API).

Each case is a small function that triggers one failure: through the CLI in a subprocess where a CLI
path exists, else through the API. The cases record what they saw; ``docs/errors.md`` is generated
from those records with ``MUTUALSENSE_WRITE_ERRORS_DOC=1 pytest tests/cli/test_errors_table.py`` and is
otherwise checked to list every case.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import manifest_body, single_stream_db3
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualsense.bundle import MANIFEST, Bundle, finalize_manifest, write_bundle
from mutualsense.errors import MutualSenseError

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "errors.md"
DEMO_WEIGHTS = ROOT / "export" / "weights" / "tiny.pt"
TINY_BAG = ROOT / "tests" / "fixtures" / "tiny.bag"

# The CLI, with the exception's type added to stderr (main() is otherwise untouched); FAULT=enospc
# makes every ONNX save fail as on a full disk.
DRIVER = """
import errno, os, sys
import mutualsense.cli as cli
if os.environ.get("FAULT") == "enospc":
    import onnx
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    onnx.save = full
report = cli.report_error
def tagged(exc):
    report(exc)
    print(f"exception-type: {type(exc).__name__}", file=sys.stderr)
cli.report_error = tagged
cli.main(sys.argv[1:])
"""


@dataclass
class Record:
    case: str
    how: str
    exc_type: str
    exit_code: int | None
    message: str


RECORDS: list[Record] = []


@dataclass
class Ctx:
    tmp: Path
    bundle: Bundle
    fake_bundle: Callable[..., Bundle]


def _scrub(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp.resolve()), "<tmp>").replace(str(tmp), "<tmp>").replace(str(ROOT), "<repo>")
    text = re.sub(r"/tmp/pytest-of-[^/\s]+/pytest-\d+/[^/\s]+", "<tmp>", text)
    return re.sub(r"\s+", " ", text).strip()


def _leftovers(folder: Path, out_name: str) -> list[str]:
    """Anything the failed command left beside its output (the output itself, temporary folders)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name == out_name or p.name.startswith(f".{out_name}."))


def cli(ctx: Ctx, case: str, args: list[str], out: Path | None = None, env: dict[str, str] | None = None) -> Record:
    """Run the CLI in a subprocess; assert exit 2, one error paragraph with a Fix, no traceback, no output."""
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ctx.tmp,
        env={**os.environ, "COLUMNS": "400", "NO_COLOR": "1", **(env or {})},
    )
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in proc.stdout, err
    assert "error:" in err and "Fix:" in err, err
    if out is not None:
        assert _leftovers(out.parent, out.name) == [], "partial output was left behind"
    exc_type = re.search(r"exception-type: (\w+)", err)
    head = err[err.index("error:") :].split("exception-type:")[0]
    shown = "mutualsense " + " ".join(a if not a.startswith("/") else _scrub(a, ctx.tmp) for a in args)
    return Record(case, f"`{shown}`", exc_type.group(1) if exc_type else "?", 2, _scrub(head, ctx.tmp))


def api(ctx: Ctx, case: str, how: str, fn: Callable[[], Any], expected: type[BaseException]) -> Record:
    """Call the API; assert the typed exception, with a remedy when it is a MutualSenseError."""
    with pytest.raises(expected) as info:
        fn()
    exc = info.value
    if isinstance(exc, MutualSenseError):
        assert exc.remedy, f"{case}: no remedy"
        text = f"{exc.what} Fix: {exc.remedy}"
    else:
        text = str(exc)
    return Record(case, how, type(exc).__name__, None, _scrub(text, ctx.tmp))


# ---------------------------------------------------------------------------- helpers making bad inputs
def _copy_bundle(ctx: Ctx, name: str) -> Path:
    dst = ctx.tmp / name
    shutil.copytree(ctx.bundle.path, dst)
    return dst


def _bundle_with_onnx(ctx: Ctx, name: str, data: bytes) -> Path:
    out = ctx.tmp / name
    with write_bundle(out) as tmp:
        (tmp / "model.onnx").write_bytes(data)
        (tmp / "model.trt.onnx").write_bytes(data)
        finalize_manifest(tmp, manifest_body(size=96), {"model.onnx": "onnx", "model.trt.onnx": "trt_onnx"})
    return out


def _stream(ctx: Ctx, case: str, bundle: Path | str, source: str = "synthetic") -> Record:
    return cli(ctx, case, ["stream", "--bundle", str(bundle), "--source", source, "--max-frames", "1"])


def _export(ctx: Ctx, case: str, checkpoint: Path, *extra: str, env: dict[str, str] | None = None) -> Record:
    out = ctx.tmp / "out" / "bundle"
    args = ["export", str(checkpoint), "--out", str(out), "--precision", "fp32", "--eval-count", "0", *extra]
    return cli(ctx, case, args, out=out, env=env)


# ---------------------------------------------------------------------------- the cases
def checkpoint_missing(ctx: Ctx) -> Record:
    return _export(ctx, "checkpoint: missing", ctx.tmp / "missing.pt")


def checkpoint_empty(ctx: Ctx) -> Record:
    (ctx.tmp / "empty.pt").touch()
    return _export(ctx, "checkpoint: empty", ctx.tmp / "empty.pt")


def checkpoint_truncated(ctx: Ctx) -> Record:
    data = DEMO_WEIGHTS.read_bytes()
    (ctx.tmp / "truncated.pt").write_bytes(data[: len(data) // 2])
    return _export(ctx, "checkpoint: truncated", ctx.tmp / "truncated.pt")


def checkpoint_other_architecture(ctx: Ctx) -> Record:
    import torch

    payload = torch.load(DEMO_WEIGHTS, map_location="cpu", weights_only=True)
    state = payload["state_dict"]
    payload["state_dict"] = {f"encoder.{k}": v for k, v in list(state.items())[:-2]}
    torch.save(payload, ctx.tmp / "other.pt")
    return _export(ctx, "checkpoint: state dict of another architecture", ctx.tmp / "other.pt")


def onnx_random_bytes(ctx: Ctx) -> Record:
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    return _stream(ctx, "onnx: random bytes", _bundle_with_onnx(ctx, "random-onnx", data))


def onnx_truncated(ctx: Ctx) -> Record:
    data = ctx.bundle.onnx_path.read_bytes()
    return _stream(ctx, "onnx: truncated", _bundle_with_onnx(ctx, "truncated-onnx", data[: len(data) // 2]))


def bundle_tampered(ctx: Ctx) -> Record:
    b = _copy_bundle(ctx, "tampered")
    f = b / "model.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    return _stream(ctx, "bundle: tampered file (sha256 mismatch)", b)


def bundle_missing_file(ctx: Ctx) -> Record:
    b = _copy_bundle(ctx, "missing-file")
    (b / "model.trt.onnx").unlink()
    return _stream(ctx, "bundle: missing file", b)


def bundle_newer_schema(ctx: Ctx) -> Record:
    b = _copy_bundle(ctx, "newer")
    manifest = json.loads((b / MANIFEST).read_text())
    manifest["schema_version"] = 99
    (b / MANIFEST).write_text(json.dumps(manifest))
    return _stream(ctx, "bundle: manifest of a newer schema", b)


def bundle_invalid_json(ctx: Ctx) -> Record:
    b = _copy_bundle(ctx, "invalid-json")
    (b / MANIFEST).write_text('{"format": "mutualsense.bundle", ')
    return _stream(ctx, "bundle: invalid JSON manifest", b)


def _with_engine(ctx: Ctx, name: str, cda_nodes: int = 0) -> Bundle:
    from mutualsense.bundle import update_bundle

    b = ctx.fake_bundle(ctx.tmp / name, "fp16", cda_nodes)
    entry = {"file": "engine-trt10.3.0-sm87-fp16.plan", "tensorrt": "10.3.0", "compute_capability": "8.7"}
    entry["precision"] = "fp16"
    (ctx.tmp / entry["file"]).write_bytes(b"plan")
    return update_bundle(b, {entry["file"]: (ctx.tmp / entry["file"], "engine")}, {"engines": [entry]})


def engine_other_tensorrt(ctx: Ctx) -> Record:
    from mutualsense.errors import EngineError
    from mutualsense.gpu import GpuInfo
    from mutualsense.tensorrt.backend import select_engine

    b = _with_engine(ctx, "engine-trt")
    orin = GpuInfo("Orin", "8.7", "12.6", 1)
    how = "`select_engine(bundle, '10.7.0', Orin sm 8.7)` (engine built with TensorRT 10.3)"
    return api(
        ctx, "engine: built for another TensorRT version", how, lambda: select_engine(b, "10.7.0", orin), EngineError
    )


def engine_other_gpu(ctx: Ctx) -> Record:
    from mutualsense.errors import EngineError
    from mutualsense.gpu import GpuInfo
    from mutualsense.tensorrt.backend import select_engine

    b = _with_engine(ctx, "engine-gpu")
    thor = GpuInfo("Thor", "11.0", "13.0", 1)
    how = "`select_engine(bundle, '10.3.0', Thor sm 11.0)` (engine built for sm 8.7)"
    return api(ctx, "engine: built for another GPU", how, lambda: select_engine(b, "10.3.0", thor), EngineError)


def engine_no_tensorrt(ctx: Ctx) -> Record:
    return cli(
        ctx,
        "engine: tensorrt backend where TensorRT is missing",
        ["stream", "--bundle", str(ctx.bundle.path), "--source", "synthetic", "--backend", "tensorrt"],
    )


def plugin_missing(ctx: Ctx) -> Record:
    from mutualsense.errors import PluginError
    from mutualsense.gpu import GpuInfo
    from mutualsense.tensorrt.engine_build import plan_engine

    b = ctx.fake_bundle(ctx.tmp / "cda", "fp16", 2)
    lib = ctx.tmp / "libmutualsense_cda.so"
    how = "`plan_engine(bundle with CDA nodes, plugin=<missing .so>)` (what `build-engine --plugin` runs)"
    orin = GpuInfo("Orin", "8.7", "12.6", 1)
    return api(ctx, "plugin: library missing", how, lambda: plan_engine(b, "10.3.0", orin, lib), PluginError)


def recording_missing(ctx: Ctx) -> Record:
    return _stream(ctx, "recording: missing", ctx.bundle.path, str(ctx.tmp / "nope.db3"))


def recording_empty(ctx: Ctx) -> Record:
    (ctx.tmp / "empty.db3").touch()
    return _stream(ctx, "recording: empty", ctx.bundle.path, str(ctx.tmp / "empty.db3"))


def recording_truncated(ctx: Ctx) -> Record:
    (ctx.tmp / "truncated.bag").write_bytes(TINY_BAG.read_bytes()[:2000])
    return _stream(ctx, "recording: truncated", ctx.bundle.path, str(ctx.tmp / "truncated.bag"))


def recording_corrupt(ctx: Ctx) -> Record:
    data = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    (ctx.tmp / "corrupt.bag").write_bytes(data)
    return _stream(ctx, "recording: corrupt (random bytes)", ctx.bundle.path, str(ctx.tmp / "corrupt.bag"))


def recording_no_colour(ctx: Ctx) -> Record:
    single_stream_db3(ctx.tmp / "depth_only.db3", "depth")
    return _stream(ctx, "recording: no colour stream", ctx.bundle.path, str(ctx.tmp / "depth_only.db3"))


def recording_no_depth(ctx: Ctx) -> Record:
    single_stream_db3(ctx.tmp / "colour_only.db3", "color")
    return _stream(ctx, "recording: no depth stream", ctx.bundle.path, str(ctx.tmp / "colour_only.db3"))


def recording_unexpected_format(ctx: Ctx) -> Record:
    (ctx.tmp / "clip.mp4").write_bytes(b"\0" * 100)
    return _stream(ctx, "recording: unexpected format (.mp4)", ctx.bundle.path, str(ctx.tmp / "clip.mp4"))


def input_size_export(ctx: Ctx) -> Record:
    return _export(ctx, "input size: not a multiple of 32 (export)", DEMO_WEIGHTS, "--input-size", "100", "100")


def input_size_backend(ctx: Ctx) -> Record:
    from mutualsense.backends.onnxruntime import OnnxRuntimeBackend

    def run() -> None:
        with OnnxRuntimeBackend(ctx.bundle) as backend:
            backend.infer({"rgb": np.zeros((1, 3, 64, 64), np.float32), "depth": np.zeros((1, 1, 64, 64), np.float32)})

    how = "`OnnxRuntimeBackend(bundle).infer(...)` with 64×64 tensors for a 96×96 model"
    return api(ctx, "input size: wrong tensor shape (backend)", how, run, ValueError)


def input_size_frameset(ctx: Ctx) -> Record:
    from mutualsense.sources import SyntheticSource

    src = SyntheticSource(color=(64, 48), depth=(64, 48), real_time=False, frames=1)
    with src:
        fs = src.read(1000)
    assert fs is not None

    def make() -> None:
        type(fs)(**{**fs.__dict__, "color": np.zeros((10, 10, 3), np.uint8)})

    how = "`FrameSet(color=10×10 image, color_intrinsics=64×48)`"
    return api(ctx, "input size: image does not match its intrinsics (FrameSet)", how, make, ValueError)


def no_camera(ctx: Ctx) -> Record:
    pytest.importorskip("pyrealsense2")
    from mutualsense.sources import list_cameras

    if list_cameras():
        pytest.skip("a camera is connected")
    return _stream(ctx, "camera: none connected", ctx.bundle.path, "camera")


def output_unwritable(ctx: Ctx) -> Record:
    (ctx.tmp / "afile").write_text("not a folder")
    out = ctx.tmp / "afile" / "bundle"
    args = ["export", str(DEMO_WEIGHTS), "--out", str(out), "--precision", "fp32", "--eval-count", "0"]
    rec = cli(ctx, "export: output folder not writable", [*args, "--input-size", "64", "64"])
    assert (ctx.tmp / "afile").read_text() == "not a folder"
    return rec


def output_disk_full(ctx: Ctx) -> Record:
    rec = _export(
        ctx, "export: disk full (simulated ENOSPC)", DEMO_WEIGHTS, "--input-size", "64", "64", env={"FAULT": "enospc"}
    )
    rec.how = rec.how.rstrip("`") + "` with every file write failing with ENOSPC"
    return rec


def int8_modelopt_percentile(ctx: Ctx) -> Record:
    out = ctx.tmp / "out" / "bundle"
    calib = ctx.tmp / "calib.npz"  # never read: the refusal comes first
    args = ["export", str(DEMO_WEIGHTS), "--out", str(out), "--precision", "int8", "--calib", str(calib)]
    args += ["--quantizer", "modelopt", "--calib-method", "percentile"]
    return cli(ctx, "int8: --quantizer modelopt with a method it lacks", args, out=out)


def int8_modelopt_venv_fails(ctx: Ctx) -> Record:
    venv = ctx.tmp / "modelopt-venv"
    env = {"MUTUALSENSE_MODELOPT_PIP_ARGS": "--isolated --no-index"}  # pip can install nothing
    record = cli(ctx, "int8: nvidia-modelopt's venv cannot be made", ["setup-modelopt", "--path", str(venv)], env=env)
    assert sorted(p.name for p in ctx.tmp.iterdir() if p.name.startswith("modelopt-venv")) == ["modelopt-venv.log"]
    return record


def _interrupt(ctx: Ctx, case: str, args: list[str], ready: Callable[[str], bool], out: Path | None) -> Record:
    """Run ``python -m mutualsense ARGS``, send SIGINT once ``ready(stdout so far)``; expect exit 130, promptly."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mutualsense", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ctx.tmp,
        env=env,
        # a shell's background job inherits SIGINT ignored, and Python then keeps ignoring it: restore it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = ""
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while not ready(seen) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert ready(seen), seen
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{case}: the process did not exit within 10 s of Ctrl-C (a thread hangs)")
    took = time.monotonic() - t0
    assert proc.returncode == 130, (proc.returncode, stderr[-2000:])
    assert "Traceback" not in stderr + stdout, stderr
    assert took < 10
    if out is not None:
        assert _leftovers(out.parent, out.name) == [], "partial output was left behind"
    shown = "mutualsense " + " ".join(a if not a.startswith("/") else _scrub(a, ctx.tmp) for a in args)
    return Record(case, f"`{shown}` + SIGINT", "KeyboardInterrupt", 130, _scrub(stderr, ctx.tmp))


def ctrl_c_export(ctx: Ctx) -> Record:
    out = ctx.tmp / "out" / "bundle"
    args = ["export", str(DEMO_WEIGHTS), "--out", str(out), "--precision", "fp32", "--eval-count", "0"]
    return _interrupt(ctx, "Ctrl-C: during export", args, lambda s: "load checkpoint" in s, out)


def ctrl_c_stream(ctx: Ctx) -> Record:
    overlays = ctx.tmp / "overlays"
    args = ["stream", "--bundle", str(ctx.bundle.path), "--source", "synthetic?fps=30"]
    return _interrupt(
        ctx, "Ctrl-C: during streaming", [*args, "--save-overlay", str(overlays)], _has_overlay(overlays), None
    )


def _robot_transform(ctx: Ctx, case: str, transform: Path) -> Record:
    overlays = ctx.tmp / "overlays"
    args = ["stream", "--bundle", str(ctx.bundle.path), "--source", "synthetic", "--max-frames", "1"]
    return cli(ctx, case, [*args, "--robot-transform", str(transform), "--save-overlay", str(overlays)], out=overlays)


def robot_transform_missing(ctx: Ctx) -> Record:
    return _robot_transform(ctx, "robot transform: file missing", ctx.tmp / "cam2base.json")


def robot_transform_not_rigid(ctx: Ctx) -> Record:
    path = ctx.tmp / "cam2base.json"
    path.write_text(json.dumps([[2, 0, 0, 0.1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    return _robot_transform(ctx, "robot transform: not a rotation (scaled)", path)


def robot_transform_not_4x4(ctx: Ctx) -> Record:
    path = ctx.tmp / "cam2base.json"
    path.write_text(json.dumps({"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}))
    return _robot_transform(ctx, "robot transform: not 4x4", path)


def _has_overlay(folder: Path) -> Callable[[str], bool]:
    def ready(_: str) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if folder.exists() and any(folder.glob("*.jpg")):
                return True
            time.sleep(0.1)
        return False

    return ready


CASES = [
    checkpoint_missing,
    checkpoint_empty,
    checkpoint_truncated,
    checkpoint_other_architecture,
    onnx_random_bytes,
    onnx_truncated,
    bundle_tampered,
    bundle_missing_file,
    bundle_newer_schema,
    bundle_invalid_json,
    engine_other_tensorrt,
    engine_other_gpu,
    engine_no_tensorrt,
    plugin_missing,
    recording_missing,
    recording_empty,
    recording_truncated,
    recording_corrupt,
    recording_no_colour,
    recording_no_depth,
    recording_unexpected_format,
    input_size_export,
    input_size_backend,
    input_size_frameset,
    no_camera,
    output_unwritable,
    output_disk_full,
    int8_modelopt_percentile,
    int8_modelopt_venv_fails,
    robot_transform_missing,
    robot_transform_not_rigid,
    robot_transform_not_4x4,
    ctrl_c_export,
    ctrl_c_stream,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_gives_one_clean_paragraph(
    case: Callable[[Ctx], Record], tmp_path: Path, tiny_bundle, fake_bundle
) -> None:
    record = case(Ctx(tmp_path, tiny_bundle, fake_bundle))
    assert record.message
    RECORDS.append(record)


# ---------------------------------------------------------------------------- FrameSet fuzzing
def _frameset_kwargs() -> dict[str, Any]:
    from mutualsense.sources import Extrinsics, Intrinsics

    intr = Intrinsics(width=8, height=6, fx=5.0, fy=5.0, ppx=3.5, ppy=2.5)
    return {
        "color": np.zeros((6, 8, 3), np.uint8),
        "depth": np.zeros((6, 8), np.uint16),
        "depth_scale": 0.001,
        "color_intrinsics": intr,
        "depth_intrinsics": intr,
        "depth_to_color": Extrinsics(rotation=(1, 0, 0, 0, 1, 0, 0, 0, 1), translation=(0, 0, 0)),
        "color_timestamp_ms": 0.0,
        "depth_timestamp_ms": 0.0,
        "clock_domain": "hardware_clock",
        "arrival_time": 0.0,
    }


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(0, 10), max_size=4),
    st.builds(
        lambda shape, dtype: np.zeros(shape, dtype),
        st.lists(st.integers(0, 7), min_size=0, max_size=4).map(tuple),
        st.sampled_from([np.uint8, np.uint16, np.float32, np.int64]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(sorted(_frameset_kwargs())), value=_ANY)
def test_fuzzed_framesets_fail_only_with_value_errors(key: str, value: object) -> None:
    from mutualsense.sources import FrameSet

    try:
        FrameSet(**{**_frameset_kwargs(), key: value})
    except ValueError as exc:
        assert str(exc).startswith("FrameSet.") or "must" in str(exc)


# ---------------------------------------------------------------------------- docs/errors.md
BEGIN, END = "<!-- bad files and devices: begin -->", "<!-- bad files and devices: end -->"
HEADER = """# Error messages

Every bad input gives one paragraph: what went wrong (naming the value or path), then `Fix:` how to fix it.
The CLI prints it in red and exits with code 2 (130 on Ctrl-C), with no traceback and no partial output;
the API raises the typed exception (a `mutualsense.errors.MutualSenseError` subclass, whose `what` and
`remedy` attributes hold the two halves).

Both tables are generated by the tests that trigger the cases:
`MUTUALSENSE_WRITE_ERRORS_DOC=1 pytest tests/cli/test_mistakes.py tests/cli/test_errors_table.py`;
without the variable the tests check that the tables list every case.
"""


def _doc(records: list[Record]) -> str:
    lines = [
        BEGIN,
        "## Bad files, devices and interruptions",
        "",
        "| case | command / API | exception | exit code | message |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        msg = r.message.replace("|", "\\|")
        code = "—" if r.exit_code is None else str(r.exit_code)
        how = r.how.replace("|", "\\|")
        lines.append(f"| {r.case} | {how} | `{r.exc_type}` | {code} | {msg} |")
    return "\n".join([*lines, END]) + "\n"


def _with_section(text: str, section: str) -> str:
    """``docs/errors.md`` with this test's section replaced (other tests own the other sections)."""
    if BEGIN in text:
        return text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :].lstrip("\n")
    if not text.startswith("# Error messages"):
        text = HEADER
    return text.rstrip("\n") + "\n\n" + section


def test_errors_doc_lists_every_case() -> None:
    if os.environ.get("MUTUALSENSE_WRITE_ERRORS_DOC") == "1":
        names = [r.case for r in RECORDS]
        assert len(names) == len(CASES), "run the whole module to write docs/errors.md"
        DOC.write_text(_with_section(DOC.read_text() if DOC.exists() else HEADER, _doc(RECORDS)))
        return
    text = DOC.read_text()
    expected = [r.case for r in RECORDS] or re.findall(r"^\| ([^|]+?) \|", text, re.M)[1:]
    missing = [name for name in expected if f"| {name} |" not in text]
    assert not missing, f"docs/errors.md is stale; regenerate it (MUTUALSENSE_WRITE_ERRORS_DOC=1): {missing}"
    assert len(re.findall(r"^\| (?!case \||---)", text, re.M)) >= len(CASES)

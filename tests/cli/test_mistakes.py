"""A newcomer's mistakes, command by command: each is one paragraph, exit code 2, no traceback, nothing written.

Every case runs ``python -m mutualsense`` in a subprocess, in a folder of its own, and checks:
exit code 2; stderr is one paragraph (``error: …`` then ``Fix: …``) naming what the user typed;
no traceback; stdout empty; and the case's folder (which holds every input and output it names,
and is the working folder) is byte-for-byte unchanged afterwards. The cases run concurrently in
a thread pool (each is its own process), most of them failing before torch is imported.

The permission cases use plain ``chmod``; when the suite runs as root (which reads and writes through
any mode bits) they run without root's DAC capabilities, so the mode bits hold for it too.

``docs/errors.md``'s command-line section is generated from these cases:
``MUTUALSENSE_WRITE_ERRORS_DOC=1 pytest tests/cli/test_mistakes.py``; otherwise the test checks it
lists every case with its current message.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import manifest_body

from mutualsense.bundle import finalize_manifest, write_bundle

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "errors.md"
CHECKPOINT = ROOT / "export" / "weights" / "tiny.pt"
SAMPLE = ROOT / "examples" / "data" / "sample.db3"
BEGIN, END = "<!-- command-line mistakes: begin -->", "<!-- command-line mistakes: end -->"
AS_ROOT = os.geteuid() == 0
# root ignores mode bits through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: drop both for the permission cases.
# (Switching to `nobody` instead fails where the checkout itself is private, e.g. under a 0700 mktemp folder.)
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]

Setup = Callable[[Path], None]


# ---------------------------------------------------------------------------------------------- setups
def file(name: str, data: bytes | str = "not what you think\n") -> Setup:
    def make(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data.encode() if isinstance(data, str) else data)

    return make


def folder(name: str) -> Setup:
    return lambda d: (d / name).mkdir(parents=True, exist_ok=True)


def copy(src: Path, name: str) -> Setup:
    return lambda d: shutil.copyfile(src, d / name)


def bundle(name: str) -> Setup:
    """A bundle folder of ours (placeholder ONNX bytes: every case here fails before they are read)."""

    def make(d: Path) -> None:
        with write_bundle(d / name) as tmp:
            (tmp / "model.onnx").write_bytes(b"onnx" * 64)
            (tmp / "model.trt.onnx").write_bytes(b"trt" * 64)
            finalize_manifest(tmp, manifest_body(size=96), {"model.onnx": "onnx", "model.trt.onnx": "trt_onnx"})

    return make


def unreadable(name: str) -> Setup:
    """A file the command's user cannot read (mode 000; root runs these cases without its DAC capabilities)."""

    def make(d: Path) -> None:
        (d / name).write_text("secret\n")
        (d / name).chmod(0o000)

    return make


def read_only(name: str) -> Setup:
    """A folder the command's user cannot write into (mode 555; root runs these cases without its DAC capabilities)."""

    def make(d: Path) -> None:
        (d / name).mkdir()
        (d / name).chmod(0o555)

    return make


def pickled_checkpoint(name: str) -> Setup:
    """A torch file holding an arbitrary Python object (torch's message would advise weights_only=False)."""

    def make(d: Path) -> None:
        torch = pytest.importorskip("torch", reason="making a pickled checkpoint needs torch")
        torch.save({"format": "mutualsense.checkpoint", "payload": Path("x")}, d / name)

    return make


# ---------------------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One mistake: the arguments (``{d}`` is the case folder), what the message must say, how to set it up."""

    id: str
    args: tuple[str, ...]
    says: tuple[str, ...]
    setup: tuple[Setup, ...] = ()
    restricted: bool = False
    never_says: tuple[str, ...] = ()
    after_work_starts: bool = False  # found while reading the file: progress lines may precede the error


def case(id: str, args: str, *says: str, setup: tuple[Setup, ...] = (), **kw: object) -> Case:  # noqa: A002
    return Case(id, tuple(args.split()), says, (bundle("bundle"), *setup), **kw)  # type: ignore[arg-type]


CKPT = str(CHECKPOINT)
CASES = [
    # ---- the command line itself
    case("no command", "", "no command given", "mutualsense --help"),
    case("misspelt command", "strem", "no command 'strem'", "did you mean 'stream'"),
    case("misspelt command (evaluate)", "evalute tiny.pt", "no command 'evalute'", "'evaluate'"),
    case("misspelt root option", "--versoin", "no option --versoin", "did you mean --version"),
    case("misspelt option", "stream --bundel bundle", "no option --bundel", "did you mean", "--bundle?"),
    case("unknown option", "doctor --targt bundle", "no option --targt", "--target"),
    case("extra argument", "devices cam0", "does not take 'cam0'", "remove it"),
    # ---- stream
    case("stream: --bundle missing", "stream", "`mutualsense stream` needs --bundle", "add --bundle PATH"),
    case("stream: option without its value", "stream --bundle", "--bundle needs a value", "--bundle VALUE"),
    case("stream: flag given a value", "stream --bundle bundle --json=yes", "--json is a flag", "write just --json"),
    case("stream: --max-frames not a number", "stream --bundle bundle --max-frames abc", "--max-frames", "'abc'"),
    case("stream: --max-frames 0", "stream --bundle bundle --max-frames 0", "--max-frames", "≥ 1", "'0'"),
    case("stream: --max-frames -1", "stream --bundle bundle --max-frames -1", "--max-frames", "≥ 1", "'-1'"),
    case("stream: negative skew limit", "stream --bundle bundle --max-skew-ms -5", "--max-skew-ms", "≥ 0"),
    case("stream: --port out of range", "stream --bundle bundle --port 70000", "--port", "0 to 65535"),
    case("stream: unknown backend", "stream --bundle bundle --backend cuda", "--backend takes ort or tensorrt"),
    case("stream: unknown view", "stream --bundle bundle --view tv", "--view takes none or web", "'tv'"),
    case("stream: unknown skew policy", "stream --bundle bundle --skew-policy keep", "--skew-policy", "drop or flag"),
    case("stream: unknown publisher", "stream --bundle bundle --publish mqtt", "--publish takes none or zenoh"),
    case(
        "stream: bad --publish-size",
        "stream --bundle bundle --publish zenoh --publish-size big",
        "--publish-size 'big'",
        "160x120",
    ),
    case(
        "stream: --zenoh-config without --publish zenoh",
        "stream --bundle bundle --zenoh-config z.json5",
        "--zenoh-config is given without --publish zenoh",
        setup=(file("z.json5", "{}"),),
    ),
    case(
        "stream: --zenoh-config missing",
        "stream --bundle bundle --publish zenoh --zenoh-config nope.json5",
        "--zenoh-config nope.json5 does not exist",
    ),
    case(
        "stream: --camera-name with two sources",
        "stream --bundle bundle --source synthetic --source synthetic?seed=2 --camera-name left",
        "--camera-name names one camera",
    ),
    case("stream: --host without --view web", "stream --bundle bundle --host 0.0.0.0", "--host is given without"),
    case("stream: bundle missing", "stream --bundle nope", "--bundle nope does not exist", "mutualsense export"),
    case("stream: bundle is a file", "stream --bundle afile", "--bundle afile is a file", setup=(file("afile"),)),
    case("stream: folder without a manifest", "stream --bundle empty", "no manifest.json", setup=(folder("empty"),)),
    case("stream: unknown source kind", "stream --bundle bundle --source webcam", "'webcam'", "did you mean 'camera'"),
    case(
        "stream: --save-overlay is a file",
        "stream --bundle bundle --source synthetic --save-overlay afile",
        "--save-overlay afile is a file",
        setup=(file("afile"),),
    ),
    case(
        "stream: --save-overlay inside the bundle",
        "stream --bundle bundle --source synthetic --save-overlay bundle/pictures",
        "is inside the input --bundle",
    ),
    case(
        "stream: --save-overlay not writable",
        "stream --bundle bundle --source synthetic --save-overlay ro/pictures",
        "cannot write --save-overlay ro/pictures",
        "not writable",
        setup=(read_only("ro"),),
        restricted=True,
    ),
    # ---- export
    case("export: no checkpoint", "export", "needs its CHECKPOINT argument"),
    case("export: --out missing", f"export {CKPT}", "`mutualsense export` needs --out", "add --out PATH"),
    case("export: checkpoint missing", "export nope.pt --out b2", "CHECKPOINT nope.pt does not exist"),
    case("export: checkpoint is a folder", "export bundle --out b2", "CHECKPOINT bundle is a folder"),
    case(
        "export: checkpoint unreadable",
        "export secret.pt --out b2",
        "CHECKPOINT secret.pt is not readable",
        "permissions",
        setup=(unreadable("secret.pt"),),
        restricted=True,
    ),
    case("export: unknown precision", f"export {CKPT} --out b2 --precision fp8", "--precision takes fp16, fp32 or"),
    case("export: --input-size with one value", f"export {CKPT} --out b2 --input-size 96", "--input-size needs 2"),
    case(
        "export: --input-size not a multiple of 32",
        f"export {CKPT} --out b2 --input-size 100 100",
        "multiples of 32",
        "--input-size 192 192",
    ),
    case("export: --batch 0", f"export {CKPT} --out b2 --batch 0", "--batch", "≥ 1"),
    case("export: --max-drop above 1", f"export {CKPT} --out b2 --max-drop 2", "--max-drop", "from 0 to 1"),
    case(
        "export: unknown calibration method",
        f"export {CKPT} --out b2 --calib-method median",
        "--calib-method takes minmax, entropy or percentile",
    ),
    case("export: --calib missing", f"export {CKPT} --out b2 --precision int8 --calib c.npz", "--calib c.npz does not"),
    case("export: --plugin missing", f"export {CKPT} --out b2 --plugin lib.so", "--plugin lib.so does not exist"),
    case(
        "export: --eval-data missing",
        f"export {CKPT} --out b2 --precision int8 --eval-data nope",
        "--eval-data nope is neither",
    ),
    case(
        "export: --out exists (no --overwrite)",
        f"export {CKPT} --out bundle",
        "--out bundle already exists",
        "--overwrite",
    ),
    case(
        "export: --overwrite on a folder that is not a bundle",
        f"export {CKPT} --out photos --overwrite",
        "--out photos is not a mutualsense bundle (it holds cat.jpg)",
        "only replaces a bundle folder",
        setup=(file("photos/cat.jpg", b"\xff\xd8jpeg"),),
    ),
    case("export: --overwrite on the working folder", f"export {CKPT} --out . --overwrite", "is the current folder"),
    case(
        "export: --overwrite on a file",
        f"export {CKPT} --out afile --overwrite",
        "--out afile is a file, not a bundle folder",
        setup=(file("afile"),),
    ),
    case(
        "export: --out inside a file",
        f"export {CKPT} --out afile/b2",
        "afile is a file, not a folder",
        setup=(file("afile"),),
    ),
    case(
        "export: --out not writable",
        f"export {CKPT} --out ro/b2",
        "cannot write --out ro/b2",
        "not writable",
        setup=(read_only("ro"),),
        restricted=True,
    ),
    case(
        "export: --overwrite on the bundle holding the checkpoint",
        "export bundle/tiny.pt --out bundle --overwrite",
        "holds the input CHECKPOINT bundle/tiny.pt",
        "never writes over its own input",
        setup=(copy(CHECKPOINT, "bundle/tiny.pt"),),
    ),
    case(
        "export: checkpoint holding Python objects",
        "export evil.pt --out b2 --precision fp32",
        "evil.pt holds Python objects other than tensors",
        "mutualsense train",
        setup=(pickled_checkpoint("evil.pt"),),
        never_says=("weights_only", "trust"),
        after_work_starts=True,
    ),
    # ---- train
    case("train: --out missing", "train", "`mutualsense train` needs --out", "add --out PATH"),
    case("train: --lr 0", "train --out m.pt --lr 0", "--lr must be a number > 0", "--lr 2e-3"),
    case("train: --lr negative", "train --out m.pt --lr -1e-3", "--lr must be a number > 0"),
    case("train: --lr not a number", "train --out m.pt --lr fast", "--lr takes a number", "'fast'"),
    case("train: --threads negative", "train --out m.pt --threads -3", "--threads", "≥ 1", "'-3'"),
    case("train: --epochs 0", "train --out m.pt --epochs 0", "--epochs", "≥ 1"),
    case("train: unknown config", "train --out m.pt --config huge", "--config takes tiny or paper", "'huge'"),
    case(
        "train: --out exists (no --overwrite)",
        "train --out m.pt",
        "--out m.pt already exists",
        "--overwrite",
        setup=(file("m.pt", b"weights"),),
    ),
    case("train: --out is a folder", "train --out bundle", "--out bundle is a folder", "--out bundle/model.pt"),
    case("train: --data missing", "train --out m.pt --data nope", "--data nope is neither 'synthetic' nor a folder"),
    case("train: --resume missing", "train --out m.pt --resume old.pt", "--resume old.pt does not exist"),
    case("train: --input-size not a multiple of 32", "train --out m.pt --input-size 100 64", "multiples of 32"),
    case(
        "train: --out not writable",
        "train --out ro/m.pt",
        "cannot write --out ro/m.pt",
        "not writable",
        setup=(read_only("ro"),),
        restricted=True,
    ),
    # ---- evaluate
    case("evaluate: model missing", "evaluate nope.pt", "MODEL nope.pt does not exist"),
    case("evaluate: --count 0", "evaluate bundle --count 0", "--count", "≥ 1"),
    case("evaluate: unknown subset", "evaluate bundle --subset odd", "--subset takes all, camouflaged or normal"),
    case("evaluate: --data missing", "evaluate bundle --data nope", "--data 'nope' is neither"),
    # ---- calibrate
    case("calibrate: --bundle missing", "calibrate", "`mutualsense calibrate` needs --bundle"),
    case("calibrate: --samples 0", "calibrate --bundle bundle --samples 0", "--samples", "≥ 1"),
    case(
        "calibrate: --out exists (no --overwrite)",
        "calibrate --bundle bundle --out c.npz",
        "--out c.npz already exists",
        "--overwrite",
        setup=(file("c.npz", b"PK"),),
    ),
    case("calibrate: --out not .npz", "calibrate --bundle bundle --out calib.txt", "must end in .npz"),
    case("calibrate: --out is a folder", "calibrate --bundle bundle --out bundle", "--out bundle is a folder"),
    case("calibrate: --data missing", "calibrate --bundle bundle --data nope", "--data nope is neither"),
    case("calibrate: --bundle is not a bundle", "calibrate --bundle e", "no manifest.json", setup=(folder("e"),)),
    # ---- record
    case("record: OUT missing", "record", "needs its OUT argument"),
    case("record: neither --seconds nor --frames", "record run.db3 --source synthetic", "exactly one of --seconds"),
    case("record: both --seconds and --frames", "record run.db3 --seconds 1 --frames 3", "exactly one of --seconds"),
    case("record: --seconds negative", "record run.db3 --seconds -1", "--seconds must be a number > 0"),
    case("record: --frames 0", "record run.db3 --frames 0", "--frames", "≥ 1"),
    case("record: OUT not .db3", "record run.mp4 --frames 3", "must end in .db3", "run.db3"),
    case(
        "record: OUT exists (no --overwrite)",
        "record run.db3 --source synthetic --frames 3",
        "OUT run.db3 already exists",
        "--overwrite",
        setup=(copy(SAMPLE, "run.db3"),),
    ),
    case(
        "record: OUT is its own --source",
        "record run.db3 --source run.db3 --frames 3 --overwrite",
        "is the input --source run.db3",
        "never writes over its own input",
        setup=(copy(SAMPLE, "run.db3"),),
    ),
    # ---- profile and profile-diff
    case("profile: --frames 0", "profile --bundle bundle --frames 0", "--frames", "≥ 1"),
    case("profile: --warmup negative", "profile --bundle bundle --warmup -1", "--warmup", "≥ 0"),
    case("profile: --threads 0", "profile --bundle bundle --threads 0", "--threads", "≥ 1"),
    case(
        "profile: --inference-workers 0", "profile --bundle bundle --inference-workers 0", "--inference-workers", "≥ 1"
    ),
    case(
        "profile: several inference workers on TensorRT",
        "profile --bundle bundle --source synthetic --backend tensorrt --inference-workers 2",
        "--inference-workers 2 needs the pipeline on --backend ort",
        "drop --inference-workers",
    ),
    case(
        "profile: GPU frame preparation without TensorRT",
        "profile --bundle bundle --source synthetic --gpu-prepare",
        "--gpu-prepare needs the pipeline on --backend tensorrt",
        "drop --gpu-prepare",
    ),
    case("profile: unknown backend", "profile --bundle bundle --backend trt", "--backend takes ort or tensorrt"),
    case(
        "profile: --out is a file",
        "profile --bundle bundle --source synthetic --out afile",
        "--out afile is a file",
        setup=(file("afile"),),
    ),
    case(
        "profile: --out holds an earlier profile",
        "profile --bundle bundle --source synthetic --out prof --no-plots",
        "already holds profile.json",
        "--overwrite",
        setup=(file("prof/profile.json", "{}"),),
    ),
    case("profile: bundle missing", "profile --bundle nope", "--bundle nope does not exist"),
    case("profile-diff: B missing", "profile-diff a.json b.json", "a.json does not exist", setup=()),
    case(
        "profile-diff: not JSON",
        "profile-diff a.json a.json",
        "A a.json is not a profile.json: invalid JSON at line 1",
        "mutualsense profile --out",
        setup=(file("a.json", "latency: 3 ms\n"),),
    ),
    case(
        "profile-diff: binary file",
        "profile-diff a.png a.png",
        "is binary, not text",
        setup=(file("a.png", b"\x89PNG\r\n\x1a\n\x00\xff"),),
    ),
    case(
        "profile-diff: JSON that is not a profile",
        "profile-diff bundle/manifest.json bundle/manifest.json",
        "is not a MutualSense profile",
    ),
    # ---- the rest
    case("setup-modelopt: --path is a file", "setup-modelopt --path f", "--path f is a file", setup=(file("f"),)),
    case("build-engine: no bundle", "build-engine", "needs its BUNDLE argument"),
    case("build-engine: bundle missing", "build-engine nope", "bundle nope does not exist"),
    case("build-engine: --workspace not a number", "build-engine bundle --workspace lots", "--workspace", "'lots'"),
    case("build-plugin: --out missing", "build-plugin", "`mutualsense build-plugin` needs --out"),
]


# ---------------------------------------------------------------------------------------------- running
@dataclass
class Outcome:
    """What one case did: its process, and the case folder's state before and after."""

    folder: Path
    proc: subprocess.CompletedProcess[str] | None = None
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None


def _state(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with its kind, mode and content hash."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p.is_file() and not p.is_symlink() else "-"
        out[str(p.relative_to(folder))] = f"{oct(st.st_mode)} {st.st_size if p.is_file() else 0} {digest}"
    return out


def _run(c: Case, folder: Path) -> Outcome:
    outcome = Outcome(folder)
    try:
        for make in c.setup:
            make(folder)
    except pytest.skip.Exception as exc:
        outcome.skipped = str(exc)
        return outcome
    outcome.before = _state(folder)
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "mutualsense", *c.args]
    if c.restricted and AS_ROOT:
        cmd = [*NO_DAC, *cmd]
    outcome.proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    outcome.after = _state(folder)
    return outcome


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, Outcome]]:
    """Run every case at once (each in its own process and folder) and hand out the outcomes."""
    if AS_ROOT and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: the permission cases cannot drop root's DAC capabilities")
    base = Path(tempfile.mkdtemp(prefix="mutualsense-mistakes-"))
    base.chmod(0o755)
    folders = {}
    for i, c in enumerate(CASES):
        folders[c.id] = base / f"case{i:03d}"
        folders[c.id].mkdir()
        folders[c.id].chmod(0o755)
    try:
        with ThreadPoolExecutor(max_workers=min(6, 2 * (os.cpu_count() or 1))) as pool:
            futures = {c.id: pool.submit(_run, c, folders[c.id]) for c in CASES}
            yield {k: f.result() for k, f in futures.items()}
    finally:
        for p in base.rglob("*"):  # make the read-only folders removable
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def message(outcome: Outcome) -> str:
    """The error paragraph as a line, with the case folder written as <d>."""
    assert outcome.proc is not None
    text = outcome.proc.stderr.replace(str(outcome.folder), "<d>")
    return re.sub(r"\s+", " ", text).strip()


RECORDED: dict[str, str] = {}


def test_matrix_covers_every_command() -> None:
    from mutualsense.cli import app, commands  # noqa: F401

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    covered = {c.args[0] for c in CASES if c.args}
    missing = sorted(n.replace("_", "-") for n in names if n.replace("_", "-") not in covered)
    allowed = {"doctor", "devices"}  # covered by the misspelt-option and extra-argument cases
    assert set(missing) <= allowed, f"commands without a mistake in the matrix: {missing}"
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_mistake(c: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[c.id]
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    proc = outcome.proc
    assert proc is not None
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err[-3000:], proc.stdout[-1000:])
    assert "Traceback" not in err + proc.stdout, err
    if not c.after_work_starts:
        assert proc.stdout == "", f"a refused command printed to stdout: {proc.stdout[:500]}"
    paragraphs = [p for p in err.strip().split("\n\n") if p.strip()]
    assert len(paragraphs) == 1, f"more than one paragraph: {err}"
    assert err.startswith("error: ") and "\nFix: " in err, err
    text = message(outcome)
    for needle in c.says:
        assert needle in text, f"{needle!r} not in {text!r}"
    for needle in c.never_says:
        assert needle not in text, f"{needle!r} in {text!r}"
    assert outcome.after == outcome.before, "the refused command changed its folder"
    RECORDED[c.id] = text


# ---------------------------------------------------------------------------------------------- docs/errors.md
def _section() -> str:
    lines = [
        BEGIN,
        "## Command-line mistakes",
        "",
        f"{len(CASES)} mistakes across every command, each run in a subprocess by `tests/cli/test_mistakes.py`:",
        "exit code 2, this one paragraph on stderr, nothing on stdout, no file written or changed",
        "(`<d>` is the folder the command ran in).",
        "",
        "| case | command | message |",
        "|---|---|---|",
    ]
    for c in CASES:
        shown = " ".join(a.replace(str(ROOT), "<repo>") for a in c.args)
        msg = RECORDED[c.id].replace("|", "\\|").replace(str(ROOT), "<repo>")
        lines.append(f"| {c.id} | `mutualsense {shown.replace('|', chr(92) + '|')}` | {msg} |")
    return "\n".join([*lines, END]) + "\n"


def test_errors_doc_lists_every_mistake() -> None:
    text = DOC.read_text() if DOC.exists() else ""
    if os.environ.get("MUTUALSENSE_WRITE_ERRORS_DOC") == "1":
        assert len(RECORDED) == len(CASES), "run the whole module (every case passing) to write docs/errors.md"
        if BEGIN in text:
            text = text[: text.index(BEGIN)] + _section() + text[text.index(END) + len(END) :].lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + _section()
        DOC.write_text(text)
        return
    assert BEGIN in text, "docs/errors.md has no command-line section: run with MUTUALSENSE_WRITE_ERRORS_DOC=1"
    missing = [c.id for c in CASES if f"| {c.id} |" not in text]
    assert not missing, f"docs/errors.md is stale; regenerate it (MUTUALSENSE_WRITE_ERRORS_DOC=1): {missing}"
    stale = [k for k, v in RECORDED.items() if v.replace("|", "\\|").replace(str(ROOT), "<repo>") not in text]
    assert not stale, f"docs/errors.md shows old messages for {stale}; regenerate it (MUTUALSENSE_WRITE_ERRORS_DOC=1)"

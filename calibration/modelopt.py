"""nvidia-modelopt's ONNX post-training quantiser, run in its own virtual environment.

modelopt 0.47 pins onnx 1.21 and onnxruntime-gpu (and needs torch), which would replace the
toolchain's onnx 1.23 and CPU onnxruntime if installed beside them (docs/design.md §2, §7). So it lives in a
venv of its own, made on first use (about 2 GB, a minute or two with a warm pip cache), and its
quantiser runs as a subprocess: ``python -m modelopt.onnx.quantization`` on a saved FP32 model and
the calibration arrays, calibrating on ONNX Runtime's CPU provider with ``high_precision_dtype=fp32``
(the fp16 default probes custom ops through TensorRT and fails on the CDA node).

Where the venv lives: ``$MUTUALSENSE_MODELOPT_VENV``, else, in a source checkout (an editable install),
the checkout's ``.venv-modelopt`` that ``make modelopt`` (run by ``make test``) makes, else
``$XDG_CACHE_HOME/mutualsense/modelopt-<version>-py<major><minor>`` (``~/.cache`` by default).
Extra pip arguments for its creation (an index, a proxy) come from ``$MUTUALSENSE_MODELOPT_PIP_ARGS``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from mutualsense.errors import MutualSenseError

__all__ = [
    "MODELOPT_METHODS",
    "MODELOPT_VERSION",
    "ModeloptEnv",
    "QuantizerError",
    "create_env",
    "default_env_path",
    "find_env",
    "quantize_with_modelopt",
    "require_modelopt_method",
]

MODELOPT_VERSION = "0.47.0"
# torch is imported by modelopt's ONNX quantiser but never computes anything there: pin the same
# release as the export extra so pip takes the CPU wheel where one is configured (not a multi-GB CUDA build).
TORCH_PIN = "torch==2.13.0"
MODELOPT_METHODS = {"minmax": "max", "entropy": "entropy"}  # our names → modelopt's int8 calibration methods
STAMP = "mutualsense-modelopt.json"
_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception)\b")
_VERSIONS_SCRIPT = (
    "import json, importlib.metadata as m; "
    "print(json.dumps({d: m.version(d) for d in ('nvidia-modelopt', 'onnx', 'onnxruntime-gpu', 'torch')}))"
)


class QuantizerError(MutualSenseError):
    """nvidia-modelopt could not be set up or could not quantise the model."""


@dataclass(frozen=True)
class ModeloptEnv:
    """A ready virtual environment holding nvidia-modelopt and its own onnx/onnxruntime."""

    path: Path
    versions: dict[str, str]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def describe(self, with_path: bool = True) -> str:
        """Versions (and where the venv is: left out of manifests, which travel to other machines)."""
        v = self.versions
        where = f"in its own venv {self.path}" if with_path else "in its own venv"
        return (
            f"nvidia-modelopt {v.get('nvidia-modelopt', '?')} (onnx {v.get('onnx', '?')}, onnxruntime-gpu "
            f"{v.get('onnxruntime-gpu', '?')} on the CPU provider) {where}"
        )


def default_env_path() -> Path:
    """Where the modelopt venv is looked for and made: ``$MUTUALSENSE_MODELOPT_VENV``, a source checkout's
    ``.venv-modelopt`` (the one ``make modelopt`` makes, so the first INT8 export does not make a second),
    or the user cache."""
    if os.environ.get("MUTUALSENSE_MODELOPT_VENV"):
        return Path(os.environ["MUTUALSENSE_MODELOPT_VENV"]).expanduser().absolute()
    checkout = Path(__file__).resolve().parents[1]  # calibration/ → the checkout, in an editable install
    if (checkout / "pyproject.toml").is_file() and (checkout / "calibration").is_dir():
        return checkout / ".venv-modelopt"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mutualsense" / f"modelopt-{MODELOPT_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"


def find_env(path: str | os.PathLike[str] | None = None) -> ModeloptEnv | None:
    """The finished venv at ``path`` (default :func:`default_env_path`), or None when there is none."""
    root = Path(path).expanduser().absolute() if path is not None else default_env_path()
    try:
        stamp = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return None
    env = ModeloptEnv(root, stamp.get("versions", {}))
    if not env.python.exists() or stamp.get("modelopt") != MODELOPT_VERSION:
        return None
    return env


def _clean_environ() -> dict[str, str]:
    """This process's environment minus what would make the venv's Python see our packages."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run_logged(cmd: list[str], log: Path, timeout: float) -> int:
    with log.open("a") as f:
        f.write(f"$ {shlex.join(cmd)}\n")
        f.flush()
        try:
            return subprocess.run(
                cmd, stdout=f, stderr=subprocess.STDOUT, env=_clean_environ(), timeout=timeout, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            f.write(f"timed out after {timeout:.0f} s\n")
            return -1


def _tail(log: Path, lines: int = 4) -> str:
    """The log's error lines (pip's ``ERROR:``, an exception), else its last lines; commands left out."""
    try:
        text = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    text = [ln for ln in text if not ln.startswith("$ ")]
    errors = [ln for ln in text if ln.startswith("ERROR:") or _EXCEPTION_LINE.match(ln)]
    return " | ".join((errors or text)[-lines:])


def create_env(
    path: str | os.PathLike[str] | None = None,
    on_step: Callable[[str], None] | None = None,
    timeout: float = 1800.0,
) -> ModeloptEnv:
    """Make the modelopt venv: ``python -m venv``, the pinned CPU torch, ``nvidia-modelopt[onnx]``.

    Built under a temporary name and renamed when complete, so an interrupted or failed build leaves
    no half-made venv behind (its pip log stays next to it for the diagnosis).

    Raises:
        QuantizerError: venv creation or pip failed (the message carries the log's last lines).
    """
    step = on_step or (lambda _: None)
    root = Path(path).expanduser().absolute() if path is not None else default_env_path()
    root.parent.mkdir(parents=True, exist_ok=True)
    log = root.with_name(root.name + ".log")
    log.write_text("")
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".partial-", dir=root.parent))
    extra = shlex.split(os.environ.get("MUTUALSENSE_MODELOPT_PIP_ARGS", ""))
    pip = [str(tmp / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", *extra]
    constraints = tmp / "constraints.txt"
    try:
        step(f"create nvidia-modelopt's own venv at {root} (once; about 2 GB)")
        if _run_logged([sys.executable, "-m", "venv", "--clear", str(tmp)], log, 300) != 0:
            raise QuantizerError(
                f"could not create a virtual environment for nvidia-modelopt at {tmp}: {_tail(log)}",
                "install Python's venv module (Debian: apt-get install python3-venv), or use --quantizer onnxruntime.",
            )
        constraints.write_text(TORCH_PIN + "\n")
        for what, args in (
            (f"install {TORCH_PIN} into it", [TORCH_PIN]),
            (f"install nvidia-modelopt[onnx]=={MODELOPT_VERSION} into it", [
                "-c", str(constraints), f"nvidia-modelopt[onnx]=={MODELOPT_VERSION}",
            ]),
        ):  # fmt: skip
            step(what)
            if _run_logged([*pip, *args], log, timeout) != 0:
                raise QuantizerError(
                    f"pip could not install nvidia-modelopt's environment ({what}): {_tail(log)} (full log: {log})",
                    "check the network / package index (extra pip options go in MUTUALSENSE_MODELOPT_PIP_ARGS), "
                    "or use --quantizer onnxruntime.",
                )
        out = subprocess.run(
            [str(tmp / "bin" / "python"), "-c", _VERSIONS_SCRIPT + "; import modelopt.onnx.quantization"],
            capture_output=True, text=True, env=_clean_environ(), timeout=300, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise QuantizerError(
                f"nvidia-modelopt was installed but its ONNX quantiser does not import: "
                f"{out.stderr.strip().splitlines()[-1:] or out.stdout}",
                f"see {log}; remove {root} and retry, or use --quantizer onnxruntime.",
            )
        versions = json.loads(out.stdout.strip().splitlines()[-1])
        (tmp / STAMP).write_text(json.dumps({"modelopt": MODELOPT_VERSION, "versions": versions}, indent=2))
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ModeloptEnv(root, versions)


def require_modelopt_method(method: str) -> None:
    """Refuse a calibration method modelopt's int8 quantiser does not offer."""
    if method not in MODELOPT_METHODS:
        raise QuantizerError(
            f"nvidia-modelopt calibrates int8 with {' or '.join(MODELOPT_METHODS)}, not {method!r}.",
            "pick one of those, or use --quantizer onnxruntime for percentile calibration.",
        )


def quantize_with_modelopt(
    env: ModeloptEnv,
    model: onnx.ModelProto,
    rgb: np.ndarray,
    depth: np.ndarray,
    method: str,
    exclude: Iterable[str] = (),
    timeout: float = 3600.0,
) -> onnx.ModelProto:
    """Q/DQ int8 through ``python -m modelopt.onnx.quantization`` in ``env``.

    Args:
        model: FP32 model with the CDA node and its function body (modelopt inlines nothing of ours:
            it runs the body through ONNX Runtime to calibrate, and leaves the node in float).
        rgb, depth: calibration inputs, a whole number of the model's batches.
        method: ``minmax`` or ``entropy``.
        exclude: node names kept out of quantisation (matched exactly).
    """
    require_modelopt_method(method)
    with tempfile.TemporaryDirectory(prefix="mutualsense-modelopt-") as tmp_dir:
        tmp = Path(tmp_dir)
        onnx.save(model, tmp / "fp32.onnx")
        np.savez(tmp / "calib.npz", rgb=rgb, depth=depth)
        cmd = [
            str(env.python), "-m", "modelopt.onnx.quantization",
            "--onnx_path", str(tmp / "fp32.onnx"),
            "--quantize_mode", "int8",
            "--calibration_method", MODELOPT_METHODS[method],
            "--calibration_data_path", str(tmp / "calib.npz"),
            "--calibration_eps", "cpu",
            "--high_precision_dtype", "fp32",
            "--dq_only",  # int8 weights behind DequantizeLinear: a quarter of the size, as TensorRT takes them
            "--output_path", str(tmp / "int8.onnx"),
        ]  # fmt: skip
        names = list(dict.fromkeys(exclude))
        if names:  # modelopt reads these as regular expressions
            cmd += ["--nodes_to_exclude", *(f"^{re.escape(n)}$" for n in names)]
        log = tmp / "modelopt.log"
        rc = _run_logged(cmd, log, timeout)
        if rc != 0 or not (tmp / "int8.onnx").exists():
            # the exception line of the traceback, if any (modelopt also logs harmless "ERROR"s, e.g. no NVML)
            errors = [ln for ln in log.read_text(errors="replace").splitlines() if _EXCEPTION_LINE.match(ln)]
            raise QuantizerError(
                f"nvidia-modelopt could not quantise the model (exit {rc}): {errors[-1] if errors else _tail(log)}",
                "use --quantizer onnxruntime, or report the log above with the model's opset and ops.",
            )
        return onnx.load(tmp / "int8.onnx")

"""The source spec: one short string that picks a camera, a recording or the synthetic generator,
like jetson-utils' ``videoSource`` URIs; :data:`SOURCE_SPEC_HELP` is the one usage text.

>>> parse_source_spec("synthetic?fps=30&seed=1").kind
'synthetic'
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mutualsense.errors import SourceError
from mutualsense.sources.base import Source

__all__ = ["RECORDING_SUFFIXES", "SOURCE_SPEC_HELP", "SourceSpec", "open_source", "parse_source_spec"]

RECORDING_SUFFIXES = (".db3", ".bag")

#: The one usage text for source specs (the CLI's ``--source`` help reuses it).
SOURCE_SPEC_HELP = """\
A source is one of:
  camera                      the first RealSense camera found
  camera:SERIAL               the RealSense camera with that serial number (rs-enumerate-devices lists them)
  synthetic                   generated RGB-D scenes; no camera needed
  PATH.db3 | PATH.bag         a RealSense recording (rosbag2 .db3, or a ROS1 .bag from librealsense < 2.58)
Options follow a '?', joined by '&':
  camera     color=640x480@30  depth=848x480@30  preset=high_accuracy|high_density|medium_density|hand|default
  synthetic  fps=30  seed=0  color=640x480[@FPS]  depth=424x240[@FPS]  offset_ms=0  frames=N  noise=1.0
             real_time=1|0 (default 1: paced like a camera; 0 = as fast as possible)
  recording  loop=0|1  real_time=0|1   (default: replay once, as fast as possible)
Examples: camera:123456789012?color=640x480@30&depth=848x480@30, synthetic?fps=30&seed=1, run.db3?loop=1"""

_FORMS = (
    "camera | camera:SERIAL[?color=WxH@FPS&depth=WxH@FPS&preset=NAME] | "
    "synthetic[?fps=30&seed=1&...] | PATH.db3 | PATH.bag"
)
_KINDS = ("camera", "synthetic")
# Words people type for a source: suggested, never accepted silently.
_ALIASES = {
    "realsense": "camera",
    "rs": "camera",
    "cam": "camera",
    "live": "camera",
    "device": "camera",
    "webcam": "camera",
    "sim": "synthetic",
    "fake": "synthetic",
    "test": "synthetic",
    "demo": "synthetic",
    "generated": "synthetic",
}
_KEYS = {
    "camera": ("color", "depth", "preset"),
    "synthetic": ("fps", "seed", "color", "depth", "offset_ms", "frames", "real_time", "noise"),
    "recording": ("loop", "real_time"),
}
_SIZE = re.compile(r"^(\d+)x(\d+)(?:@(\d+(?:\.\d*)?))?$")
_SERIAL = re.compile(r"^[A-Za-z0-9_-]+$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source spec: which kind of source, and its constructor's keyword arguments."""

    kind: str  # "camera" | "synthetic" | "recording"
    options: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def _bad(spec: str, reason: str, suggestion: str | None = None) -> SourceError:
    hint = f"did you mean {suggestion!r}? " if suggestion else ""
    return SourceError(f"bad source spec {spec!r}: {reason}.", f"{hint}Use one of: {_FORMS}.")


def _closest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def _size(spec: str, key: str, value: str, default_fps: float | None) -> tuple[int, int, float | None]:
    m = _SIZE.match(value.strip().lower())
    if not m or int(m.group(1)) <= 0 or int(m.group(2)) <= 0:
        raise _bad(spec, f"{key}={value!r} is not WIDTHxHEIGHT or WIDTHxHEIGHT@FPS (e.g. {key}=640x480@30)")
    fps = float(m.group(3)) if m.group(3) else default_fps
    if fps is not None and fps <= 0:
        raise _bad(spec, f"{key}={value!r}: the frame rate must be positive")
    return int(m.group(1)), int(m.group(2)), fps


def _number(spec: str, key: str, value: str, kind: type, minimum: float | None) -> Any:
    try:
        number = kind(value)
    except ValueError:
        raise _bad(spec, f"{key}={value!r} is not {'an integer' if kind is int else 'a number'}") from None
    if minimum is not None and number < minimum:
        raise _bad(spec, f"{key}={value!r} must be at least {minimum}")
    if kind is float and number != number:  # NaN
        raise _bad(spec, f"{key}={value!r} is not a number")
    return number


def _flag(spec: str, key: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise _bad(spec, f"{key}={value!r} is not a yes/no value (use 1 or 0)")


def _query(spec: str, kind: str, query: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise _bad(spec, f"option {part!r} has no value (write {key or 'KEY'}=VALUE)")
        if key not in _KEYS[kind]:
            valid = ", ".join(_KEYS[kind])
            raise _bad(spec, f"unknown {kind} option {key!r} (valid: {valid})", _closest(key, _KEYS[kind]))
        if key in pairs:
            raise _bad(spec, f"option {key!r} given twice")
        pairs[key] = value.strip()
    return pairs


def _camera_options(spec: str, target: str, pairs: dict[str, str]) -> dict[str, Any]:
    from mutualsense.sources.realsense import DEPTH_PRESETS

    options: dict[str, Any] = {}
    if target:
        serial = target.strip()
        if not _SERIAL.match(serial):
            raise _bad(spec, f"camera serial {serial!r} is empty or has characters other than letters and digits")
        options["serial"] = serial
    for key in ("color", "depth"):
        if key in pairs:
            options[key] = _size(spec, key, pairs[key], 30.0)
    if "preset" in pairs:
        preset = pairs["preset"].lower()
        if preset not in DEPTH_PRESETS:
            raise _bad(
                spec,
                f"unknown depth preset {preset!r} (valid: {', '.join(DEPTH_PRESETS)})",
                _closest(preset, DEPTH_PRESETS),
            )
        options["preset"] = preset
    return options


def _synthetic_options(spec: str, pairs: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "fps" in pairs:
        options["fps"] = _number(spec, "fps", pairs["fps"], float, None)
        if not options["fps"] > 0:
            raise _bad(spec, f"fps={pairs['fps']!r} must be positive")
    if "seed" in pairs:
        options["seed"] = _number(spec, "seed", pairs["seed"], int, 0)
    for key in ("color", "depth"):
        if key in pairs:
            w, h, fps = _size(spec, key, pairs[key], None)
            options[key] = (w, h)
            if fps is not None:
                options[f"{key}_fps"] = fps
    if "offset_ms" in pairs:
        options["depth_offset_ms"] = _number(spec, "offset_ms", pairs["offset_ms"], float, None)
    if "frames" in pairs:
        options["frames"] = _number(spec, "frames", pairs["frames"], int, 1)
    # A synthetic *camera* runs at its frame rate unless asked to go as fast as possible.
    options["real_time"] = _flag(spec, "real_time", pairs["real_time"]) if "real_time" in pairs else True
    if "noise" in pairs:
        options["sensor_noise"] = _number(spec, "noise", pairs["noise"], float, None)
    return options


def _recording(spec: str, base: str, pairs: dict[str, str]) -> SourceSpec:
    options: dict[str, Any] = {"path": Path(base).expanduser()}
    for key in ("loop", "real_time"):
        if key in pairs:
            options[key] = _flag(spec, key, pairs[key])
    return SourceSpec("recording", options, spec)


def parse_source_spec(spec: str | os.PathLike[str]) -> SourceSpec:
    """Parse a source spec (see :data:`SOURCE_SPEC_HELP`) without opening anything.

    Raises:
        SourceError: the spec is malformed; the message names it, the valid forms and, for a close
            misspelling, what was probably meant.
    """
    if isinstance(spec, os.PathLike):
        return _recording(str(spec), os.fspath(spec), {})
    if not isinstance(spec, str):
        raise SourceError(
            f"a source spec must be a string or a path, got {type(spec).__name__}.", f"Use one of: {_FORMS}."
        )
    text = spec.strip()
    if not text:
        raise _bad(spec, "it is empty")
    if Path(text).expanduser().suffix.lower() in RECORDING_SUFFIXES and Path(text).expanduser().is_file():
        return SourceSpec("recording", {"path": Path(text).expanduser()}, spec)  # a file name with '?' in it
    base, _, query = text.partition("?")
    suffix = Path(base).suffix.lower()
    if suffix in RECORDING_SUFFIXES:
        return _recording(spec, base, _query(spec, "recording", query))
    scheme, colon, target = base.partition(":")
    scheme_l = scheme.lower()
    if scheme_l == "camera":
        if colon and not target.strip():
            raise _bad(spec, "camera serial is missing after 'camera:'", "camera")
        return SourceSpec("camera", _camera_options(spec, target, _query(spec, "camera", query)), spec)
    if scheme_l == "synthetic":
        if colon:
            raise _bad(spec, "synthetic takes its options after '?' (e.g. synthetic?fps=30&seed=1)")
        return SourceSpec("synthetic", _synthetic_options(spec, _query(spec, "synthetic", query)), spec)
    # Not a known kind: explain what it looks like.
    path = Path(base).expanduser()
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in RECORDING_SUFFIXES)
        hint = str(path / inside[0]) if inside else None
        raise _bad(spec, "it is a folder, not a recording file (a rosbag2 folder holds the .db3 file)", hint)
    if suffix:
        close = _closest(suffix, list(RECORDING_SUFFIXES))
        raise _bad(
            spec,
            f"{suffix!r} files are not RealSense recordings (recordings end in .db3 or .bag)",
            str(Path(base).with_suffix(close)) if close else None,
        )
    if "/" in base or os.sep in base:
        raise _bad(spec, "a recording path must end in .db3 or .bag")
    suggestion = _ALIASES.get(scheme_l) or _closest(scheme_l, _KINDS)
    if suggestion and colon:
        suggestion = f"{suggestion}:{target}"
    raise _bad(spec, f"unknown source kind {scheme!r}", suggestion)


def open_source(spec: str | os.PathLike[str] | Source, **overrides: Any) -> Source:
    """A source object for a spec string, a recording path, or a source object (returned as is).

    Args:
        spec: see :data:`SOURCE_SPEC_HELP`.
        overrides: constructor arguments that replace the spec's (e.g. ``frames=10``).

    Raises:
        SourceError: a malformed spec. Opening the device or file happens at ``start()``.
    """
    if isinstance(spec, Source):
        if overrides:
            raise SourceError(
                f"options {sorted(overrides)} cannot be applied to an existing source object {spec.name}.",
                "pass the options to the source's constructor instead.",
            )
        return spec
    parsed = parse_source_spec(spec)
    options = {**parsed.options, **overrides}
    if parsed.kind == "camera":
        from mutualsense.sources.realsense import RealSenseCamera

        return RealSenseCamera(**options)
    if parsed.kind == "synthetic":
        from mutualsense.sources.synthetic import SyntheticSource

        return SyntheticSource(**options)
    from mutualsense.sources.recording import Recording

    return Recording(**options)

"""Deployment bundles: a folder with ``manifest.json``, ONNX files, engines and the plugin library.

Loading verifies the manifest against its versioned JSON Schema and every file's size and sha256,
and says exactly what is wrong and how to fix it. Writing is atomic: a new bundle is built in a
temporary folder and renamed into place; a change to an existing bundle writes its files under
temporary names and replaces ``manifest.json`` last.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mutualsense.bundle_summary import BundleSummary, summarize_manifest
from mutualsense.errors import BundleError, summarize_schema_errors
from mutualsense.preprocess import InputSpec

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST",
    "SCHEMA_VERSION",
    "Bundle",
    "finalize_manifest",
    "is_bundle_folder",
    "manifest_schema",
    "refuse_replacing",
    "sha256_file",
    "update_bundle",
    "validate_manifest",
    "write_bundle",
]

BUNDLE_FORMAT = "mutualsense.bundle"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@cache
def manifest_schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON Schema of manifest ``version`` (shipped in ``mutualsense/schemas``)."""
    text = resources.files("mutualsense").joinpath("schemas").joinpath(f"bundle-manifest.v{version}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_manifest(manifest: Any, where: str = MANIFEST) -> None:
    """Raise :class:`BundleError` unless ``manifest`` is a valid manifest of a version this SDK reads."""
    import jsonschema

    if not isinstance(manifest, dict):
        raise BundleError(f"{where} is not a JSON object.", "re-export the bundle with `mutualsense export`.")
    version = manifest.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise BundleError(
            f"{where} has schema version {version}; this mutualsense reads up to version {SCHEMA_VERSION}.",
            "upgrade the runtime (`pip install -U mutualsense`) or export the bundle with this version.",
        )
    validator = jsonschema.Draft202012Validator(manifest_schema())
    problem = summarize_schema_errors(validator.iter_errors(manifest))
    if problem:
        raise BundleError(
            f"{where} is not a valid bundle manifest: {problem}.",
            "the manifest was edited by hand or written by another tool; "
            "re-export the bundle with `mutualsense export`.",
        )


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk."""

    path: Path
    manifest: Mapping[str, Any]

    @classmethod
    def load(cls, path: str | os.PathLike[str], verify_hashes: bool = True) -> Bundle:
        """Open and verify a bundle; every problem is a :class:`BundleError` saying what and how to fix it."""
        root = Path(path)
        if not root.exists():
            raise BundleError(
                f"bundle {root} does not exist.", "create one with `mutualsense export CHECKPOINT --out BUNDLE`."
            )
        if not root.is_dir():
            raise BundleError(
                f"bundle {root} is a file, not a folder.", "pass the bundle folder (it holds manifest.json)."
            )
        mpath = root / MANIFEST
        if not mpath.exists():
            raise BundleError(
                f"{root} has no {MANIFEST}: it is not a bundle, or its export was interrupted.",
                "re-run `mutualsense export`.",
            )
        try:
            manifest = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(
                f"{mpath} is not valid JSON ({exc}).", "re-export the bundle with `mutualsense export`."
            ) from exc
        validate_manifest(manifest, str(mpath))
        bundle = cls(root, manifest)
        bundle.verify(hashes=verify_hashes)
        return bundle

    def verify(self, hashes: bool = True) -> None:
        """Check that every listed file exists with its recorded size (and sha256)."""
        for rel, entry in self.manifest["files"].items():
            f = self.path / rel
            if not f.is_file():
                raise BundleError(
                    f"bundle file {f} is missing.", "copy the whole bundle folder again, or re-export it."
                )
            size = f.stat().st_size
            if size != entry["size"]:
                raise BundleError(
                    f"bundle file {f} has {size} bytes; the manifest records {entry['size']}.",
                    "the file was truncated or replaced: copy the bundle again or re-export it.",
                )
            if hashes and (digest := sha256_file(f)) != entry["sha256"]:
                raise BundleError(
                    f"bundle file {f} has sha256 {digest[:16]}…, the manifest records {entry['sha256'][:16]}….",
                    "the file was modified after export: copy the bundle again or re-export it.",
                )

    @property
    def input_spec(self) -> InputSpec:
        """The preprocessing this model was trained and exported with."""
        return InputSpec.from_dict(self.manifest["input"]["spec"])

    @property
    def batch(self) -> int:
        return int(self.manifest["input"]["batch"])

    @property
    def precision(self) -> str:
        return str(self.manifest["precision"])

    @property
    def onnx_path(self) -> Path:
        """The ONNX model with CDA function bodies (runs in ONNX Runtime anywhere)."""
        return self.path / self.manifest["onnx"]["file"]

    @property
    def trt_onnx_path(self) -> Path:
        """The TensorRT-facing copy (CDA nodes without function bodies, for the plugin)."""
        return self.path / self.manifest["onnx"]["trt_file"]

    @property
    def sha256(self) -> str:
        """Identity of the bundle: sha256 of its manifest."""
        return sha256_file(self.path / MANIFEST)

    def summary(self) -> BundleSummary:
        """Accuracy per precision, the INT8 gate and quantiser, the files (what ``mutualsense export`` prints)."""
        return summarize_manifest(self.manifest)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_entry(path: Path, role: str) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "size": path.stat().st_size, "role": role}


def _umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it back races with threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: honour the umask like any other written file
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def is_bundle_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding a manifest.json of ours (its format field), valid or not otherwise."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == BUNDLE_FORMAT


def refuse_replacing(target: str | os.PathLike[str], option: str = "--out") -> None:
    """Raise :class:`BundleError` unless ``target`` may be replaced by a new bundle.

    Only an empty folder or one of our bundles is ever replaced: anything else there is the user's.
    Neither the working folder nor a folder holding it is replaced, even when it is a bundle.
    """
    root = Path(target).absolute()
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise BundleError(
            f"{option} {target} is a file, not a bundle folder; --overwrite only replaces a bundle folder.",
            f"choose another {option}.",
        )
    if not root.exists():
        return
    cwd = Path.cwd().absolute()
    if root == cwd or root in cwd.parents:
        raise BundleError(
            f"{option} {target} is the current folder (or holds it); it is never replaced.",
            f"choose a new folder for {option}, e.g. {option} bundle.",
        )
    try:
        entries = sorted(p.name for p in root.iterdir())
    except OSError as exc:
        raise BundleError(
            f"cannot read {option} folder {target} ({exc.strerror}).", f"choose another {option}."
        ) from exc
    if entries and not is_bundle_folder(root):
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise BundleError(
            f"{option} {target} is not a mutualsense bundle (it holds {shown}), so --overwrite will not replace it.",
            f"choose another {option}; --overwrite only replaces a bundle folder or an empty one.",
        )


@contextlib.contextmanager
def write_bundle(out: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Build a new bundle atomically: yields a temporary folder beside ``out``; on success it becomes ``out``.

    Inside the ``with`` block write the files, then call :func:`finalize_manifest` on the folder. Any
    exception (including Ctrl-C) removes the temporary folder and leaves ``out`` untouched. With
    ``overwrite``, only an empty folder or an existing bundle is replaced (:func:`refuse_replacing`).
    """
    target = Path(out).absolute()
    if target.exists() and not overwrite:
        raise BundleError(f"{target} already exists.", "choose another --out, or pass --overwrite to replace it.")
    refuse_replacing(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700: a bundle is read by the service that runs it
    except OSError as exc:
        raise BundleError(
            f"cannot write to {target.parent} ({exc.strerror}).", "choose a writable --out folder."
        ) from exc
    try:
        yield tmp
        if not (tmp / MANIFEST).exists():
            raise BundleError(
                f"bundle {target} was not finalised (no manifest written).", "this is a bug; please report it."
            )
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BundleError(
            f"writing bundle {target} failed ({exc.strerror or exc}); nothing was written.",
            "free disk space or choose a writable --out folder, then export again.",
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def finalize_manifest(folder: Path, manifest: dict[str, Any], roles: Mapping[str, str]) -> dict[str, Any]:
    """Hash the files named in ``roles`` (relative path → role), validate and write ``manifest.json`` last."""
    manifest = {"format": BUNDLE_FORMAT, "schema_version": SCHEMA_VERSION, "created": _now(), **manifest}
    manifest["files"] = {rel: _file_entry(folder / rel, role) for rel, role in roles.items()}
    validate_manifest(manifest, f"{folder / MANIFEST} (being written)")
    _write_json_atomic(folder / MANIFEST, manifest)
    return manifest


def update_bundle(bundle: Bundle, new_files: Mapping[str, tuple[Path, str]], changes: Mapping[str, Any]) -> Bundle:
    """Add files to an existing bundle and update its manifest, atomically.

    Args:
        new_files: relative path in the bundle → (finished file to move in, role). Files are first
            copied under temporary names inside the bundle, then renamed; ``manifest.json`` is
            replaced last, so an interrupted update leaves the old manifest valid.
        changes: top-level manifest keys to set (e.g. an updated ``engines`` list).
    """
    manifest = json.loads(json.dumps(bundle.manifest))
    staged: list[tuple[Path, Path]] = []
    try:
        for rel, (src, role) in new_files.items():
            dest = bundle.path / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
            shutil.copyfile(src, tmp)
            staged.append((tmp, dest))
            manifest["files"][rel] = _file_entry(tmp, role)
        manifest.update(changes)
        validate_manifest(manifest, f"{bundle.path / MANIFEST} (being updated)")
        for tmp, dest in staged:
            os.replace(tmp, dest)
        staged.clear()
        _write_json_atomic(bundle.path / MANIFEST, manifest)
    except OSError as exc:
        raise BundleError(
            f"cannot update bundle {bundle.path} ({exc.strerror}).", "check free space and permissions."
        ) from exc
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return Bundle(bundle.path, manifest)

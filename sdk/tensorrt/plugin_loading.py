"""Load the CDA plugin into TensorRT: the one guarded place the builder and the backend both go through.

TensorRT's Python ``IPluginRegistry.load_library`` returns None when the library cannot be loaded (it
does not raise), and a library that loads may still not register our creator (built for another
TensorRT, or not our plugin). The ONNX parser of TensorRT 10.x does not name the op it could not map,
so the creator is looked up *after* loading and *before* parsing or deserialising: a missing plugin is
reported as such, with the command that rebuilds it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mutualsense.errors import PluginError

__all__ = ["CDA_CREATOR", "creator_registered", "load_plugin"]

log = logging.getLogger(__name__)

# (name, version, namespace) of the plugin creator the CrossDiffusionAttention node maps to.
CDA_CREATOR = ("CrossDiffusionAttention", "1", "")

_REBUILD = (
    "rebuild it on this machine: `mutualsense build-plugin --out DIR`, then pass --plugin DIR/libmutualsense_cda.so"
)


def creator_registered(registry: Any, creator: tuple[str, str, str] = CDA_CREATOR) -> bool:
    """Whether ``registry`` (a ``trt.IPluginRegistry``) holds the creator (``get_creator``: V2 and V3 creators)."""
    name, version, namespace = creator
    return registry.get_creator(name, version, namespace) is not None


def load_plugin(trt: Any, path: Path, logger: Any, remedy: str = _REBUILD) -> None:
    """Register TensorRT's own plugins and our library with ``trt``'s registry, and prove the creator is there.

    Args:
        trt: the imported ``tensorrt`` module.
        path: the plugin library (``libmutualsense_cda.so``).
        logger: the ``trt.ILogger`` the caller uses.
        remedy: how to get a working library, in the caller's terms.

    Raises:
        PluginError: the file is missing, TensorRT cannot load it, or it does not register
            ``CrossDiffusionAttention`` version 1 in the default namespace.
    """
    trt.init_libnvinfer_plugins(logger, "")
    if not path.is_file():
        raise PluginError(f"plugin library {path} does not exist.", remedy)
    registry = trt.get_plugin_registry()
    try:
        handle = registry.load_library(str(path))
    except Exception as exc:  # some builds raise instead of returning None: same meaning
        raise PluginError(f"TensorRT cannot load plugin library {path}: {exc}", remedy) from exc
    if handle is None:
        raise PluginError(
            f"TensorRT could not load plugin library {path} (TensorRT {trt.__version__}): it was built for another "
            "TensorRT or CUDA, or for another machine (the TensorRT log says which symbol or library is missing).",
            remedy,
        )
    name, version, namespace = CDA_CREATOR
    if not creator_registered(registry):
        raise PluginError(
            f"plugin library {path} loaded, but TensorRT {trt.__version__} has no creator {name!r} version "
            f"{version!r} in namespace {namespace!r} registered: it is not the MutualSense CDA plugin, or it was "
            "built against another TensorRT.",
            remedy,
        )
    log.info("loaded %s (%s v%s registered)", path, name, version)

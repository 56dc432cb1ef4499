"""The pipeline's ONNX Runtime session does not spin-wait; a bare backend keeps ONNX Runtime's default."""

from __future__ import annotations

from mutualsense.backends import OnnxRuntimeBackend
from mutualsense.bundle import Bundle
from mutualsense.pipeline import Stream

KEY = "session.intra_op.allow_spinning"


def _spinning(backend: OnnxRuntimeBackend) -> str:
    return backend._session.get_session_options().get_session_config_entry(KEY)


def test_spin_option_reaches_the_session(tiny_bundle: Bundle) -> None:
    with OnnxRuntimeBackend(tiny_bundle, threads=2, spin=False) as backend:
        assert _spinning(backend) == "0"
    with OnnxRuntimeBackend(tiny_bundle, threads=2, spin=True) as backend:
        assert _spinning(backend) == "1"


def test_the_pipeline_turns_spinning_off(tiny_bundle: Bundle) -> None:
    with Stream(tiny_bundle, "synthetic?frames=2", threads=2) as stream:
        assert isinstance(stream.backend, OnnxRuntimeBackend)
        assert _spinning(stream.backend) == "0"

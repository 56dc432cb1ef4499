"""OpenCV runs single-threaded while a stream is open (its spinning workers would take the pipeline's CPU),
and gets back the program's own setting when the last stream closes."""

from __future__ import annotations

import cv2
import pytest

import mutualsense
from mutualsense.errors import MutualSenseError
from mutualsense.pipeline.opencv_threads import OpenCVThreads
from mutualsense.sources import SyntheticSource


@pytest.fixture
def opencv_at_three():  # noqa: ANN201
    saved = cv2.getNumThreads()
    cv2.setNumThreads(3)
    yield
    cv2.setNumThreads(saved)


def test_a_stream_holds_opencv_at_one_thread_and_restores_the_setting(tiny_bundle, opencv_at_three) -> None:
    with mutualsense.open(tiny_bundle, source=SyntheticSource(frames=5, color=(160, 120))) as stream:
        assert cv2.getNumThreads() == 1
        assert len(list(stream)) == 5
    assert cv2.getNumThreads() == 3


def test_none_leaves_opencv_alone(tiny_bundle, opencv_at_three) -> None:
    with mutualsense.open(tiny_bundle, source=SyntheticSource(frames=3, color=(160, 120)), opencv_threads=None):
        assert cv2.getNumThreads() == 3
    assert cv2.getNumThreads() == 3


def test_the_last_stream_to_close_restores_and_a_change_by_the_program_is_kept(opencv_at_three) -> None:
    first, second = OpenCVThreads(1), OpenCVThreads(2)
    first.acquire()
    second.acquire()  # the first holder's count stays
    assert cv2.getNumThreads() == 1
    first.release()
    assert cv2.getNumThreads() == 1
    second.release()
    assert cv2.getNumThreads() == 3
    first.acquire()
    cv2.setNumThreads(4)  # the program changed it while held: not undone
    first.release()
    assert cv2.getNumThreads() == 4


@pytest.mark.parametrize("count", [-1, 1.5, True, "2"])
def test_a_bad_count_is_refused_with_the_fix(count: object) -> None:
    with pytest.raises(MutualSenseError, match="opencv_threads must be None or a non-negative integer") as err:
        OpenCVThreads(count)  # type: ignore[arg-type]
    assert "leave OpenCV's setting alone" in str(err.value)

"""The synthetic RGB-D scene generator: reproducible, well-formed, and with the promised structure."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualsense.errors import DataError
from mutualsense.evaluation.synthetic import Scene, SceneGenerator, generate_scene

N_SCENES = 200


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    gen = SceneGenerator(seed=7, camouflage_ratio=0.3)
    return [gen.sample() for _ in range(N_SCENES)]


def _disk(diameter: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))


def _rings(mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean bands ``width`` pixels wide just inside and just outside the mask's outline."""
    kernel = _disk(2 * width + 1)
    inside = mask > 0
    inner = inside & ~(cv2.erode(mask, kernel) > 0)
    outer = (cv2.dilate(mask, kernel) > 0) & ~inside
    return inner, outer


def _metres(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    return scene.depth.astype(np.float64) * scene.depth_scale, scene.depth > 0


def _same(a: Scene, b: Scene) -> bool:
    return (
        a.camouflaged == b.camouflaged
        and np.array_equal(a.rgb, b.rgb)
        and np.array_equal(a.depth, b.depth)
        and np.array_equal(a.mask, b.mask)
    )


# ---------------------------------------------------------------------------------- determinism
def test_same_seed_gives_the_same_scenes() -> None:
    a, b = SceneGenerator(seed=5), SceneGenerator(seed=5)
    for _ in range(4):
        assert _same(a.sample(), b.sample())


def test_different_seeds_give_different_scenes() -> None:
    a, b = SceneGenerator(seed=5).sample(), SceneGenerator(seed=6).sample()
    assert not np.array_equal(a.rgb, b.rgb)
    assert not np.array_equal(a.depth, b.depth)


def test_consecutive_scenes_differ() -> None:
    gen = SceneGenerator(seed=5)
    a, b = gen.sample(), gen.sample()
    assert not np.array_equal(a.rgb, b.rgb)


def test_iteration_continues_the_sample_stream() -> None:
    expected = SceneGenerator(seed=11)
    for scene in itertools.islice(SceneGenerator(seed=11), 3):
        assert _same(scene, expected.sample())


def test_generate_scene_is_a_function_of_the_rng_state() -> None:
    a = generate_scene(np.random.default_rng(3), 64, 96, camouflaged=True, n_objects=2)
    b = generate_scene(np.random.default_rng(3), 64, 96, camouflaged=True, n_objects=2)
    assert _same(a, b)
    assert a.camouflaged
    assert not generate_scene(np.random.default_rng(3), 64, 96, camouflaged=False, n_objects=2).camouflaged


# ---------------------------------------------------------------------------------- format
@pytest.mark.parametrize(("height", "width"), [(256, 256), (48, 80), (120, 32)])
def test_dtypes_and_shapes(height: int, width: int) -> None:
    gen = SceneGenerator(height=height, width=width, seed=1)
    for scene in itertools.islice(gen, 3):
        assert scene.rgb.shape == (height, width, 3) and scene.rgb.dtype == np.uint8
        assert scene.depth.shape == (height, width) and scene.depth.dtype == np.uint16
        assert scene.mask.shape == (height, width) and scene.mask.dtype == np.uint8
        assert isinstance(scene.camouflaged, bool)
        assert scene.depth_scale == pytest.approx(0.001)
        assert set(np.unique(scene.mask).tolist()) == {0, 255}


def test_depth_is_in_a_stereo_camera_range(scenes: list[Scene]) -> None:
    for scene in scenes:
        valid = scene.depth[scene.depth > 0]
        assert valid.min() >= 300 and valid.max() <= 6500  # millimetres


def test_salient_object_has_a_sensible_size(scenes: list[Scene]) -> None:
    shares = np.array([np.count_nonzero(s.mask) / s.mask.size for s in scenes])
    assert shares.min() > 0.03 and shares.max() < 0.40
    assert shares.std() > 0.05  # sizes vary


def test_images_are_not_flat(scenes: list[Scene]) -> None:
    for scene in scenes[:20]:
        assert scene.rgb.reshape(-1, 3).std(axis=0).max() > 3.0


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(32, 96),
    width=st.integers(32, 160),
    seed=st.integers(0, 2**32 - 1),
    camouflaged=st.booleans(),
    n_objects=st.integers(1, 3),
)
def test_any_size_gives_a_well_formed_scene(
    height: int, width: int, seed: int, camouflaged: bool, n_objects: int
) -> None:
    scene = generate_scene(np.random.default_rng(seed), height, width, camouflaged, n_objects)
    assert scene.rgb.shape == (height, width, 3) and scene.depth.shape == scene.mask.shape == (height, width)
    inside = scene.mask > 0
    valid = scene.depth > 0
    assert inside.any() and (inside & valid).any()
    near = np.median(scene.depth[inside & valid])
    assert np.mean(scene.depth[~inside & valid] < near + 300) < 0.005


# ---------------------------------------------------------------------------------- geometry
def test_salient_object_is_the_nearest(scenes: list[Scene]) -> None:
    for scene in scenes:
        z, valid = _metres(scene)
        inside = scene.mask > 0
        near = np.median(z[inside & valid])
        assert 0.4 < near < 1.45
        # Any other region (distractor or background) 0.3 m nearer than its median would put at
        # least half its pixels below this line; allow only a few noise outliers.
        others = z[~inside & valid]
        assert np.mean(others < near + 0.3) < 0.002


def test_single_object_scenes_have_only_background_around_the_object() -> None:
    rng = np.random.default_rng(21)
    for _ in range(10):
        scene = generate_scene(rng, 128, 128, camouflaged=False, n_objects=1)
        z, valid = _metres(scene)
        inside = scene.mask > 0
        gap = np.median(z[~inside & valid]) - np.median(z[inside & valid])
        assert gap >= 0.8


def _in_front_of_background(scene: Scene) -> np.ndarray:
    """Outside the mask, the valid pixels clearly in front of the background plane (a robust fit)."""
    z, valid = _metres(scene)
    outside = (valid & (scene.mask == 0)).astype(np.float64)
    rows, cols = np.indices(z.shape)
    design = np.stack([np.ones(z.size), rows.ravel(), cols.ravel()], axis=1)
    support = cv2.boxFilter(outside, -1, (7, 7), normalize=False)
    keep = outside > 0
    for _ in range(5):  # refit on the pixels that are not in front of the current plane
        coef = np.linalg.lstsq(design[keep.ravel()], z[keep], rcond=None)[0]
        residual = (z - (design @ coef).reshape(z.shape)) * outside
        # Local means tame the noise, which reaches a decimetre at the far end.
        smooth = cv2.boxFilter(residual, -1, (7, 7), normalize=False) / np.maximum(support, 1.0)
        keep = (outside > 0) & (smooth > -0.15)
    return (outside > 0) & (support > 10) & (smooth < -0.15)


def test_distractors_stand_between_object_and_background() -> None:
    rng = np.random.default_rng(4)
    single = [_in_front_of_background(generate_scene(rng, 96, 96, False, 1)).mean() for _ in range(10)]
    triple = [_in_front_of_background(generate_scene(rng, 96, 96, False, 3)).mean() for _ in range(10)]
    assert max(single) < 0.002  # one object: everything outside it is the background plane
    assert np.median(triple) > 0.02  # three objects: distractors in front of it


def test_invalid_depth_is_concentrated_at_object_edges(scenes: list[Scene]) -> None:
    band_invalid = band_total = rest_invalid = rest_total = 0
    for scene in scenes[:60]:
        invalid = scene.depth == 0
        assert 0.005 < invalid.mean() < 0.25
        band = (cv2.dilate(scene.mask, _disk(9)) > 0) & ~(cv2.erode(scene.mask, _disk(9)) > 0)
        band_invalid += np.count_nonzero(invalid & band)
        band_total += np.count_nonzero(band)
        rest_invalid += np.count_nonzero(invalid & ~band)
        rest_total += np.count_nonzero(~band)
    band_rate, rest_rate = band_invalid / band_total, rest_invalid / rest_total
    assert band_rate > 3.0 * rest_rate
    assert 0.01 < rest_rate < 0.12  # speckles everywhere (~1-3 %) plus distractor edges and holes


def test_occlusion_band_lies_left_of_the_near_object(scenes: list[Scene]) -> None:
    """Left-imager stereo: the right imager cannot see the background just left of a near object."""
    left_invalid = right_invalid = 0
    for scene in scenes[:60]:
        inside = scene.mask > 0
        invalid = scene.depth == 0
        left = np.zeros_like(inside)
        right = np.zeros_like(inside)
        for k in range(1, 6):
            left[:, :-k] |= inside[:, k:]  # pixels up to 5 columns left of the object
            right[:, k:] |= inside[:, :-k]
        left &= ~inside
        right &= ~inside
        left_invalid += np.mean(invalid[left])
        right_invalid += np.mean(invalid[right])
    assert left_invalid > 2.0 * right_invalid


def test_depth_noise_grows_with_distance(scenes: list[Scene]) -> None:
    """Second differences along rows cancel the smooth surface and leave the noise."""
    near_noise, far_noise = [], []
    for scene in scenes[:60]:
        z, valid = _metres(scene)
        ok = valid[:, :-2] & valid[:, 1:-1] & valid[:, 2:]
        second = np.abs(z[:, :-2] - 2.0 * z[:, 1:-1] + z[:, 2:])
        core = cv2.erode(scene.mask, _disk(9))[:, 1:-1] > 0
        away = cv2.dilate(scene.mask, _disk(41))[:, 1:-1] == 0
        # Away from the salient object there may be distractors; they are still farther than it.
        near_noise.append(np.median(second[ok & core]))
        far_noise.append(np.median(second[ok & away]))
    assert np.mean(far_noise) > 3.0 * np.mean(near_noise)


# ---------------------------------------------------------------------------------- camouflage
def test_camouflaged_share_follows_the_ratio(scenes: list[Scene]) -> None:
    share = np.mean([s.camouflaged for s in scenes])
    assert abs(share - 0.3) < 0.1


@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_camouflage_ratio_extremes(ratio: float) -> None:
    flags = [
        s.camouflaged for s in itertools.islice(SceneGenerator(height=64, width=64, seed=2, camouflage_ratio=ratio), 20)
    ]
    assert flags == [bool(ratio)] * 20


def test_camouflaged_objects_hide_in_colour_but_not_in_depth(scenes: list[Scene]) -> None:
    colour_gap: dict[bool, list[float]] = {True: [], False: []}
    for scene in scenes:
        inner, outer = _rings(scene.mask, 3)
        rgb = scene.rgb.astype(np.float64)
        colour_gap[scene.camouflaged].append(float(np.linalg.norm(rgb[inner].mean(0) - rgb[outer].mean(0))))
        if scene.camouflaged:
            z, valid = _metres(scene)
            assert np.median(z[outer & valid]) - np.median(z[inner & valid]) > 0.5
    camouflaged, normal = np.mean(colour_gap[True]), np.mean(colour_gap[False])
    assert len(colour_gap[True]) > 30 and len(colour_gap[False]) > 30
    assert camouflaged < 8.0  # grey levels, over three channels
    assert camouflaged < 0.2 * normal
    # A normal object is sometimes dressed like the background, but usually stands out.
    assert np.median(colour_gap[False]) > 25.0


# ---------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"height": 31}, "31"),
        ({"width": 0}, "0"),
        ({"height": 64.0}, "64.0"),
        ({"width": True}, "True"),
        ({"camouflage_ratio": -0.1}, "-0.1"),
        ({"camouflage_ratio": 1.5}, "1.5"),
        ({"camouflage_ratio": math.nan}, "nan"),
        ({"camouflage_ratio": "lots"}, "lots"),
        ({"min_objects": 0}, "min_objects=0"),
        ({"max_objects": 4}, "max_objects=4"),
        ({"min_objects": 3, "max_objects": 2}, "min_objects=3"),
        ({"seed": -1}, "-1"),
    ],
)
def test_bad_generator_arguments_raise_data_error(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(DataError) as info:
        SceneGenerator(**kwargs)  # type: ignore[arg-type]
    assert named in info.value.what
    assert info.value.remedy


@pytest.mark.parametrize(("height", "width", "n_objects"), [(16, 64, 1), (64, 64, 0), (64, 64, 4)])
def test_bad_generate_scene_arguments_raise_data_error(height: int, width: int, n_objects: int) -> None:
    with pytest.raises(DataError):
        generate_scene(np.random.default_rng(0), height, width, camouflaged=False, n_objects=n_objects)

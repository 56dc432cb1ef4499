"""Colours of the synthetic scenes: two-colour palettes for textures, and blending a texture from them."""

from __future__ import annotations

import colorsys

import numpy as np

__all__ = ["colourise", "hsv", "random_palette", "similar_palette"]


def colourise(t: np.ndarray, palette: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Blend two colours by a (h, w) weight in [0, 1] into a (3, h, w) float32 image."""
    c1, c2 = palette
    out = np.empty((3, *t.shape), np.float32)
    for c in range(3):  # per channel: numpy broadcasting over a trailing axis is slow
        np.multiply(t, float(c2[c] - c1[c]), out=out[c])
        out[c] += float(c1[c])
    return out


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * np.float32(255.0)


def random_palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two colours for a texture: often related (same hue family), sometimes unrelated."""
    hue, sat, val = rng.uniform(0.0, 1.0), rng.uniform(0.05, 0.9), rng.uniform(0.2, 0.95)
    c1 = hsv(hue, sat, val)
    if rng.random() < 0.6:
        c2 = hsv(
            hue + rng.uniform(-0.08, 0.08),
            float(np.clip(sat + rng.uniform(-0.3, 0.3), 0.0, 1.0)),
            float(np.clip(val + rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.5), 0.05, 1.0)),
        )
    else:
        c2 = hsv(rng.uniform(0.0, 1.0), rng.uniform(0.05, 0.9), rng.uniform(0.2, 0.95))
    return c1, c2


def similar_palette(rng: np.random.Generator, palette: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The background's colours, slightly shifted: a hard but not invisible object."""
    jitter = rng.normal(0.0, 12.0, (2, 3)).astype(np.float32)
    return (
        np.clip(palette[0] + jitter[0], 0.0, 255.0),
        np.clip(palette[1] + jitter[1], 0.0, 255.0),
    )

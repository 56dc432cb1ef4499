"""Pictures for people: colourised depth, saliency overlays, side-by-side panels (OpenCV only)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["colorize_depth", "overlay_saliency", "side_by_side"]


def colorize_depth(depth: np.ndarray, depth_scale: float = 0.001, max_m: float = 5.0) -> np.ndarray:
    """Raw depth → (H, W, 3) uint8 RGB, near = warm, invalid = black."""
    metres = depth.astype(np.float32) * depth_scale
    norm = np.clip(1.0 - metres / max_m, 0.0, 1.0)
    rgb = cv2.cvtColor(cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    rgb[depth == 0] = 0
    return rgb


def overlay_saliency(rgb: np.ndarray, saliency: np.ndarray, color: tuple[int, int, int] = (255, 32, 32)) -> np.ndarray:
    """Tint ``rgb`` by a saliency map in [0, 1] (resized to the image) and outline the 0.5 contour."""
    h, w = rgb.shape[:2]
    if saliency.shape != (h, w):
        saliency = cv2.resize(saliency.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = (0.6 * np.clip(saliency, 0.0, 1.0))[..., None]
    out = (rgb.astype(np.float32) * (1 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)
    contours, _ = cv2.findContours((saliency > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


def side_by_side(panels: list[np.ndarray], height: int | None = None, gap: int = 4) -> np.ndarray:
    """Concatenate RGB (or single-channel) panels horizontally at a common height."""
    height = height or max(p.shape[0] for p in panels)
    resized = []
    for p in panels:
        if p.ndim == 2:
            p = cv2.cvtColor(p, cv2.COLOR_GRAY2RGB)
        w = round(p.shape[1] * height / p.shape[0])
        resized.append(cv2.resize(p, (w, height), interpolation=cv2.INTER_AREA))
        resized.append(np.full((height, gap, 3), 255, np.uint8))
    return np.concatenate(resized[:-1], axis=1)

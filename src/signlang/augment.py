"""Per-image random augmentation of whole batches on the training device.

torchvision.transforms.v2 draws one set of random parameters per call, so on an (N, C, H, W) batch
every image would get the same warp. Here each image gets its own affine matrix (rotation, scale,
translation) applied with ``affine_grid`` + ``grid_sample`` in one call for the batch, and its own
brightness and contrast factors, all drawn from a seeded generator.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from signlang.normalization import Normalization
from signlang.params import AugmentParams


def affine_matrices(angles_deg: torch.Tensor, scales: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """(N, 2, 3) matrices for ``affine_grid``: rotate by ``angles_deg`` counter-clockwise on screen,
    zoom by ``scales`` (> 1 enlarges the content) and move by ``shifts`` (N, 2) in fractions of the
    image size (x right, y down). They map output pixel coordinates to input coordinates."""
    radians = torch.deg2rad(angles_deg)
    cos, sin = torch.cos(radians) / scales, torch.sin(radians) / scales
    # the inverse of the content's turn: with y pointing down, [[cos, -sin], [sin, cos]] turns
    # points clockwise on screen, which turns the sampled content counter-clockwise
    rotation = torch.stack([torch.stack([cos, -sin], dim=1), torch.stack([sin, cos], dim=1)], dim=1)  # (N, 2, 2)
    # normalized coordinates span [-1, 1]: a shift of a fraction f of the image is 2f; the inverse
    # map moves the sampling point the other way
    offset = -torch.bmm(rotation, (2.0 * shifts).unsqueeze(2))  # (N, 2, 1)
    return torch.cat([rotation, offset], dim=2)


def warp(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Resample images (N, C, H, W) through per-image matrices; pixels from outside repeat the border."""
    grid = F.affine_grid(matrices.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def adjust_brightness_contrast(
    images: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, normalization: Normalization
) -> torch.Tensor:
    """On [0, 1] pixels: ``x -> clamp((x - m) * contrast + m) * brightness``, m the image's mean,
    clamped to [0, 1]; ``images`` and the result are normalized as in training."""
    pixels = normalization.to_unit(images)  # (N, 1, H, W) in [0, 1]
    means = pixels.mean(dim=(1, 2, 3), keepdim=True)
    contrast, brightness = contrast.view(-1, 1, 1, 1), brightness.view(-1, 1, 1, 1)
    pixels = ((pixels - means) * contrast + means) * brightness
    return normalization.from_unit(pixels.clamp(0.0, 1.0))


class BatchAugmenter:
    """Draws per-image parameters from its own seeded CPU generator (so a seed gives the same
    augmentation on CPU and GPU) and applies them to a batch on its device."""

    def __init__(self, params: AugmentParams, normalization: Normalization, seed: int) -> None:
        self.params = params
        self.normalization = normalization
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, n: int, half_width: float, center: float = 0.0) -> torch.Tensor:
        """``n`` draws from U(center - half_width, center + half_width)."""
        return center + (2.0 * torch.rand(n, generator=self.generator) - 1.0) * half_width

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if not self.params.enabled:
            return images
        n, p = len(images), self.params
        matrices = affine_matrices(
            self._uniform(n, p.rotation),
            self._uniform(n, p.scale, center=1.0),
            torch.stack([self._uniform(n, p.translation), self._uniform(n, p.translation)], dim=1),
        )
        brightness = self._uniform(n, p.brightness, center=1.0)
        contrast = self._uniform(n, p.contrast, center=1.0)
        device = images.device
        warped = warp(images, matrices.to(device))
        return adjust_brightness_contrast(warped, brightness.to(device), contrast.to(device), self.normalization)

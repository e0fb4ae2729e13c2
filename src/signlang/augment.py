"""Per-image random augmentation of whole batches on the training device.

torchvision.transforms.v2 draws one set of random parameters per call, so on an (N, C, H, W) batch
every image would get the same warp. Here each image gets its own affine matrix (rotation, scale,
translation) applied with ``affine_grid`` + ``grid_sample`` in one call for the batch, and its own
brightness and contrast factors, all drawn from a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from signlang.normalization import Normalization
from signlang.params import AugmentParams


def affine_matrices(
    angles_deg: torch.Tensor, scales: torch.Tensor, shifts: torch.Tensor, mirrored: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, 2, 3) matrices for ``affine_grid``: mirror left-right where ``mirrored`` (N,) is True, rotate
    by ``angles_deg`` counter-clockwise on screen, zoom by ``scales`` (> 1 enlarges the content) and move
    by ``shifts`` (N, 2) in fractions of the image size (x right, y down). They map output pixel
    coordinates to input coordinates."""
    radians = torch.deg2rad(angles_deg)
    cos, sin = torch.cos(radians) / scales, torch.sin(radians) / scales
    # the inverse of the content's turn: with y pointing down, [[cos, -sin], [sin, cos]] turns
    # points clockwise on screen, which turns the sampled content counter-clockwise
    rotation = torch.stack([torch.stack([cos, -sin], dim=1), torch.stack([sin, cos], dim=1)], dim=1)  # (N, 2, 2)
    if mirrored is not None:  # the mirror comes first on the content, so last in the inverse: x -> -x
        flip = torch.ones(len(cos), 2, 1, dtype=rotation.dtype)
        flip[mirrored, 0] = -1.0
        rotation = rotation * flip
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


@dataclass(frozen=True)
class Draws:
    """Augmentation drawn for a run of images: per image an affine matrix, a brightness and a contrast factor."""

    matrices: torch.Tensor  # (N, 2, 3)
    brightness: torch.Tensor  # (N,)
    contrast: torch.Tensor  # (N,)

    def __getitem__(self, rows: slice) -> Draws:
        return Draws(self.matrices[rows], self.brightness[rows], self.contrast[rows])

    def to(self, device: torch.device) -> Draws:
        tensors = (self.matrices, self.brightness, self.contrast)
        return Draws(*(tensor.to(device, non_blocking=True) for tensor in tensors))


class BatchAugmenter:
    """Draws per-image parameters from its own seeded CPU generator (so a seed gives the same
    augmentation on CPU and GPU) and applies them to batches on their device. The training loop draws
    a whole epoch's parameters at once and copies them to the device once, not a copy every batch."""

    def __init__(self, params: AugmentParams, normalization: Normalization, seed: int) -> None:
        self.params = params
        self.normalization = normalization
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, n: int, half_width: float, center: float = 0.0) -> torch.Tensor:
        """``n`` draws from U(center - half_width, center + half_width)."""
        return center + (2.0 * torch.rand(n, generator=self.generator) - 1.0) * half_width

    def draw(self, n: int, device: torch.device) -> Draws | None:
        """Parameters for ``n`` images, on ``device``; None when augmentation is off."""
        if not self.params.enabled:
            return None
        p = self.params
        angles = self._uniform(n, p.rotation)
        scales = self._uniform(n, p.scale, center=1.0)
        shifts = torch.stack([self._uniform(n, p.translation), self._uniform(n, p.translation)], dim=1)
        brightness = self._uniform(n, p.brightness, center=1.0)
        contrast = self._uniform(n, p.contrast, center=1.0)
        mirrored = torch.rand(n, generator=self.generator) < 0.5 if p.mirror else None
        return Draws(affine_matrices(angles, scales, shifts, mirrored), brightness, contrast).to(device)

    def apply(self, images: torch.Tensor, draws: Draws | None) -> torch.Tensor:
        """Warp, then adjust, each image (N, 1, H, W) with its own row of ``draws``."""
        if draws is None:
            return images
        warped = warp(images, draws.matrices)
        return adjust_brightness_contrast(warped, draws.brightness, draws.contrast, self.normalization)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """One batch, with parameters drawn for it."""
        return self.apply(images, self.draw(len(images), images.device))

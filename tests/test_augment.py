from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from signlang.augment import BatchAugmenter, adjust_brightness_contrast, affine_matrices, warp
from signlang.normalization import Normalization
from signlang.params import AugmentParams, TrainParams

from helpers import project_params

NORM = Normalization(mean=0.5, std=0.25)
ON = project_params(TrainParams, "train").augment  # the project's augmentation
OFF = AugmentParams(enabled=False, mirror=False, rotation=0, translation=0, scale=0, brightness=0, contrast=0)


def bar_images(n: int = 1, bar: float = 0.9) -> torch.Tensor:
    """(n, 1, 28, 28) normalized images of a bright horizontal bar, 16 px long and 2 px thick, centred."""
    pixels = torch.full((n, 1, 28, 28), 0.1)
    pixels[:, :, 13:15, 6:22] = bar
    return (pixels - NORM.mean) / NORM.std


def bar_geometry(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: orientation in degrees (counter-clockwise on screen), centre (x, y) in pixels,
    and the standard deviation along the main axis, from intensity moments above the background."""
    weights = (images[:, 0] * NORM.std + NORM.mean - 0.1).clamp(min=0)  # (N, 28, 28)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = weights.sum(dim=(1, 2))
    cx = (weights * xs).sum(dim=(1, 2)) / total
    cy = (weights * ys).sum(dim=(1, 2)) / total
    dx, dy = xs - cx.view(-1, 1, 1), -(ys - cy.view(-1, 1, 1))  # y up, as on a plot
    sxx = (weights * dx * dx).sum(dim=(1, 2)) / total
    syy = (weights * dy * dy).sum(dim=(1, 2)) / total
    sxy = (weights * dx * dy).sum(dim=(1, 2)) / total
    angle = 0.5 * torch.atan2(2 * sxy, sxx - syy)
    major = 0.5 * (sxx + syy) + torch.sqrt(0.25 * (sxx - syy) ** 2 + sxy**2)
    return torch.rad2deg(angle), torch.stack([cx, cy], dim=1), torch.sqrt(major)


def test_a_rotated_bar_has_the_expected_angle() -> None:
    angles = torch.tensor([-30.0, 0.0, 15.0, 30.0])
    matrices = affine_matrices(angles, torch.ones(4), torch.zeros(4, 2))
    measured, centres, _ = bar_geometry(warp(bar_images(4), matrices))
    torch.testing.assert_close(measured, angles, atol=1.0, rtol=0)
    torch.testing.assert_close(centres, torch.full((4, 2), 13.5), atol=0.3, rtol=0)


def test_translation_moves_the_bar_by_the_fraction_of_the_image() -> None:
    shifts = torch.tensor([[0.1, 0.0], [0.0, -0.1]])
    _, centres, _ = bar_geometry(warp(bar_images(2), affine_matrices(torch.zeros(2), torch.ones(2), shifts)))
    expected = torch.tensor([[13.5 + 2.8, 13.5], [13.5, 13.5 - 2.8]])
    torch.testing.assert_close(centres, expected, atol=0.3, rtol=0)


def test_scale_lengthens_the_bar() -> None:
    scales = torch.tensor([1.0, 1.2])
    _, _, spread = bar_geometry(warp(bar_images(2), affine_matrices(torch.zeros(2), scales, torch.zeros(2, 2))))
    assert spread[1] / spread[0] == pytest.approx(1.2, abs=0.03)


def test_brightness_and_contrast_scale_the_pixels() -> None:
    images = bar_images(2, bar=0.7)  # stays below 1 when 20% brighter: no clamping
    out = adjust_brightness_contrast(images, torch.tensor([1.2, 1.0]), torch.tensor([1.0, 0.5]), NORM)
    before, after = images * NORM.std + NORM.mean, out * NORM.std + NORM.mean
    assert after[0].mean().item() == pytest.approx(1.2 * before[0].mean().item(), rel=1e-5)
    assert after[1].std().item() == pytest.approx(0.5 * before[1].std().item(), rel=1e-5)
    assert after[1].mean().item() == pytest.approx(before[1].mean().item(), rel=1e-5)


def test_augmentation_is_deterministic_for_a_seed() -> None:
    images = bar_images(8)
    first = BatchAugmenter(ON, NORM, seed=3)(images)
    torch.testing.assert_close(BatchAugmenter(ON, NORM, seed=3)(images), first, rtol=0, atol=0)
    assert not torch.equal(BatchAugmenter(ON, NORM, seed=4)(images), first)


def test_augmentation_off_passes_batches_through_unchanged() -> None:
    images = bar_images(4)
    assert BatchAugmenter(dataclasses.replace(ON, enabled=False), NORM, seed=0)(images) is images


def test_each_image_gets_its_own_draw_within_the_configured_ranges() -> None:
    params = dataclasses.replace(OFF, enabled=True, rotation=10)
    angles, centres, _ = bar_geometry(BatchAugmenter(params, NORM, seed=0)(bar_images(256)))
    assert angles.abs().max().item() <= 10.5
    assert angles.std().item() == pytest.approx(10 / math.sqrt(3), rel=0.2)  # uniform on [-10, 10]
    torch.testing.assert_close(centres, torch.full((256, 2), 13.5), atol=0.3, rtol=0)

"""Typed, validated views of params.yaml, one frozen dataclass per stage section."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from signlang.errors import SignlangError

DEVICES = ("auto", "cpu", "cuda")
SCHEDULES = ("constant", "onecycle", "cosine")


@dataclass(frozen=True)
class PrepareParams:
    val_fraction: float = 0.1
    seed: int = 0

    def check(self) -> None:
        _require(0.0 < self.val_fraction < 1.0, "prepare.val_fraction", "a number in (0, 1)", self.val_fraction)
        _require(self.seed >= 0, "prepare.seed", "an integer >= 0", self.seed)


@dataclass(frozen=True)
class AugmentParams:
    """Per-image random augmentation; each value is the half-width of a uniform range."""

    enabled: bool = False
    rotation: float = 0.0  # degrees: angle in [-rotation, rotation]
    translation: float = 0.0  # fraction of the image size, each axis
    scale: float = 0.0  # zoom factor in [1 - scale, 1 + scale]
    brightness: float = 0.0  # pixel factor in [1 - brightness, 1 + brightness]
    contrast: float = 0.0  # contrast factor in [1 - contrast, 1 + contrast]

    def check(self) -> None:
        _require(0.0 <= self.rotation <= 180.0, "train.augment.rotation", "degrees in [0, 180]", self.rotation)
        for key in ("translation", "scale", "brightness", "contrast"):
            value = getattr(self, key)
            _require(0.0 <= value < 1.0, f"train.augment.{key}", "a number in [0, 1)", value)


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    deterministic: bool = False
    schedule: str = "constant"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: AugmentParams = AugmentParams()

    def check(self) -> None:
        _require(self.epochs >= 1, "train.epochs", "an integer >= 1", self.epochs)
        _require(self.batch_size >= 1, "train.batch_size", "an integer >= 1", self.batch_size)
        _require(self.lr > 0.0, "train.lr", "a number > 0", self.lr)
        _require(self.seed >= 0, "train.seed", "an integer >= 0", self.seed)
        _require(self.device in DEVICES, "train.device", " or ".join(DEVICES), self.device)
        _require(self.schedule in SCHEDULES, "train.schedule", " or ".join(SCHEDULES), self.schedule)
        _require(self.weight_decay >= 0.0, "train.weight_decay", "a number >= 0", self.weight_decay)
        _require(0.0 <= self.label_smoothing < 1.0, "train.label_smoothing", "a number in [0, 1)", self.label_smoothing)


P = TypeVar("P", PrepareParams, TrainParams, AugmentParams)


def load_params(path: Path, section: str, cls: type[P]) -> P:
    """Read ``section`` of the YAML file at ``path`` into ``cls``, rejecting unknown keys and bad values."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SignlangError(f"{path}: cannot read params: {error}".splitlines()[0]) from error
    values = document.get(section, {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SignlangError(f"{path}: section '{section}' must be a mapping of keys to values")
    return params_from_dict(values, section, cls)


def params_from_dict(values: dict[str, Any], section: str, cls: type[P]) -> P:
    hints = typing.get_type_hints(cls)
    names = [field.name for field in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            raise SignlangError(f"params: unknown key '{section}.{key}'; allowed keys: {', '.join(names)}")
    coerced = {key: _coerce(value, hints[key], f"{section}.{key}") for key, value in values.items()}
    params = cls(**coerced)
    params.check()
    return params


def _coerce(value: Any, expected: type, key: str) -> Any:
    if dataclasses.is_dataclass(expected):
        if not isinstance(value, dict):
            raise SignlangError(f"params: '{key}' must be a mapping of keys to values, got {value!r}")
        return params_from_dict(value, key, expected)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise SignlangError(f"params: '{key}' must be {expected.__name__}, got {value!r}")


def _require(ok: bool, key: str, allowed: str, value: Any) -> None:
    if not ok:
        raise SignlangError(f"params: '{key}' must be {allowed}, got {value!r}")

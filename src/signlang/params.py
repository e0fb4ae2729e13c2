"""Typed, validated views of params.yaml, one frozen dataclass per stage section, with no defaults:
params.yaml is the one place the recipe is written."""

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
VAL_SPLITS = ("random", "grouped")  # val drawn image by image, or as whole groups of near-duplicates
KEEPS = ("best", "last")  # the epoch train keeps: the best on val (ties to the later one), or the last


@dataclass(frozen=True)
class PrepareParams:
    val_fraction: float
    val_split: str  # random: images one by one; grouped: whole groups of one photo's variants (near-duplicates)
    seed: int  # the train/val split and the photo crops' jitter
    photo_crops: int  # framed crops per photo: the first as `signlang predict` frames it, the rest jittered
    crop_scale: float  # jitter of the square's side: a factor in [1 - crop_scale, 1 + crop_scale]
    crop_shift: float  # jitter of its centre, each axis: a fraction of the side in [-crop_shift, crop_shift]

    def check(self) -> None:
        _require(0.0 < self.val_fraction < 1.0, "prepare.val_fraction", "a number in (0, 1)", self.val_fraction)
        _require(self.val_split in VAL_SPLITS, "prepare.val_split", " or ".join(VAL_SPLITS), self.val_split)
        _require(self.seed >= 0, "prepare.seed", "an integer >= 0", self.seed)
        _require(self.photo_crops >= 1, "prepare.photo_crops", "an integer >= 1", self.photo_crops)
        _require(0.0 <= self.crop_scale < 1.0, "prepare.crop_scale", "a number in [0, 1)", self.crop_scale)
        _require(0.0 <= self.crop_shift < 1.0, "prepare.crop_shift", "a number in [0, 1)", self.crop_shift)


@dataclass(frozen=True)
class LandmarksParams:
    mediapipe: str  # the mediapipe version the landmarks are extracted with: a new one re-extracts them

    def check(self) -> None:
        _require(bool(self.mediapipe.strip()), "landmarks.mediapipe", "a version such as '0.10.14'", self.mediapipe)


@dataclass(frozen=True)
class AugmentParams:
    """Per-image random augmentation; each value is the half-width of a uniform range."""

    enabled: bool
    mirror: bool  # flip left-right with probability 1/2: a left hand's letter is the right hand's mirrored
    rotation: float  # degrees: angle in [-rotation, rotation]
    translation: float  # fraction of the image size, each axis
    scale: float  # zoom factor in [1 - scale, 1 + scale]
    brightness: float  # pixel factor in [1 - brightness, 1 + brightness]
    contrast: float  # contrast factor in [1 - contrast, 1 + contrast]

    def check(self) -> None:
        _require(0.0 <= self.rotation <= 180.0, "train.augment.rotation", "degrees in [0, 180]", self.rotation)
        for key in ("translation", "scale", "brightness", "contrast"):
            value = getattr(self, key)
            _require(0.0 <= value < 1.0, f"train.augment.{key}", "a number in [0, 1)", value)


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    batch_size: int
    lr: float
    seed: int
    device: str
    amp: bool
    deterministic: bool
    schedule: str
    weight_decay: float
    label_smoothing: float
    dropout: float  # on the last conv block's features, during training only
    photo_share: float  # share of each epoch's images that are photo crops, beside every Kaggle image; 0: none
    extra_weight: float  # a photo of yours (data/extra) is drawn this many times as often as another photo
    keep: str  # the epoch whose weights are kept: best (val accuracy; ties go to the later epoch) or last
    augment: AugmentParams

    def check(self) -> None:
        _require(self.epochs >= 1, "train.epochs", "an integer >= 1", self.epochs)
        _require(self.batch_size >= 1, "train.batch_size", "an integer >= 1", self.batch_size)
        _require(self.lr > 0.0, "train.lr", "a number > 0", self.lr)
        _require(self.seed >= 0, "train.seed", "an integer >= 0", self.seed)
        _require(self.device in DEVICES, "train.device", " or ".join(DEVICES), self.device)
        _require(self.schedule in SCHEDULES, "train.schedule", " or ".join(SCHEDULES), self.schedule)
        _require(self.weight_decay >= 0.0, "train.weight_decay", "a number >= 0", self.weight_decay)
        _require(0.0 <= self.label_smoothing < 1.0, "train.label_smoothing", "a number in [0, 1)", self.label_smoothing)
        _require(0.0 <= self.dropout < 1.0, "train.dropout", "a number in [0, 1)", self.dropout)
        _require(0.0 <= self.photo_share < 1.0, "train.photo_share", "a number in [0, 1)", self.photo_share)
        _require(self.extra_weight > 0.0, "train.extra_weight", "a number > 0", self.extra_weight)
        _require(self.keep in KEEPS, "train.keep", " or ".join(KEEPS), self.keep)


@dataclass(frozen=True)
class HandsAugmentParams:
    """Per-hand random augmentation of canonical landmarks (lengths in palms), a fresh draw each epoch."""

    rotation: float  # degrees about the wrist, in the image plane: angle in [-rotation, rotation]
    stretch: float  # along a random image axis: factor in [1 - stretch, 1 + stretch]
    jitter: float  # Gaussian noise on every joint, its std in palms
    mirror: float  # probability of flipping the hand to the other hand

    def check(self) -> None:
        _require(0.0 <= self.rotation <= 180.0, "hands.augment.rotation", "degrees in [0, 180]", self.rotation)
        _require(0.0 <= self.stretch < 1.0, "hands.augment.stretch", "a number in [0, 1)", self.stretch)
        _require(self.jitter >= 0.0, "hands.augment.jitter", "a number >= 0", self.jitter)
        _require(0.0 <= self.mirror <= 1.0, "hands.augment.mirror", "a probability in [0, 1]", self.mirror)


@dataclass(frozen=True)
class HandsParams:
    width: int  # units in each of HandNet's two hidden layers
    dropout: float
    epochs: int
    batch_size: int
    lr: float  # AdamW, the peak of a one-cycle schedule
    weight_decay: float
    label_smoothing: float
    extra_weight: int  # each of your photos (data/extra) is drawn this many times an epoch
    seed: int
    device: str
    fusion_weight: float  # the fused answer: w log p(HandNet) + (1 - w) log p(SignConvNet), where a hand is found
    augment: HandsAugmentParams

    def check(self) -> None:
        _require(self.width >= 1, "hands.width", "an integer >= 1", self.width)
        _require(0.0 <= self.dropout < 1.0, "hands.dropout", "a number in [0, 1)", self.dropout)
        _require(self.epochs >= 1, "hands.epochs", "an integer >= 1", self.epochs)
        _require(self.batch_size >= 1, "hands.batch_size", "an integer >= 1", self.batch_size)
        _require(self.lr > 0.0, "hands.lr", "a number > 0", self.lr)
        _require(self.weight_decay >= 0.0, "hands.weight_decay", "a number >= 0", self.weight_decay)
        _require(0.0 <= self.label_smoothing < 1.0, "hands.label_smoothing", "a number in [0, 1)", self.label_smoothing)
        _require(self.extra_weight >= 1, "hands.extra_weight", "an integer >= 1", self.extra_weight)
        _require(self.seed >= 0, "hands.seed", "an integer >= 0", self.seed)
        _require(self.device in DEVICES, "hands.device", " or ".join(DEVICES), self.device)
        _require(0.0 <= self.fusion_weight <= 1.0, "hands.fusion_weight", "a number in [0, 1]", self.fusion_weight)


@dataclass(frozen=True)
class PhotosParams:
    score: list[str]  # the landmark sets evaluate_photos scores (names of dvc.yaml's photo_sets), each per source

    def check(self) -> None:
        _require(len(self.score) >= 1, "photos.score", "a list of photo sets", self.score)


P = TypeVar("P", PrepareParams, TrainParams, AugmentParams, LandmarksParams, HandsParams, HandsAugmentParams,
            PhotosParams)
SECTIONS: dict[str, type] = {"prepare": PrepareParams, "train": TrainParams, "landmarks": LandmarksParams,
                             "hands": HandsParams, "photos": PhotosParams}  # params.yaml's sections


def load_params(path: Path, section: str, cls: type[P]) -> P:
    """Read ``section`` of the YAML file at ``path`` into ``cls``. Every key must be there (the code holds
    no second set of defaults), and no other; values must have the right type and range."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SignlangError(f"{path}: cannot read params: {error}".splitlines()[0]) from error
    if not isinstance(document, dict) or section not in document:
        raise SignlangError(f"{path}: missing key '{section}'")
    return params_from_dict(document[section], section, cls, path)


def params_from_dict(values: Any, section: str, cls: type[P], path: Path) -> P:
    if not isinstance(values, dict):
        raise SignlangError(f"{path}: '{section}' must be a mapping of keys to values, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [field.name for field in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            raise SignlangError(f"{path}: unknown key '{section}.{key}'; allowed keys: {', '.join(names)}")
    for name in names:
        if name not in values:
            raise SignlangError(f"{path}: missing key '{section}.{name}'")
    params = cls(**{key: _coerce(value, hints[key], f"{section}.{key}", path) for key, value in values.items()})
    try:
        params.check()
    except SignlangError as error:
        raise SignlangError(f"{path}: {error}") from None
    return params


def _coerce(value: Any, expected: type, key: str, path: Path) -> Any:
    if dataclasses.is_dataclass(expected):
        return params_from_dict(value, key, expected, path)
    if typing.get_origin(expected) is list:
        (item,) = typing.get_args(expected)
        if isinstance(value, list) and all(isinstance(entry, item) for entry in value):
            return value
        raise SignlangError(f"{path}: '{key}' must be a list of {item.__name__}, got {value!r}")
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise SignlangError(f"{path}: '{key}' must be {expected.__name__}, got {value!r}")


def _require(ok: bool, key: str, allowed: str, value: Any) -> None:
    if not ok:
        raise SignlangError(f"'{key}' must be {allowed}, got {value!r}")

from __future__ import annotations

from pathlib import Path

import pytest

from signlang.errors import SignlangError
from signlang.params import PrepareParams, TrainParams, load_params

PROJECT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def test_project_params_load() -> None:
    assert load_params(PROJECT_PARAMS, "prepare", PrepareParams).val_fraction == 0.1
    train = load_params(PROJECT_PARAMS, "train", TrainParams)
    assert train.batch_size == 128 and train.augment.enabled and train.augment.rotation == 10.0


def test_nested_augment_params_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: {augment: {rotation: 200}}", encoding="utf-8")
    with pytest.raises(SignlangError, match=r"'train.augment.rotation' must be degrees in \[0, 180\], got 200.0"):
        load_params(path, "train", TrainParams)
    path.write_text("train: {augment: {shear: 3}}", encoding="utf-8")
    with pytest.raises(SignlangError, match="unknown key 'train.augment.shear'"):
        load_params(path, "train", TrainParams)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: {lr: -1}", "'train.lr' must be a number > 0, got -1.0"),
        ("train: {epochs: 0}", "'train.epochs' must be an integer >= 1, got 0"),
        ("train: {epochs: 2.5}", "'train.epochs' must be int, got 2.5"),
        ("train: {epochs: true}", "'train.epochs' must be int, got True"),
        ("train: {device: tpu}", "'train.device' must be auto or cpu or cuda, got 'tpu'"),
        ("train: {learning_rate: 0.1}", "unknown key 'train.learning_rate'"),
        ("train: [1, 2]", "section 'train' must be a mapping"),
    ],
)
def test_bad_params_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SignlangError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_params(path, "train", TrainParams)


def test_val_fraction_must_be_inside_zero_one(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("prepare: {val_fraction: 1.0}", encoding="utf-8")
    with pytest.raises(SignlangError, match=r"'prepare.val_fraction' must be a number in \(0, 1\)"):
        load_params(path, "prepare", PrepareParams)

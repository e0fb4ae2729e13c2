from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from signlang.data import prepare
from signlang.device import select_device
from signlang.errors import SignlangError
from signlang.model import SignConvNet
from signlang.normalization import Normalization
from signlang.params import PrepareParams, TrainParams
from signlang.training import EpochRecord, fit, is_better, train, training_set

from helpers import make_split, project_params, hand_landmarks


def arrays(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    labels, pixels = make_split(per_class, seed)
    return Normalization(0.3, 0.3).to_model_input(pixels), labels


def tensors(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = arrays(per_class, seed)
    return torch.from_numpy(images), torch.from_numpy(labels)


NO_PHOTOS = (np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, np.int64))


def test_a_short_run_on_tiny_data_lowers_the_loss() -> None:
    torch.manual_seed(0)
    params = project_params(TrainParams, "train", epochs=4, batch_size=16, lr=3e-3, seed=0, device="cpu")
    data = training_set(arrays(24, seed=1), NO_PHOTOS, NO_PHOTOS, params, torch.device("cpu"))
    result = fit(SignConvNet(), data, tensors(6, seed=2), params, Normalization(0.3, 0.3))
    losses = [record.train_loss for record in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.best.val_accuracy == 1.0
    assert len(result.epoch_seconds) == 4


def test_ties_in_val_accuracy_go_to_the_later_epoch_and_last_keeps_every_later_epoch() -> None:
    first = EpochRecord(epoch=1, train_loss=0.5, val_loss=0.1, val_accuracy=1.0)
    later = EpochRecord(epoch=2, train_loss=0.3, val_loss=0.2, val_accuracy=1.0)
    worse = EpochRecord(epoch=3, train_loss=0.1, val_loss=0.01, val_accuracy=0.99)
    assert is_better(first, None, "best") and is_better(later, first, "best") and not is_better(worse, later, "best")
    assert is_better(worse, later, "last")


def test_cuda_without_a_gpu_is_an_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SignlangError, match="train.device"):
        select_device("cuda")
    assert select_device("auto").type == "cpu"


def test_train_stage_writes_model_metrics_and_curves(
    raw_dir: Path, photos_dir: Path, extra_dir: Path, tmp_path: Path
) -> None:
    prepared = tmp_path / "prepared"
    prepare(raw_dir=raw_dir, photos_dir=photos_dir, extra_dir=extra_dir, **hand_landmarks(photos_dir, extra_dir, tmp_path / "landmarks"), out_dir=prepared,
            params=project_params(PrepareParams, "prepare", val_fraction=0.25, photo_crops=2))
    out = tmp_path / "out"
    params = project_params(TrainParams, "train", epochs=2, batch_size=32, seed=0, device="cpu", dropout=0.3)
    train(prepared_dir=prepared, model=out / "model.pt", metrics=out / "train.json", loss_plot=out / "loss.json",
          timing=out / "time.json", params=params)
    curves = json.loads((out / "loss.json").read_text())
    assert [row["epoch"] for row in curves] == [1, 2]
    assert set(curves[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy"}
    metrics = json.loads((out / "train.json").read_text())
    assert metrics["parameters"] == 105_082 and metrics["device"] == "cpu"
    assert metrics["best_epoch"] in (1, 2) and "seconds_per_epoch" not in metrics
    timing = json.loads((out / "time.json").read_text())
    assert timing["seconds_per_epoch"] > 0 and len(timing["epoch_seconds"]) == 2
    assert (out / "model.pt").stat().st_size > 400_000
    assert torch.load(out / "model.pt", weights_only=True)["dropout"] == 0.3  # train.dropout, not the class default


def test_an_epoch_draws_photo_share_crops_and_weighs_your_photos() -> None:
    kaggle = (np.zeros((700, 1, 28, 28), np.float32), np.zeros(700, np.int64))
    photos = (np.zeros((50, 1, 28, 28), np.float32), np.ones(50, np.int64))
    extra = (np.zeros((5, 1, 28, 28), np.float32), np.full(5, 2, np.int64))
    params = project_params(TrainParams, "train", photo_share=0.3, extra_weight=10.0)
    data = training_set(kaggle, photos, extra, params, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    orders = [data.epoch_order(generator) for _ in range(20)]
    assert all(len(order) == 1000 for order in orders)  # 700 Kaggle images and 300 crops: 30% crops
    assert all(sorted(order[order < 700].tolist()) == list(range(700)) for order in orders)  # each Kaggle image once
    labels = torch.cat([data.labels[order] for order in orders])
    per_photo = (labels == 1).sum().item() / 50
    per_extra = (labels == 2).sum().item() / 5
    assert 7 < per_extra / per_photo < 14  # extra_weight 10

    only_kaggle = training_set(kaggle, photos, extra, dataclasses.replace(params, photo_share=0.0), torch.device("cpu"))
    order = only_kaggle.epoch_order(torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(700))

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from signlang.data import prepare
from signlang.device import select_device
from signlang.errors import SignlangError
from signlang.model import SignConvNet
from signlang.normalization import Normalization
from signlang.params import PrepareParams, TrainParams
from signlang.training import EpochRecord, fit, is_better, train

from helpers import make_split, project_params


def tensors(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    labels, pixels = make_split(per_class, seed)
    images = torch.from_numpy(pixels).float().div(255).sub(0.3).div(0.3).reshape(-1, 1, 28, 28)
    return images, torch.from_numpy(labels)


def test_a_short_run_on_tiny_data_lowers_the_loss() -> None:
    torch.manual_seed(0)
    params = project_params(TrainParams, "train", epochs=4, batch_size=16, lr=3e-3, seed=0, device="cpu")
    result = fit(SignConvNet(), tensors(24, seed=1), tensors(6, seed=2), params, Normalization(0.3, 0.3))
    losses = [record.train_loss for record in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.best.val_accuracy == 1.0
    assert len(result.epoch_seconds) == 4


def test_ties_in_val_accuracy_go_to_the_later_epoch() -> None:
    first = EpochRecord(epoch=1, train_loss=0.5, val_loss=0.1, val_accuracy=1.0)
    later = EpochRecord(epoch=2, train_loss=0.3, val_loss=0.2, val_accuracy=1.0)
    worse = EpochRecord(epoch=3, train_loss=0.1, val_loss=0.01, val_accuracy=0.99)
    assert is_better(first, None) and is_better(later, first) and not is_better(worse, later)


def test_cuda_without_a_gpu_is_an_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SignlangError, match="train.device"):
        select_device("cuda")
    assert select_device("auto").type == "cpu"


def test_train_stage_writes_model_metrics_and_curves(raw_dir: Path, tmp_path: Path) -> None:
    prepared = tmp_path / "prepared"
    prepare(raw_dir=raw_dir, out_dir=prepared, params=project_params(PrepareParams, "prepare", val_fraction=0.25))
    out = tmp_path / "out"
    params = project_params(TrainParams, "train", epochs=2, batch_size=32, seed=0, device="cpu")
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

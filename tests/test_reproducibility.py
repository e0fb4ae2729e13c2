"""Two runs of the train stage with the same params on CPU write the same metrics and the same weights."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from signlang import training
from signlang.data import prepare
from signlang.params import PrepareParams

from helpers import PROJECT, load_stage, project_params, set_param, hand_landmarks

TRAIN_STAGE = load_stage("train")


@pytest.fixture(autouse=True)
def restore_determinism() -> Iterator[None]:
    """The train stage sets torch's process-wide deterministic flag; put it back for the other tests."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


@pytest.fixture
def prepared(raw_dir: Path, photos_dir: Path, extra_dir: Path, tmp_path: Path) -> Path:
    prepare(raw_dir=raw_dir, photos_dir=photos_dir, extra_dir=extra_dir, **hand_landmarks(photos_dir, extra_dir, tmp_path / "landmarks"), out_dir=tmp_path / "prepared",
            params=project_params(PrepareParams, "prepare", val_fraction=0.25, photo_crops=2))
    return tmp_path / "prepared"


def run_train(prepared: Path, out: Path, seed: int = 0, deterministic: bool = False) -> Path:
    out.mkdir()
    shutil.copy(PROJECT / "params.yaml", out / "params.yaml")  # the project's recipe, made small and CPU-only
    small = {"epochs": 2, "batch_size": 32, "seed": seed, "device": "cpu", "deterministic": deterministic}
    for key, value in small.items():
        set_param(out, "train", key, value)
    argv = ["--prepared-dir", str(prepared), "--model", str(out / "model.pt"), "--metrics", str(out / "train.json"),
            "--loss-plot", str(out / "loss.json"), "--timing", str(out / "time.json"),
            "--params", str(out / "params.yaml")]
    assert TRAIN_STAGE.main(argv) == 0
    return out


def same_weights(a: Path, b: Path) -> bool:
    first, second = (torch.load(path, map_location="cpu", weights_only=True) for path in (a, b))
    assert first.keys() == second.keys() and first["state_dict"].keys() == second["state_dict"].keys()
    assert first | {"state_dict": None} == second | {"state_dict": None}  # the same plain values
    return all(torch.equal(first["state_dict"][name], second["state_dict"][name]) for name in first["state_dict"])


def test_two_cpu_runs_give_identical_metrics_and_checkpoints(prepared: Path, tmp_path: Path) -> None:
    one = run_train(prepared, tmp_path / "one")
    two = run_train(prepared, tmp_path / "two")
    for name in ("train.json", "loss.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert same_weights(one / "model.pt", two / "model.pt")

    other_seed = run_train(prepared, tmp_path / "seed1", seed=1)  # the comparison can tell runs apart
    assert (one / "loss.json").read_bytes() != (other_seed / "loss.json").read_bytes()
    assert not same_weights(one / "model.pt", other_seed / "model.pt")


@pytest.mark.parametrize("deterministic", [True, False])
def test_train_deterministic_sets_torchs_flag_while_training(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deterministic: bool
) -> None:
    torch.use_deterministic_algorithms(not deterministic)  # the param decides, not what was set before
    seen: list[bool] = []
    real_epoch = training.train_one_epoch

    def recording_epoch(*args: object, **kwargs: object) -> float:
        seen.append(torch.are_deterministic_algorithms_enabled())
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(training, "train_one_epoch", recording_epoch)
    run_train(prepared, tmp_path / "run", deterministic=deterministic)
    assert seen == [deterministic, deterministic]

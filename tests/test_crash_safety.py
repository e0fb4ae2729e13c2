"""Killing `dvc repro` mid-epoch leaves no corrupt output, and the next `dvc repro` completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from signlang.model import load_checkpoint

from helpers import command_env, init_pipeline_repo, make_split, run, set_param, write_csv

TRAIN_OUTPUTS = ("models/model.pt", "metrics/train.json", "plots/train/loss.json", "logs/train_time.json")


def start_and_kill_when(repo: Path, marker: str, timeout: float = 300) -> str:
    """Start `dvc repro`, SIGKILL it and the stage it runs once ``marker`` shows in their output."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"], cwd=repo, env=command_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,  # its own process group, stage included
    )
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    output = "".join(seen)
    assert marker in output, f"training never reached {marker!r}:\n{output}"
    return output


def assert_intact_or_absent(repo: Path) -> None:
    """Every train output is either missing (DVC removes outputs before it runs a stage) or whole."""
    for name in TRAIN_OUTPUTS:
        path = repo / name
        if not path.exists():
            continue
        if path.suffix == ".pt":
            load_checkpoint(path, torch.device("cpu"))  # raises on a partial file
        else:
            json.loads(path.read_text())


def temp_files(repo: Path) -> list[Path]:
    return [
        path for path in repo.rglob("*.tmp")
        if not {".git", ".dvc"} & set(path.relative_to(repo).parts)
    ]


@pytest.mark.slow
def test_killing_train_mid_epoch_corrupts_nothing(tmp_path: Path) -> None:
    repo = init_pipeline_repo(tmp_path / "repo")
    write_csv(repo / "data/raw/sign_mnist_train.csv", *make_split(30, seed=1))
    write_csv(repo / "data/raw/sign_mnist_test.csv", *make_split(8, seed=2))
    dvc = (sys.executable, "-m", "dvc")
    run(repo, *dvc, "repro")
    before = (repo / "data/prepared/train_images.npy").read_bytes()

    set_param(repo, "train", "epochs", 60)
    start_and_kill_when(repo, "epoch 3/60:")  # epoch 3 is over: killed in epoch 4 (or 5)
    assert_intact_or_absent(repo)
    assert (repo / "data/prepared/train_images.npy").read_bytes() == before  # prepare's outputs untouched
    # what a kill during the final write leaves: the next write of that output removes it
    (repo / "models/.model.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")

    output = run(repo, *dvc, "repro")
    assert "Running stage 'train'" in output and "Running stage 'evaluate'" in output
    assert json.loads(run(repo, *dvc, "status", "--json")) == {}
    assert temp_files(repo) == []
    assert_intact_or_absent(repo)
    assert json.loads((repo / "plots/train/loss.json").read_text())[-1]["epoch"] == 60

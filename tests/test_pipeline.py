"""End to end: the real `dvc repro` on small generated CSVs, in a temporary git repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import PROJECT, command_env, copy_real_photos, init_pipeline_repo, make_split, run, set_param, write_csv

SETS = ("train", "more_hands", "extra", "dev", "people")  # dvc.yaml's photo_sets: one landmarks stage each
STAGES = (*(f"landmarks@{name}" for name in SETS), "prepare", "train", "train_hands", "evaluate", "evaluate_photos",
          "export")
FROM_EXTRA = ("landmarks@extra", "prepare", "train", "train_hands", "evaluate", "evaluate_photos", "export")


def stages_run(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git + DVC repository holding this project's pipeline, with 1-epoch params and tiny data."""
    repo = init_pipeline_repo(tmp_path / "repo")
    write_csv(repo / "data/raw/sign_mnist_train.csv.gz", *make_split(30, seed=1))
    write_csv(repo / "data/raw/sign_mnist_test.csv", *make_split(8, seed=2), newline="\r\n")
    return repo


@pytest.mark.slow
def test_dvc_repro_end_to_end(repo: Path) -> None:
    dvc = (sys.executable, "-m", "dvc")
    assert stages_run(run(repo, *dvc, "repro")) == list(STAGES)
    metrics = json.loads((repo / "metrics/eval.json").read_text())
    assert metrics["images"] == 32 and 0.0 <= metrics["accuracy"] <= 1.0
    assert set(json.loads((repo / "metrics/per_class.json").read_text())) <= {"A", "B", "C", "D"}

    # nothing changed: nothing runs
    assert stages_run(run(repo, *dvc, "repro")) == []
    assert json.loads(run(repo, *dvc, "status", "--json")) == {}

    run(repo, "git", "add", "-A")
    run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "baseline")

    # a train param re-runs train and evaluate, not prepare
    set_param(repo, "train", "lr", 0.0123)
    assert stages_run(run(repo, *dvc, "repro")) == ["train", "evaluate", "evaluate_photos", "export"]
    assert "train.lr" in run(repo, *dvc, "params", "diff")
    assert "best_val_loss" in run(repo, *dvc, "metrics", "diff")
    run(repo, *dvc, "plots", "show", "-o", "plots_html")
    page = (repo / "plots_html/index.html").read_text()
    for title in ("Loss by epoch", "Validation accuracy by epoch", "Confusion matrix (test)", "Test recall by letter"):
        assert title in page
    for name in ("examples", "predictions", "mistakes", "least_confident"):
        assert f"plots_eval_images_{name}.png" in page
    template = str(PROJECT / "web/plots_template.html")
    run(repo, *dvc, "plots", "diff", "HEAD", "--html-template", template, "-o", "diff_html")
    page = (repo / "diff_html/index.html").read_text()
    assert "HEAD_plots_eval_images_mistakes.png" in page and "workspace_plots_eval_images_mistakes.png" in page
    assert "prepare" in run(repo, *dvc, "dag")

    # a hands param re-runs HandNet's training and what reads it, not SignConvNet's
    set_param(repo, "hands", "fusion_weight", 0.5)
    assert stages_run(run(repo, *dvc, "repro")) == ["train_hands", "evaluate_photos", "export"]
    photos = json.loads((repo / "metrics/photos.json").read_text())
    assert list(photos) == ["dev"] and photos["dev"]["photos"] == 8 and photos["dev"]["hands_found"] >= 6
    assert set(photos["dev"]) == {"photos", "hands_found", "fused", "hands", "cnn"}
    assert "dev.fused.top1" in run(repo, *dvc, "metrics", "show")


@pytest.mark.slow
def test_dvc_repro_without_data_says_where_the_files_go(repo: Path) -> None:
    shutil.rmtree(repo / "data/raw")
    (repo / "data/raw").mkdir()
    result = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=repo, env=command_env(), capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert "error: data/raw/sign_mnist_train.csv: not found" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def output_hashes(repo: Path) -> dict[str, str]:
    """The md5 dvc.lock records for prepare's arrays and train's model."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        "arrays": lock["stages"]["prepare"]["outs"][0]["md5"],
        "model": next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"].endswith(".pt")),
        "hands": next(out["md5"] for out in lock["stages"]["train_hands"]["outs"] if out["path"].endswith(".pt")),
    }


@pytest.mark.slow
def test_a_photo_in_data_extra_reruns_prepare_and_train_and_removing_it_restores_every_hash(repo: Path) -> None:
    dvc = (sys.executable, "-m", "dvc")
    run(repo, *dvc, "repro")
    before = output_hashes(repo)

    copy_real_photos(PROJECT / "data/photos/dev", repo / "data/extra", per_letter=1, letters=(1,))  # a photo of B
    assert stages_run(run(repo, *dvc, "repro")) == list(FROM_EXTRA)
    with_extra = output_hashes(repo)
    assert all(with_extra[key] != before[key] for key in before), (before, with_extra)

    shutil.rmtree(repo / "data/extra/B")
    # the stages run again (not restored from DVC's run cache) and write the same bytes as the first time
    assert stages_run(run(repo, *dvc, "repro", "--no-run-cache")) == list(FROM_EXTRA)
    assert output_hashes(repo) == before

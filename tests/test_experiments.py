"""Experiments and sharing, end to end on small generated CSVs in a temporary git repository:
a queued two-experiment sweep, then push to a local-directory remote, clone, pull, and nothing to re-run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import command_env, init_pipeline_repo, make_split, run, write_csv

DVC = (sys.executable, "-m", "dvc")
QUEUE_TIMEOUT_S = 600
OUTPUTS = ("models/model.pt", "data/prepared/train_images.npy", "metrics/eval.json")
# two experiments whose metrics must differ: another learning rate and another seed
SWEEP = {"lr-high": ("train.lr=0.01", "train.seed=0"), "lr-low": ("train.lr=0.0003", "train.seed=1")}


def commit(repo: Path, message: str) -> None:
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", message)


def queue_status(repo: Path) -> str:
    return run(repo, *DVC, "queue", "status")


def wait_for_queue(repo: Path, names: list[str]) -> None:
    """Poll `dvc queue status` until every named experiment has finished; fail on a failure or timeout."""
    deadline = time.monotonic() + QUEUE_TIMEOUT_S
    while time.monotonic() < deadline:
        rows = {line.split()[1]: line.split()[-1] for line in queue_status(repo).splitlines()
                if len(line.split()) >= 3 and line.split()[1] in names}
        failed = [name for name, status in rows.items() if status == "Failed"]
        assert not failed, "\n".join(run(repo, *DVC, "queue", "logs", name) for name in failed)
        if len(rows) == len(names) and all(status == "Success" for status in rows.values()):
            return
        time.sleep(2)
    pytest.fail(f"queue not done after {QUEUE_TIMEOUT_S} s:\n{queue_status(repo)}")


def stop_queue(repo: Path) -> None:
    """Stop the queue's worker processes so none outlives the test (they also quit when idle for 10 s)."""
    subprocess.run([*DVC, "queue", "stop", "--kill"], cwd=repo, env=command_env(), capture_output=True, timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "0 active" not in queue_status(repo):
        time.sleep(1)


def experiment_metrics(repo: Path) -> dict[str, dict]:
    """name -> {"params": train params, "metrics": {file: values}} for each experiment in `dvc exp show --json`."""
    rows = json.loads(run(repo, *DVC, "exp", "show", "--json"))
    found = {}
    for baseline in rows:
        for experiment in baseline.get("experiments") or []:
            for rev in experiment["revs"]:
                data = rev["data"]
                metrics = {path: entry["data"] for path, entry in data["metrics"].items()}
                found[rev["name"]] = {"params": data["params"]["params.yaml"]["data"]["train"], "metrics": metrics}
    return found


def mtimes(repo: Path) -> dict[str, int]:
    return {path: (repo / path).stat().st_mtime_ns for path in OUTPUTS}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """The pipeline with tiny CSVs tracked by `dvc add data/raw` and a committed baseline run.

    Queued runs see only what git or DVC tracks; the baseline `dvc repro` also writes the outputs'
    .gitignore files, which `dvc exp apply` does not bring back."""
    repo = init_pipeline_repo(tmp_path / "repo")
    write_csv(repo / "data/raw/sign_mnist_train.csv", *make_split(30, seed=1))
    write_csv(repo / "data/raw/sign_mnist_test.csv", *make_split(8, seed=2))
    run(repo, *DVC, "add", "data/raw")
    run(repo, *DVC, "repro")
    commit(repo, "baseline")
    yield repo
    stop_queue(repo)


@pytest.mark.slow
def test_queued_sweep_then_push_clone_pull_has_nothing_to_run(project: Path, tmp_path: Path) -> None:
    for name, overrides in SWEEP.items():
        sets = [arg for value in overrides for arg in ("-S", value)]
        run(project, *DVC, "exp", "run", "--queue", "--name", name, *sets)
    run(project, *DVC, "queue", "start")
    wait_for_queue(project, list(SWEEP))

    experiments = experiment_metrics(project)
    assert set(SWEEP) <= set(experiments), f"dvc exp show --json has {sorted(experiments)}"
    high, low = experiments["lr-high"], experiments["lr-low"]
    assert (high["params"]["lr"], low["params"]["lr"]) == (0.01, 0.0003)
    for result in (high, low):
        assert result["metrics"]["metrics/eval.json"]["images"] == 32
    val_loss = {name: experiments[name]["metrics"]["metrics/train.json"]["best_val_loss"] for name in SWEEP}
    assert val_loss["lr-high"] != val_loss["lr-low"], val_loss

    # ship the winner: apply it to the workspace, commit it, push data, arrays and model to a local remote
    winner = min(SWEEP, key=val_loss.__getitem__)
    run(project, *DVC, "exp", "apply", winner)
    assert json.loads(run(project, *DVC, "status", "--json")) == {}
    run(project, *DVC, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    commit(project, f"experiment {winner}")
    run(project, *DVC, "push")

    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(project), str(clone))
    assert not (clone / "models/model.pt").exists()
    run(clone, *DVC, "pull")
    assert json.loads(run(clone, *DVC, "status", "--json")) == {}
    before = mtimes(clone)
    output = run(clone, *DVC, "repro")
    assert "Running stage" not in output, output
    assert mtimes(clone) == before
    for path in ("data/raw/sign_mnist_train.csv", "models/model.pt"):
        assert (clone / path).read_bytes() == (project / path).read_bytes(), path


@pytest.mark.slow
def test_a_queued_experiment_runs_the_code_it_was_queued_with(project: Path) -> None:
    """An editable install puts the workspace's src/ on every Python's path, queued experiments' included
    (here PYTHONPATH stands in for it). Break the workspace's code after queueing: the experiment must still
    run, as its stages import the src/ of the copy DVC runs them in, the code dvc.lock records."""
    run(project, *DVC, "exp", "run", "--queue", "--name", "own-code", "-S", "train.lr=0.01")
    init = project / "src/signlang/__init__.py"
    init.write_text('raise ImportError("the workspace\'s src/ was imported")\n', encoding="utf-8")
    run(project, *DVC, "queue", "start", env={"PYTHONPATH": str(project / "src")})
    wait_for_queue(project, ["own-code"])
    experiment = experiment_metrics(project)["own-code"]
    assert experiment["params"]["lr"] == 0.01 and experiment["metrics"]["metrics/eval.json"]["images"] == 32

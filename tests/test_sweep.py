"""`signlang sweep`: a grid of experiments split over machines, shared through a Git remote and a DVC
remote, gathered into one table. Fast tests: the grid, the split, the names, bad input. Slow ones: two
clones of a bare Git repository act as two machines, a third gathers; a worker killed mid-sweep resumes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml

from signlang import sweep
from signlang.sweep import expand_grid, worker_share

from helpers import PROJECT, command_env, init_pipeline_repo, make_split, run, write_csv

DVC = (sys.executable, "-m", "dvc")
SWEEP = (sys.executable, "-m", "signlang.sweep")
SWEEP_ENV = {"PYTHONPATH": str(PROJECT / "src")}  # the code under test, in every clone
GRID = ("-S", "train.lr=0.001,0.003", "-S", "train.seed=0,1")
WORKER_TIMEOUT_S = 1200
KILL_AFTER_S = 8  # into an experiment: DVC has begun running its stages


# --- the grid, the split, the names ---------------------------------------------------------------


def test_grid_is_the_cartesian_product_in_a_canonical_order() -> None:
    grid = expand_grid(["train.seed=0,1", "train.lr=0.001,0.003,0.01"])
    assert [e.describe() for e in grid] == [
        f"train.lr={lr} train.seed={seed}" for lr in ("0.001", "0.003", "0.01") for seed in (0, 1)
    ]
    # the order of the -S and of their values does not matter, nor how a value is written
    assert expand_grid(["train.lr=0.01,1e-3,0.003", "train.seed=1,0"]) == grid
    assert [e.name for e in expand_grid(["train.lr=0.001,1e-3"])] == [expand_grid(["train.lr=0.001"])[0].name]
    assert [e.value("train.seed") for e in expand_grid(["train.seed=range(0,3)"])] == [0, 1, 2]
    (single,) = expand_grid(["train.schedule=cosine", "train.amp=true"])
    assert single.set_args == ["-S", "train.amp=True", "-S", "train.schedule=cosine"]


@pytest.mark.parametrize("size", [1, 2, 5, 12])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_workers_cover_the_grid_exactly_once(size: int, count: int) -> None:
    grid = expand_grid([f"train.seed=range(0,{size})"])
    shares = [worker_share(grid, index, count) for index in range(count)]
    names = [e.name for share in shares for e in share]
    assert sorted(names) == sorted(e.name for e in grid) and len(set(names)) == size
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert shares == [worker_share(expand_grid([f"train.seed=range(0,{size})"]), i, count) for i in range(count)]


def test_names_are_deterministic_readable_and_valid_git_refs(tmp_path: Path) -> None:
    grid = expand_grid(["train.lr=0.0003,0.003", "train.schedule=constant,cosine", "train.augment.rotation=0,7.5",
                        "prepare.crop_scale=0.15"])
    names = [e.name for e in grid]
    assert len(set(names)) == len(grid) == 8
    assert names == [e.name for e in expand_grid(["prepare.crop_scale=0.15", "train.augment.rotation=7.5,0",
                                                  "train.schedule=cosine,constant", "train.lr=0.003,0.0003"])]
    assert grid[0].name.startswith("crop_scale0.15-rotation0-lr0.0003")
    run(tmp_path, "git", "init", "-q")
    for name in names + [e.name for e in expand_grid(["train.lr=1e-7,0.5", "train.extra_weight=2,3"])]:
        run(tmp_path, "git", "check-ref-format", f"refs/exps/ab/cdef/{name}")
        assert "/" not in name and len(name) <= sweep.PREFIX_CHARS + 1 + sweep.HASH_CHARS


# --- bad input: exit code and one line, nothing run ------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed DVC repository with the project's params.yaml, as the working directory."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text((PROJECT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    run(repo, "git", "init", "-q")
    run(repo, *DVC, "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", "params")
    for key, value in command_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(repo)
    return repo


def assert_refused(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, *words: str) -> None:
    """``signlang sweep ARGV`` exits with ``code``; its last line on stderr holds ``words``; exit code 1
    comes with one line on stderr, ``error: ...``."""
    try:
        got = sweep.main(argv)
    except SystemExit as exit:  # argparse
        got = exit.code
    err = capsys.readouterr().err
    assert got == code, err
    assert all(word in err.strip().splitlines()[-1] for word in words), err
    if code == 1:
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err


@pytest.mark.parametrize(("worker", "words"), [("2/2", ("--worker", "2", "[0, 2)")), ("3", ("--worker", "'3'"))])
def test_a_bad_worker_is_an_argparse_error(
    repo: Path, capsys: pytest.CaptureFixture[str], worker: str, words: tuple[str, ...]
) -> None:
    assert_refused(capsys, ["run", "--worker", worker, "--git-remote", str(repo), *GRID], 2, *words)


@pytest.mark.parametrize("command", [["run", "--worker", "0/2"], ["gather"]])
def test_an_unknown_key_is_named_before_anything_runs(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    argv = [*command, "--git-remote", str(tmp_path / "nowhere"), "-S", "train.lr=0.001", "-S", "train.lrate=0.1,1"]
    assert_refused(capsys, argv, 1, "train.lrate", "unknown key")  # the key is checked before the remote
    assert not (repo / sweep.DEFAULT_LOG_DIR).exists()


@pytest.mark.parametrize("command", [["run", "--worker", "1/2"], ["gather"]])
def test_an_unreachable_git_remote_is_named_and_nothing_runs(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    remote = tmp_path / "no" / "such.git"
    assert_refused(capsys, [*command, "--git-remote", str(remote), *GRID], 1, str(remote), "cannot reach")
    assert not (repo / sweep.DEFAULT_LOG_DIR).exists()
    assert run(repo, "git", "for-each-ref", "refs/exps") == ""


# --- several machines, end to end ------------------------------------------------------------------


def commit(repo: Path, message: str) -> None:
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare Git repository holding the pipeline (1 epoch, tiny CSVs tracked by data/raw.dvc, a baseline
    run committed) whose default DVC remote, a local folder, holds its data and outputs."""
    root = tmp_path_factory.mktemp("servers")
    origin = init_pipeline_repo(root / "origin")
    write_csv(origin / "data/raw/sign_mnist_train.csv", *make_split(30, seed=1))
    write_csv(origin / "data/raw/sign_mnist_test.csv", *make_split(8, seed=2))
    run(origin, *DVC, "add", "data/raw")
    run(origin, *DVC, "repro")
    run(origin, *DVC, "remote", "add", "-d", "storage", str(root / "dvc-remote"))
    commit(origin, "pipeline, data, baseline run and DVC remote")
    bare = root / "shared.git"
    run(root, "git", "init", "-q", "--bare", str(bare))
    run(origin, "git", "push", "-q", str(bare), "HEAD")
    run(origin, *DVC, "push")
    return bare


def shared_servers(servers: Path, tmp_path: Path) -> Path:
    """This test's own copy of the Git server (the DVC remote, content-addressed, is shared)."""
    bare = tmp_path / "shared.git"
    shutil.copytree(servers, bare)
    return bare


def machine(tmp_path: Path, bare: Path, name: str, pull: bool = True) -> Path:
    clone = tmp_path / name
    run(tmp_path, "git", "clone", "-q", str(bare), str(clone))
    if pull:
        run(clone, *DVC, "pull")
    return clone


def remote_names(bare: Path) -> list[str]:
    """Every experiment name on the Git remote, repeats included."""
    refs = run(bare, "git", "for-each-ref", "--format=%(refname)", "refs/exps")
    return [ref.rsplit("/", 1)[-1] for ref in refs.split()]


def lines_starting(output: str, word: str) -> list[str]:
    """The names in lines `<word> NAME ...` of a worker's output."""
    return [line.split()[1] for line in output.splitlines() if line.startswith(f"{word} ")]


def table_rows(output: str) -> list[list[str]]:
    """The body of the markdown table in ``output``: one list of cells a row."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in output.splitlines()
            if line.startswith("| ")]
    return [row for row in rows[1:] if set("".join(row)) != {"-"}]  # not the header nor the separator


def cached_model(clone: Path, name: str) -> bytes:
    """The model file experiment ``name`` produced in ``clone``: its dvc.lock's md5, from clone's cache."""
    (ref,) = run(clone, "git", "for-each-ref", "--format=%(refname)", f"refs/exps/*/*/{name}").split()
    lock = yaml.safe_load(run(clone, "git", "show", f"{ref}:dvc.lock"))
    (md5,) = [out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.pt"]
    return (clone / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).read_bytes()


@pytest.mark.slow
def test_two_machines_run_their_shares_and_a_third_gathers_them(servers: Path, tmp_path: Path) -> None:
    bare = shared_servers(servers, tmp_path)
    grid = expand_grid(GRID[1::2])
    workers = {index: machine(tmp_path, bare, f"machine{index}") for index in range(2)}
    gatherer = machine(tmp_path, bare, "laptop", pull=False)
    produced = {}
    for index, clone in workers.items():
        output = run(clone, *SWEEP, "run", "--worker", f"{index}/2", "--git-remote", str(bare), *GRID,
                     env=SWEEP_ENV, timeout=WORKER_TIMEOUT_S)
        pushed = lines_starting(output, "pushed")
        assert pushed == [e.name for e in worker_share(grid, index, 2)], output
        produced |= {name: clone for name in pushed}
        if index == 0:  # half the sweep is in: gathering shows it and lists the rest, without failing
            output = run(gatherer, *SWEEP, "gather", "--no-cache", "--git-remote", str(bare), *GRID, env=SWEEP_ENV)
            assert sorted(row[0] for row in table_rows(output)) == sorted(pushed), output
            assert sorted(lines_starting(output, "missing")) == sorted(e.name for e in worker_share(grid, 1, 2))
    assert sorted(remote_names(bare)) == sorted(e.name for e in grid)

    output = run(gatherer, *SWEEP, "gather", "--git-remote", str(bare), *GRID, env=SWEEP_ENV, timeout=600)
    rows = table_rows(output)
    assert sorted(row[0] for row in rows) == sorted(e.name for e in grid), output
    header = next(line for line in output.splitlines() if line.startswith("| Experiment"))
    assert "train.lr" in header and "train.seed" in header and "metrics/eval.json:accuracy" in header
    assert "metrics/photos.json:dev.fused.top1 ↓" in header, output  # the photos are there, so they rank
    by_name = {experiment.name: experiment for experiment in grid}
    for row in rows:
        experiment = by_name[row[0]]
        assert row[1:3] == [str(experiment.value("train.lr")), str(experiment.value("train.seed"))], row
        assert all(0.0 <= float(cell) <= 1.0 for cell in row[3:]), row
    best = rows[0][0]
    assert f"dvc exp apply {best}" in output.splitlines()[-1], output
    assert "missing" not in output

    run(gatherer, *DVC, "exp", "apply", best)
    run(gatherer, *DVC, "pull")
    params = yaml.safe_load((gatherer / "params.yaml").read_text(encoding="utf-8"))["train"]
    assert (params["lr"], params["seed"]) == (by_name[best].value("train.lr"), by_name[best].value("train.seed"))
    assert (gatherer / "models/model.pt").read_bytes() == cached_model(produced[best], best)


def start_worker(clone: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SWEEP, "run", *args], cwd=clone, env=command_env() | SWEEP_ENV, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def kill_and_reap(worker: subprocess.Popen[str]) -> None:
    """SIGKILL the worker's process group and wait until every process of it is gone. An orphaned `dvc exp
    run` stays a zombie until init reaps it, and DVC counts a zombie's PID as a live holder of its locks."""
    processes = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=60)
    _, alive = psutil.wait_procs(processes, timeout=60)
    assert not alive, f"still running 60 s after SIGKILL: {alive}"


@pytest.mark.slow
def test_a_killed_worker_restarts_without_running_a_pushed_experiment_again(servers: Path, tmp_path: Path) -> None:
    bare = shared_servers(servers, tmp_path)
    clone = machine(tmp_path, bare, "machine0")
    args = ("--worker", "0/1", "--git-remote", str(bare), "-S", "train.seed=0,1,2")
    grid = expand_grid(["train.seed=0,1,2"])

    # the machine is preempted (the worker and its children killed) in the middle of the second experiment
    worker = start_worker(clone, *args)
    seen = []
    try:
        assert worker.stdout is not None
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        for line in worker.stdout:
            seen.append(line)
            if line.startswith("run ") and lines_starting("".join(seen), "pushed") or time.monotonic() > deadline:
                time.sleep(KILL_AFTER_S)
                break
    finally:
        kill_and_reap(worker)
    first, second = grid[0].name, grid[1].name
    assert run(clone, "git", "status", "--porcelain") == ""  # the workspace as it was: nothing half-written
    assert lines_starting("".join(seen), "pushed") == [first], "".join(seen)
    assert lines_starting("".join(seen), "run") == [first, second], "".join(seen)
    assert remote_names(bare) == [first]

    output = run(clone, *SWEEP, "run", *args, env=SWEEP_ENV, timeout=WORKER_TIMEOUT_S)
    assert lines_starting(output, "skip") == [first], output
    assert first not in lines_starting(output, "run") + lines_starting(output, "push"), output
    assert lines_starting(output, "pushed") == [e.name for e in grid[1:]], output
    assert sorted(remote_names(bare)) == sorted(e.name for e in grid)  # each once

    # stopped between an experiment's end and its push: the restart pushes it without running it again
    last = grid[-1].name
    (ref,) = run(bare, "git", "for-each-ref", "--format=%(refname)", f"refs/exps/*/*/{last}").split()
    run(bare, "git", "update-ref", "-d", ref)
    output = run(clone, *SWEEP, "run", *args, env=SWEEP_ENV, timeout=WORKER_TIMEOUT_S)
    assert (lines_starting(output, "push"), lines_starting(output, "run")) == ([last], []), output
    assert sorted(remote_names(bare)) == sorted(e.name for e in grid)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="train.device=cuda must fail here")
def test_failed_experiments_are_reported_pushed_as_nothing_and_the_rest_go_on(servers: Path, tmp_path: Path) -> None:
    bare = shared_servers(servers, tmp_path)
    clone = machine(tmp_path, bare, "machine0")
    sets = ["train.device=cuda", "train.seed=0,1"]
    grid = expand_grid(sets)
    result = subprocess.run(
        [*SWEEP, "run", "--worker", "0/1", "--git-remote", str(bare), "-S", sets[0], "-S", sets[1]],
        cwd=clone, env=command_env() | SWEEP_ENV, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(grid), result.stderr  # each failure one line: both ran, the second after the first
    for experiment, line in zip(grid, errors):
        assert line.startswith(f"error: experiment {experiment.name} ") and " log " in line, line
        log = Path(line.rsplit(" log ", 1)[1])
        assert "no CUDA device" in log.read_text(encoding="utf-8"), log
    assert remote_names(bare) == []
    assert "0 pushed, 0 skipped (already pushed), 2 failed" in result.stdout

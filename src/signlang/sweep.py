"""``signlang sweep``: one grid of DVC experiments split over several machines, shared through a Git
remote and the repository's default DVC remote, then gathered into one table.

``signlang sweep run --worker I/N --git-remote REMOTE -S key=v1,v2 ...`` expands the ``-S`` grid as
``dvc exp run --queue`` does (the cartesian product of comma-separated values), puts it in a canonical
order, and runs experiment k when ``k % N == I``, one after another, each under a name derived from its
params alone and in a temporary copy of the repository (``dvc exp run --temp``: a worker killed mid-run
leaves the workspace as it was, not a half-written dvc.lock); each finished experiment is pushed with
``dvc exp push``. Experiments already on the Git remote are skipped, so a restarted worker picks up where
it stopped.

``signlang sweep gather --git-remote REMOTE -S ...`` pulls the sweep's experiments and prints one table
and the ``dvc exp apply`` command of the best one. See docs/sweeps.md."""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from signlang.errors import SignlangError
from signlang.params import SECTIONS, params_from_dict

PARAMS_FILE = "params.yaml"
EXPS_NAMESPACE = "refs/exps"  # DVC keeps experiment NAME of baseline commit SHA at refs/exps/SHA[:2]/SHA[2:]/NAME
DEFAULT_LOG_DIR = Path(".dvc/tmp/sweep")  # git-ignored (.dvc/.gitignore), so no experiment commits a log
PREFIX_CHARS = 40  # the readable part of a name; the hash that follows makes it unique
HASH_CHARS = 8
GIT_TIMEOUT_S = 120


# --- the grid -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    key: str  # dotted path in params.yaml, e.g. train.lr
    value: Any  # as DVC will write it to params.yaml
    text: str  # as passed to `dvc exp run -S`

    @property
    def canonical(self) -> str:
        return f"{self.key}={json.dumps(self.value, sort_keys=True)}"


@dataclass(frozen=True)
class Experiment:
    overrides: tuple[Override, ...]  # sorted by key

    @property
    def canonical(self) -> str:
        """The experiment's identity: its overrides as sorted ``key=JSON value`` lines, however written."""
        return "\n".join(override.canonical for override in self.overrides)

    @property
    def name(self) -> str:
        """A readable prefix (each key's last part and its value) and a hash of the canonical overrides:
        the same params give the same name on every machine, and a valid Git ref name."""
        digest = hashlib.sha256(self.canonical.encode("utf-8")).hexdigest()[:HASH_CHARS]
        parts = [override.key.rsplit(".", 1)[-1] + _value_text(override.value) for override in self.overrides]
        prefix = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))
        prefix = re.sub(r"\.{2,}", ".", prefix)[:PREFIX_CHARS].strip("._-")
        if not prefix[:1].isalpha():
            prefix = f"x{prefix}"
        return f"{prefix}-{digest}"

    @property
    def set_args(self) -> list[str]:
        return [arg for override in self.overrides for arg in ("-S", override.text)]

    def describe(self) -> str:
        return " ".join(override.text for override in self.overrides)

    def value(self, key: str) -> Any:
        return next(override.value for override in self.overrides if override.key == key)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def expand_grid(sets: Sequence[str]) -> list[Experiment]:
    """The experiments of ``-S`` arguments as ``dvc exp run --queue`` expands them (hydra's sweep
    syntax: ``key=a,b``, ``key=range(0,3)``, ``key=choice(a,b)``), without duplicates, in a canonical
    order: sorted by their canonical overrides, whatever the order of the arguments and values."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import get_hydra_sweeps, to_hydra_overrides
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException

    if not sets:
        raise SignlangError("no -S given: a sweep needs at least one -S key=value[,value...]")
    keys: set[str] = set()
    for text in sets:
        try:
            (parsed,) = to_hydra_overrides([text])
        except (HydraException, ValueError) as error:
            raise SignlangError(f"-S {text}: {_first_line(error) or 'not a key=value[,value...] override'}") from None
        key = parsed.key_or_group
        if parsed.type != OverrideType.CHANGE or parsed.package is not None or ":" in key:
            raise SignlangError(f"-S {text}: only key=value[,value...] of {PARAMS_FILE}'s existing keys is supported")
        if key in keys:
            raise SignlangError(f"-S {text}: '{key}' is given twice; give its values in one -S, comma-separated")
        keys.add(key)
    try:
        points = get_hydra_sweeps({PARAMS_FILE: list(sets)})
    except (HydraException, InvalidArgumentError, ValueError) as error:
        raise SignlangError(f"-S {' -S '.join(sets)}: {_first_line(error)}") from None
    experiments = {}
    for point in points:
        overrides = []
        for text in point[PARAMS_FILE]:
            (parsed,) = to_hydra_overrides([text])
            overrides.append(Override(parsed.key_or_group, parsed.value(), text))
        experiment = Experiment(tuple(sorted(overrides, key=lambda override: override.key)))
        experiments.setdefault(experiment.canonical, experiment)
    return [experiments[canonical] for canonical in sorted(experiments)]


def worker_share(grid: Sequence[Experiment], index: int, count: int) -> list[Experiment]:
    """Worker ``index`` of ``count`` gets experiments k of the canonical order with k % count == index."""
    return list(grid[index::count])


def check_params(grid: Sequence[Experiment], params_path: Path) -> None:
    """Every experiment's params through the project's loader (params.py): a key params.yaml lacks, or a
    value of the wrong type or range, stops the sweep before anything runs."""
    try:
        document = yaml.safe_load(params_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SignlangError(f"{params_path}: cannot read params: {_first_line(error)}") from None
    if not isinstance(document, dict):
        raise SignlangError(f"{params_path}: not a mapping of keys to values")
    for experiment in grid:
        changed = copy.deepcopy(document)
        for override in experiment.overrides:
            *parents, last = override.key.split(".")
            node: Any = changed
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            # in the loader's sections an unknown key is left for the loader to name; elsewhere checked here
            if not isinstance(node, dict) or (last not in node and not (parents and parents[0] in SECTIONS)):
                raise SignlangError(f"-S {override.text}: {params_path.name} has no key '{override.key}'")
            node[last] = override.value
        for section, cls in SECTIONS.items():
            if section in changed:
                try:
                    params_from_dict(changed[section], section, cls, Path(params_path.name))
                except SignlangError as error:
                    raise SignlangError(f"-S {experiment.describe()}: {error}") from None


# --- git and dvc ----------------------------------------------------------------------------------


def _first_line(error: object) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else ""


def find_root(start: Path) -> Path:
    """The DVC repository around ``start``."""
    for folder in (start, *start.parents):
        if (folder / ".dvc").is_dir():
            return folder
    raise SignlangError(f"{start}: not inside a DVC repository (no .dvc folder here or above)")


def dvc_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def git_output(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        env=os.environ | {"GIT_TERMINAL_PROMPT": "0"}, timeout=GIT_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise SignlangError(f"git {' '.join(args)}: {_first_line(result.stderr) or f'exit code {result.returncode}'}")
    return result.stdout


def baseline_sha(root: Path) -> str:
    try:
        return git_output(root, "rev-parse", "--verify", "HEAD^{commit}").strip()
    except SignlangError:
        raise SignlangError(f"{root}: no commit to run the sweep from; commit the pipeline first") from None


def exp_ref(baseline: str, name: str) -> str:
    return f"{EXPS_NAMESPACE}/{baseline[:2]}/{baseline[2:]}/{name}"


def names_in(refs: str, baseline: str) -> set[str]:
    """The experiment names of ``baseline`` in lines of ``git ls-remote`` / ``git for-each-ref`` output."""
    prefix = exp_ref(baseline, "")
    found = set()
    for line in refs.splitlines():
        ref = line.split()[-1] if line.split() else ""
        if ref.startswith(prefix) and "/" not in ref[len(prefix):]:
            found.add(ref[len(prefix):])
    return found


def remote_names(root: Path, remote: str, baseline: str) -> set[str]:
    """The names of ``baseline``'s experiments on the Git remote; the check that it can be reached."""
    try:
        refs = git_output(root, "ls-remote", remote, f"{EXPS_NAMESPACE}/*")
    except subprocess.TimeoutExpired:
        raise SignlangError(f"cannot reach the Git remote {remote}: no answer in {GIT_TIMEOUT_S} s") from None
    except SignlangError as error:
        why = str(error).split(": ", 1)[-1].removeprefix("fatal: ")
        raise SignlangError(f"cannot reach the Git remote {remote}: {why}") from None
    return names_in(refs, baseline)


def local_names(root: Path, baseline: str) -> set[str]:
    return names_in(git_output(root, "for-each-ref", "--format=%(refname)", exp_ref(baseline, "")), baseline)


def resolve_remote(remote: str) -> str:
    """A local path as an absolute one (the commands run in the repository's root); URLs and Git
    remote names as given."""
    path = Path(remote).expanduser()
    return str(path.resolve()) if path.exists() else remote


def default_dvc_remote(root: Path) -> str:
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        name = repo.config["core"].get("remote")
    if not name:
        raise SignlangError(
            "no default DVC remote: the experiments' outputs would stay on this machine; "
            "set one with `dvc remote add -d NAME URL` and commit .dvc/config"
        )
    return name


# --- run ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """What `sweep run` and `sweep gather` both start from: the project, the checked grid, the Git remote,
    the baseline commit and the names of the sweep's experiments already on the remote."""

    root: Path
    grid: list[Experiment]
    remote: str
    baseline: str
    on_remote: set[str]


def open_sweep(args: argparse.Namespace) -> Sweep:
    root = find_root(Path.cwd())
    grid = expand_grid(args.set_param)
    check_params(grid, root / PARAMS_FILE)
    remote = resolve_remote(args.git_remote)
    baseline = baseline_sha(root)
    return Sweep(root, grid, remote, baseline, remote_names(root, remote, baseline))


def run_worker(args: argparse.Namespace) -> int:
    index, count = args.worker
    sweep = open_sweep(args)
    root, grid, remote, baseline, pushed = sweep.root, sweep.grid, sweep.remote, sweep.baseline, sweep.on_remote
    dvc_remote = default_dvc_remote(root)
    log_dir = args.log_dir.resolve() if args.log_dir else root / DEFAULT_LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    share = worker_share(grid, index, count)
    say(f"worker {index}/{count}: {len(share)} of the sweep's {len(grid)} experiments, baseline {baseline[:7]}, "
        f"Git remote {remote}, DVC remote {dvc_remote}")
    done = skipped = 0
    failed: list[str] = []
    for experiment in share:
        name, ref = experiment.name, exp_ref(baseline, experiment.name)
        if name in pushed:
            say(f"skip {name} ({experiment.describe()}): already on {remote}")
            skipped += 1
            continue
        log = log_dir / f"{name}.log"
        if name in local_names(root, baseline):  # run, then stopped before its push
            say(f"push {name} ({experiment.describe()}): run here before, not pushed yet; log {log}")
        else:
            say(f"run {name} ({experiment.describe()}); log {log}")
            log.write_text("", encoding="utf-8")
            # --temp: in a copy of the repository, so a kill cannot leave the workspace half-written
            code = _logged(root, log, dvc_command("exp", "run", "--temp", "--name", name, *experiment.set_args))
            if code != 0:
                say_error(f"experiment {name} ({experiment.describe()}) failed with exit code {code}; log {log}")
                failed.append(name)
                continue
        code = _logged(root, log, dvc_command("exp", "push", remote, ref))
        if code != 0:
            say_error(f"experiment {name} ran but `dvc exp push` to {remote} failed with exit code {code}; log {log}")
            failed.append(name)
            continue
        say(f"pushed {name} to {remote}")
        done += 1
    say(f"worker {index}/{count}: {done} pushed, {skipped} skipped (already pushed), {len(failed)} failed"
        + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _logged(root: Path, log: Path, command: list[str]) -> int:
    """Run ``command`` in ``root``, its output appended to ``log``; its exit code."""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        return subprocess.run(command, cwd=root, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode


def say(line: str) -> None:
    print(line, flush=True)


def say_error(line: str) -> None:
    print(f"error: {line}", file=sys.stderr, flush=True)


# --- gather ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    experiment: Experiment
    params: dict[str, Any]  # params.yaml as the experiment's commit has it
    metrics: dict[str, dict[str, Any]]  # metrics file -> its values

    def metric(self, column: tuple[str, str]) -> Any:
        value: Any = self.metrics.get(column[0], {})
        for part in column[1].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def param(self, key: str) -> Any:
        value: Any = self.params
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value


def experiment_data(root: Path, names: set[str]) -> dict[str, dict[str, Any]]:
    """name -> the `dvc exp show --json` data (params, metrics) of the named experiments of HEAD."""
    result = subprocess.run(dvc_command("exp", "show", "--json"), cwd=root, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SignlangError(f"dvc exp show --json: {_first_line(result.stderr) or f'exit code {result.returncode}'}")
    found = {}
    for baseline in json.loads(result.stdout):
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                if rev.get("name") in names and rev.get("data"):
                    found[rev["name"]] = rev["data"]
    return found


def rows_of(grid: Sequence[Experiment], data: dict[str, dict[str, Any]]) -> list[Row]:
    rows = []
    for experiment in grid:
        if experiment.name not in data:
            continue
        entry = data[experiment.name]
        params = ((entry.get("params") or {}).get(PARAMS_FILE) or {}).get("data") or {}
        metrics = {path: (values or {}).get("data") or {} for path, values in (entry.get("metrics") or {}).items()}
        rows.append(Row(experiment, params, metrics))
    return rows


def metric_columns(root: Path) -> list[tuple[str, str]]:
    """(metrics file, key) of what the table shows: the Kaggle test accuracy, the development photos' fused
    top-1 and top-3, each file where dvc.yaml's vars.paths puts it."""
    variables = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["vars"]
    paths = next(entry["paths"] for entry in variables if "paths" in entry)
    photos = paths["photos_metrics"]
    return [(paths["eval_metrics"], "accuracy"), (photos, "dev.fused.top1"), (photos, "dev.fused.top3")]


def parse_sort_by(text: str) -> tuple[str, str]:
    path, sep, key = text.rpartition(":")
    if not sep or not path or not key:
        raise argparse.ArgumentTypeError(f"expected METRICS_FILE:KEY (e.g. metrics/eval.json:accuracy), got {text!r}")
    return path, key


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def best_first(rows: list[Row], column: tuple[str, str], descending: bool) -> list[Row]:
    """Rows with the metric, best first (ties in the canonical order), then those without it."""
    scored = [row for row in rows if _number(row.metric(column)) is not None]
    scored.sort(key=lambda row: -_number(row.metric(column)) if descending else _number(row.metric(column)))
    return scored + [row for row in rows if _number(row.metric(column)) is None]


def default_sort(rows: list[Row], columns: list[tuple[str, str]]) -> tuple[str, str]:
    """The photos' top-1 where the experiments have it, else the test accuracy."""
    accuracy, photos = columns[0], columns[1]
    return photos if any(_number(row.metric(photos)) is not None for row in rows) else accuracy


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *body)]
    lines = [header, ["-" * width for width in widths], *body]
    return "\n".join("| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |" for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.5g}"
    return _value_text(value)


def table(
    grid: Sequence[Experiment], rows: list[Row], columns: list[tuple[str, str]], sort_by: tuple[str, str],
    descending: bool,
) -> str:
    """One row an experiment, best first: the params that vary over the grid (all swept ones if none
    varies), the metrics that any experiment has, the sort metric marked with an arrow."""
    keys = [override.key for override in grid[0].overrides]
    varying = [key for key in keys if len({json.dumps(e.value(key), sort_keys=True) for e in grid}) > 1] or keys
    columns = [column for column in columns if any(row.metric(column) is not None for row in rows)]
    if sort_by not in columns:
        columns.append(sort_by)
    arrow = " ↓" if descending else " ↑"
    names = [f"{path}:{key}" + (arrow if (path, key) == sort_by else "") for path, key in columns]
    header = ["Experiment", *varying, *names]
    body = [[row.experiment.name, *(_cell(row.param(key)) for key in varying), *(_cell(row.metric(c)) for c in columns)]
            for row in rows]
    return markdown_table(header, body)


def gather(args: argparse.Namespace) -> int:
    sweep = open_sweep(args)
    root, grid, remote, baseline, on_remote = sweep.root, sweep.grid, sweep.remote, sweep.baseline, sweep.on_remote
    present = [experiment for experiment in grid if experiment.name in on_remote]
    missing = [experiment for experiment in grid if experiment.name not in on_remote]
    if present:
        pull = dvc_command("exp", "pull", *(["--no-cache"] if args.no_cache else []), remote,
                           *(exp_ref(baseline, experiment.name) for experiment in present))
        result = subprocess.run(pull, cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            why = _first_line(result.stderr) or _first_line(result.stdout)
            raise SignlangError(f"dvc exp pull from {remote}: {why}")
    rows = rows_of(grid, experiment_data(root, {experiment.name for experiment in present}))
    say(f"sweep of {len(grid)} experiments from baseline {baseline[:7]}: {len(rows)} on {remote}, {len(missing)} not")
    for experiment in missing:
        say(f"missing {experiment.name} ({experiment.describe()}): not on {remote} yet")
    if not rows:
        say_error(f"none of the sweep's {len(grid)} experiments is on {remote} yet")
        return 1
    columns = metric_columns(root)
    sort_by = args.sort_by or default_sort(rows, columns)
    ordered = best_first(rows, sort_by, descending=args.sort_order == "desc")
    say("")
    say(table(grid, ordered, columns, sort_by, descending=args.sort_order == "desc"))
    say("")
    metric = f"{sort_by[0]}:{sort_by[1]}"
    best = ordered[0]
    if _number(best.metric(sort_by)) is None:
        say_error(f"no experiment has the metric {metric}; nothing to rank")
        return 1
    say(f"best by {metric} ({'highest' if args.sort_order == 'desc' else 'lowest'}): {best.experiment.name} "
        f"({best.experiment.describe()})")
    say(f"dvc exp apply {best.experiment.name}")
    return 0


# --- command line ---------------------------------------------------------------------------------


def worker_argument(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected INDEX/COUNT such as 0/4, got {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise argparse.ArgumentTypeError(f"the worker count must be >= 1, got {count}")
    if not index < count:
        raise argparse.ArgumentTypeError(f"the worker index {index} is outside [0, {count})")
    return index, count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signlang sweep",
        description="Run a grid of DVC experiments over several machines, shared through a Git remote and the "
        "default DVC remote, and gather them into one table (docs/sweeps.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(command: argparse.ArgumentParser) -> None:
        command.add_argument("--git-remote", required=True, metavar="REMOTE",
                             help="the Git remote the experiments are pushed to: a URL, a path or a remote's name")
        command.add_argument("-S", "--set-param", action="append", default=[], required=True, metavar="KEY=V1,V2",
                             help="a swept param of params.yaml, as `dvc exp run --queue -S`; repeat for a grid "
                             "(every machine must be given the same -S)")

    run = commands.add_parser(
        "run", help="run this machine's share of the grid and push each experiment",
        description="Run worker INDEX's share of the grid (experiment k of its canonical order when "
        "k %% COUNT == INDEX) one after another with `dvc exp run --temp`, and push each with "
        "`dvc exp push`; experiments already on the Git remote are skipped. Exit code 1 if any failed.",
    )
    run.add_argument("--worker", type=worker_argument, required=True, metavar="INDEX/COUNT",
                     help="this machine's index among COUNT machines, from 0")
    common(run)
    run.add_argument("--log-dir", type=Path, metavar="DIR",
                     help=f"where each experiment's output goes, as NAME.log (default: {DEFAULT_LOG_DIR} in the "
                     "repository, which Git ignores)")
    run.set_defaults(func=run_worker)

    gather_parser = commands.add_parser(
        "gather", help="pull the sweep's experiments and print one table and the best one",
        description="`dvc exp pull` every experiment of the grid found on the Git remote (those missing are "
        "listed), print one table, best first, and the `dvc exp apply` command of the best.",
    )
    common(gather_parser)
    gather_parser.add_argument("--sort-by", type=parse_sort_by, metavar="FILE:KEY",
                               help="the metric to rank by (default: the development photos' top1 when the "
                               "experiments have it, else the test accuracy)")
    gather_parser.add_argument("--sort-order", choices=("desc", "asc"), default="desc",
                               help="desc: higher is better (default); asc: lower is better")
    gather_parser.add_argument("--no-cache", action="store_true",
                               help="pull only the experiments' Git refs, not their outputs from the DVC remote")
    gather_parser.set_defaults(func=gather)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``signlang sweep run|gather ...``; bad arguments exit 2 (argparse), bad input 1 with one line."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SignlangError as error:
        say_error(str(error))
        return 1


if __name__ == "__main__":
    sys.exit(main())

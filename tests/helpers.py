"""What tests share: small Kaggle-format CSVs generated on the spot, params from the project's params.yaml,
stage scripts loaded as modules, and commands run in temporary repositories."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from unittest import mock

import numpy as np
import yaml

from PIL import Image

from signlang import LETTERS
from signlang.kaggle import HEADER
from signlang.params import P, load_params

PROJECT = Path(__file__).resolve().parents[1]
LABELS = (0, 1, 2, 3)  # A, B, C, D


def synthetic_pixels(labels: np.ndarray, seed: int) -> np.ndarray:
    """(N, 784) uint8 images a small CNN can tell apart: a bright bar whose row depends on the label, on
    noise strong enough that no two are near-duplicates (`near_duplicate_groups`)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 140, size=(len(labels), 28, 28))
    for i, label in enumerate(labels):
        row = 3 + 5 * int(label) % 22
        images[i, row : row + 4, 4:24] = 220
    return images.reshape(len(labels), -1).astype(np.uint8)


def csv_text(labels: np.ndarray, pixels: np.ndarray, newline: str = "\n") -> str:
    rows = [",".join(HEADER)]
    rows += [",".join(map(str, [label, *row])) for label, row in zip(labels.tolist(), pixels.tolist())]
    return newline.join(rows) + newline


def write_csv(path: Path, labels: np.ndarray, pixels: np.ndarray, newline: str = "\n") -> Path:
    text = csv_text(labels, pixels, newline).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text) if path.suffix == ".gz" else text)
    return path


def write_photo_folder(
    root: Path, per_letter: int, seed: int, labels: tuple[int, ...] = LABELS, side: int = 64
) -> Path:
    """An ImageFolder of PNG "photos": each a synthetic 28x28 image (``synthetic_pixels``) scaled to half
    the photo's side, placed at a random spot on a noisy background, with its box in boxes.csv."""
    rng = np.random.default_rng(seed)
    rows = ["file,letter,x0,y0,x1,y1"]
    for label in labels:
        letter = LETTERS[label]
        (root / letter).mkdir(parents=True, exist_ok=True)
        for i, pixels in enumerate(synthetic_pixels(np.full(per_letter, label), seed=seed + label)):
            photo = rng.integers(30, 100, size=(side, side), dtype=np.uint8)
            inner = side // 2
            x0, y0 = (int(v) for v in rng.integers(0, side - inner, size=2))
            photo[y0 : y0 + inner, x0 : x0 + inner] = np.asarray(
                Image.fromarray(pixels.reshape(28, 28)).resize((inner, inner), Image.Resampling.BILINEAR)
            )
            name = f"{letter}/{letter}{i}_v{seed}.png"
            Image.fromarray(photo).convert("RGB").save(root / name)
            rows.append(f"{name},{letter},{x0},{y0},{x0 + inner},{y0 + inner}")
    (root / "boxes.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def landmarks_without_hands(folder: Path, out: Path) -> Path:
    """What the landmarks stage writes for ``folder`` if MediaPipe finds no hand in any photo (the synthetic
    photos have none), without running MediaPipe nor reading the photos (prepare reads and checks them); a
    folder that does not fit the layout gets no photos (prepare reports it)."""
    from signlang.errors import SignlangError
    from signlang.landmarks import extract_landmarks, write_landmarks
    from signlang.photos import read_photo_folder

    try:
        photos = read_photo_folder(folder) if folder.exists() else []
    except SignlangError:
        photos = []
    no_hand = (None, (64, 64), np.zeros(28 * 28, np.uint8))
    with mock.patch("signlang.landmarks._find", return_value=no_hand):
        write_landmarks(out, extract_landmarks(photos, workers=1))
    return out


def hand_landmarks(photos: Path, extra: Path, directory: Path) -> dict[str, Path]:
    """prepare's landmark arguments for two photo folders (``landmarks_without_hands``), kept in ``directory``."""
    return {"photo_landmarks": landmarks_without_hands(photos, directory / "train"),
            "extra_landmarks": landmarks_without_hands(extra, directory / "extra")}


def prepare_argv(
    raw: Path, out: Path, photos: Path, extra: Path, params: Path = PROJECT / "params.yaml",
    hands: Path | None = None,
) -> list[str]:
    """The prepare stage's arguments, as dvc.yaml passes them, with landmark sets of both photo folders
    (``landmarks_without_hands``) in ``hands`` (by default beside ``out``)."""
    hands = hands or out.parent / f"{out.name}-landmarks"
    return ["--raw-dir", str(raw), "--photos-dir", str(photos),
            "--photo-landmarks", str(landmarks_without_hands(photos, hands / "train")), "--extra-dir", str(extra),
            "--extra-landmarks", str(landmarks_without_hands(extra, hands / "extra")), "--out-dir", str(out),
            "--params", str(params)]


def make_split(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.array(LABELS), per_class)
    return labels, synthetic_pixels(labels, seed)


# a git identity for the commits the tests and `dvc exp` make (CI may have none configured)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "signlang tests",
    "GIT_AUTHOR_EMAIL": "tests@signlang.invalid",
    "GIT_COMMITTER_NAME": "signlang tests",
    "GIT_COMMITTER_EMAIL": "tests@signlang.invalid",
}


def command_env() -> dict[str, str]:
    """This interpreter's environment first on PATH (dvc's queue workers run `dvc` from PATH)."""
    return os.environ | GIT_IDENTITY | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }


def run(repo: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    """Run a command in ``repo`` (with ``env`` added to the environment); fail with its output unless it
    exits 0. Returns stdout + stderr."""
    result = subprocess.run(
        args, cwd=repo, env=command_env() | (env or {}), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def set_param(repo: Path, section: str, key: str, value: object) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def copy_real_photos(source: Path, target: Path, per_letter: int, letters: tuple[int, ...] = LABELS) -> Path:
    """The first ``per_letter`` photos of each of ``letters`` in ``source``, a folder of letters: real hands,
    which MediaPipe finds (HandNet trains and is checked on them)."""
    for label in letters:
        letter = LETTERS[label]
        (target / letter).mkdir(parents=True)
        for photo in sorted(path for path in (source / letter).iterdir() if path.suffix == ".jpg")[:per_letter]:
            shutil.copy(photo, target / letter / photo.name)
    return target


def init_pipeline_repo(repo: Path) -> Path:
    """A git + DVC repository holding this project's pipeline with 1-epoch, batch-32 params, a small
    generated folder of training photos and a few real ones (more-hands, dev) for HandNet; no Kaggle data yet."""
    repo.mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(PROJECT / name, repo / name)
    for folder in ("stages", "src"):
        shutil.copytree(PROJECT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    set_param(repo, "train", "epochs", 1)
    set_param(repo, "train", "batch_size", 32)
    set_param(repo, "prepare", "photo_crops", 2)
    write_photo_folder(repo / "data/photos/train", per_letter=3, seed=1)
    copy_real_photos(PROJECT / "data/photos/more-hands/longhongvo", repo / "data/photos/more-hands/longhongvo", 3)
    copy_real_photos(PROJECT / "data/photos/dev", repo / "data/photos/dev", 2)
    (repo / "data/people").mkdir(parents=True)
    shutil.copy(PROJECT / "data/people/README.md", repo / "data/people/README.md")
    (repo / "data/extra").mkdir(parents=True)
    (repo / "data/extra/.gitkeep").touch()
    run(repo, "git", "init", "-q")
    run(repo, sys.executable, "-m", "dvc", "init", "-q")
    run(repo, sys.executable, "-m", "dvc", "config", "core.analytics", "false")
    shutil.copytree(PROJECT / ".dvc" / "plots", repo / ".dvc" / "plots")  # the custom plot templates
    return repo


def load_stage(name: str) -> ModuleType:
    """stages/<name>.py as a module, so tests call its ``main(argv)`` as ``python stages/<name>.py`` would."""
    spec = importlib.util.spec_from_file_location(f"stages_{name}", PROJECT / "stages" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project_params(cls: type[P], section: str, **changes: object) -> P:
    """The ``section`` of the project's params.yaml, with ``changes``: tests hold no copy of its values."""
    return dataclasses.replace(load_params(PROJECT / "params.yaml", section, cls), **changes)


CHROMIUM = Path("/usr/bin/chromium")  # Debian's package, which .ci/run installs
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",  # a closed port: anything that slips past a test's route fails
]
INSTALL_HINTS = {
    "chromium": f"{CHROMIUM} (apt-get install chromium)",
    "playwright": "the playwright package (pip install -e '.[dev]')",
    "node": "node (apt-get install nodejs npm)",
    "npm": "npm (apt-get install nodejs npm)",
}


def require_tools(test: str, *tools: str) -> None:
    """Skip ``test`` without the tools (keys of INSTALL_HINTS) locally; in CI (CI set) their absence fails it."""
    import pytest

    missing = [INSTALL_HINTS[tool] for tool in tools if not _has_tool(tool)]
    if missing:
        message = f"{test} needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _has_tool(tool: str) -> bool:
    if tool == "chromium":
        return CHROMIUM.exists()
    if tool == "playwright":
        return importlib.util.find_spec("playwright") is not None
    return shutil.which(tool) is not None

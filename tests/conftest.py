"""pytest hooks (--runslow) and fixtures; the helpers that tests import live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_split, write_csv, write_photo_folder


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run the tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """data/raw with a 4-letter train CSV (40 images a letter) and test CSV (10 a letter)."""
    raw = tmp_path / "raw"
    write_csv(raw / "sign_mnist_train.csv", *make_split(40, seed=1))
    write_csv(raw / "sign_mnist_test.csv", *make_split(10, seed=2))
    return raw


@pytest.fixture
def photos_dir(tmp_path: Path) -> Path:
    """data/photos/train: 4 letters, 3 generated photos each, with boxes.csv."""
    return write_photo_folder(tmp_path / "photos", per_letter=3, seed=1)


@pytest.fixture
def extra_dir(tmp_path: Path) -> Path:
    """data/extra as a fresh clone has it: empty but for a hidden file."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / ".gitkeep").touch()
    return extra

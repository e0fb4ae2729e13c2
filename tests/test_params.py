"""params.yaml is the one place the recipe is written: every key must be there, no other, each valid."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from signlang.params import PrepareParams, TrainParams, load_params
from signlang.training import configure_torch

from helpers import PROJECT, load_stage, prepare_argv, project_params

PROJECT_PARAMS = yaml.safe_load((PROJECT / "params.yaml").read_text(encoding="utf-8"))
# which stage reads each section (params.SECTIONS)
STAGE_OF_SECTION = {"prepare": "prepare", "train": "train", "landmarks": "landmarks", "hands": "train_hands",
                    "photos": "evaluate_photos"}


def test_project_params_load() -> None:
    assert load_params(PROJECT / "params.yaml", "prepare", PrepareParams).val_fraction == 0.1
    train = load_params(PROJECT / "params.yaml", "train", TrainParams)
    assert train.batch_size == PROJECT_PARAMS["train"]["batch_size"] and train.augment.enabled


def key_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Every key of a nested mapping, sections included: 'train', 'train.augment', 'train.augment.rotation'."""
    paths = []
    for key, value in values.items():
        paths.append(prefix + key)
        if isinstance(value, dict):
            paths += key_paths(value, f"{prefix}{key}.")
    return paths


def edited(path: str, value: object = None, delete: bool = False, text: str | None = None) -> str:
    """The project's params.yaml with the key at ``path`` set to ``value`` or deleted, as YAML text."""
    document = yaml.safe_load((PROJECT / "params.yaml").read_text(encoding="utf-8"))
    *parents, last = path.split(".")
    section = document
    for key in parents:
        section = section[key]
    if delete:
        del section[last]
    else:
        section[last] = value
    return yaml.safe_dump(document, sort_keys=False)


def assert_stops_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stage: str, params_text: str, message: str
) -> None:
    """Run ``stage`` with these params and no data: it must stop before touching any, with exit code 1,
    one line holding ``message``, and no outputs."""
    params = tmp_path / "params.yaml"
    params.write_text(params_text, encoding="utf-8")
    out = tmp_path / "out"
    missing = tmp_path / "no-data"  # a stage that read its data first would complain about this instead
    if stage == "prepare":
        argv = prepare_argv(missing, out / "prepared", missing, missing, params, hands=tmp_path / "landmarks")
    elif stage == "landmarks":
        argv = ["--photos", str(missing), "--out", str(out / "landmarks"), "--params", str(params)]
    elif stage == "train_hands":
        argv = ["--train", str(missing), "--extra", str(missing), "--dev", str(missing), "--model", str(out / "h.pt"),
                "--metrics", str(out / "m.json"), "--loss-plot", str(out / "loss.json"), "--params", str(params)]
    elif stage == "evaluate_photos":
        argv = ["--model", str(missing), "--hand-model", str(missing), "--landmarks-dir", str(missing), "--metrics",
                str(out / "m.json"), "--confusion", str(out / "c.json"), "--params", str(params)]
    else:
        argv = ["--prepared-dir", str(missing), "--model", str(out / "model.pt"), "--metrics", str(out / "m.json"),
                "--loss-plot", str(out / "loss.json"), "--timing", str(out / "time.json"), "--params", str(params)]
    code = load_stage(stage).main(argv)
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err, err
    assert not out.exists()


@pytest.mark.parametrize("path", key_paths(PROJECT_PARAMS))
def test_deleting_any_key_of_params_yaml_stops_its_stage_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    stage = STAGE_OF_SECTION[path.split(".")[0]]
    assert_stops_with(tmp_path, capsys, stage, edited(path, delete=True), f"params.yaml: missing key '{path}'")


# One case per way a value can be wrong, each a change to the project's params.yaml.
BAD_PARAMS = [
    ("prepare.split", 0.2, "unknown key 'prepare.split'; allowed keys: val_fraction, val_split, seed, photo_crops"),
    ("prepare.val_split", "groups", "'prepare.val_split' must be random or grouped, got 'groups'"),
    ("prepare.val_fraction", "half", "'prepare.val_fraction' must be float, got 'half'"),
    ("prepare.val_fraction", 0, "'prepare.val_fraction' must be a number in (0, 1), got 0.0"),
    ("prepare.val_fraction", 1, "'prepare.val_fraction' must be a number in (0, 1), got 1.0"),
    ("prepare.seed", -1, "'prepare.seed' must be an integer >= 0, got -1"),
    ("prepare.seed", 1.5, "'prepare.seed' must be int, got 1.5"),
    ("prepare", 3, "'prepare' must be a mapping of keys to values, got 3"),
    ("prepare.photo_crops", 0, "'prepare.photo_crops' must be an integer >= 1, got 0"),
    ("prepare.crop_scale", 1, "'prepare.crop_scale' must be a number in [0, 1), got 1.0"),
    ("prepare.crop_shift", -0.1, "'prepare.crop_shift' must be a number in [0, 1), got -0.1"),
    ("train.photo_share", 1, "'train.photo_share' must be a number in [0, 1), got 1.0"),
    ("train.extra_weight", 0, "'train.extra_weight' must be a number > 0, got 0.0"),
    ("train.keep", "first", "'train.keep' must be best or last, got 'first'"),
    ("train.augment.mirror", "yes", "'train.augment.mirror' must be bool, got 'yes'"),
    ("train.learning_rate", 0.1, "unknown key 'train.learning_rate'; allowed keys: epochs, batch_size, lr"),
    ("train.augment.shear", 3, "unknown key 'train.augment.shear'; allowed keys: enabled, mirror, rotation"),
    ("train.lr", "fast", "'train.lr' must be float, got 'fast'"),
    ("train.epochs", 2.5, "'train.epochs' must be int, got 2.5"),
    ("train.epochs", True, "'train.epochs' must be int, got True"),
    ("train.amp", 1, "'train.amp' must be bool, got 1"),
    ("train.augment", 0.5, "'train.augment' must be a mapping of keys to values, got 0.5"),
    ("train.lr", -0.001, "'train.lr' must be a number > 0, got -0.001"),
    ("train.lr", 0, "'train.lr' must be a number > 0, got 0.0"),
    ("train.epochs", 0, "'train.epochs' must be an integer >= 1, got 0"),
    ("train.batch_size", 0, "'train.batch_size' must be an integer >= 1, got 0"),
    ("train.seed", -3, "'train.seed' must be an integer >= 0, got -3"),
    ("train.weight_decay", -0.1, "'train.weight_decay' must be a number >= 0, got -0.1"),
    ("train.label_smoothing", 1, "'train.label_smoothing' must be a number in [0, 1), got 1.0"),
    ("train.dropout", 1, "'train.dropout' must be a number in [0, 1), got 1.0"),
    ("train.dropout", -0.5, "'train.dropout' must be a number in [0, 1), got -0.5"),
    ("train.schedule", "linear", "'train.schedule' must be constant or onecycle or cosine, got 'linear'"),
    ("train.device", "tpu", "'train.device' must be auto or cpu or cuda, got 'tpu'"),
    ("train.device", "cuda", "'train.device' is cuda, but torch sees no CUDA device; allowed here: auto or cpu"),
    ("train.augment.rotation", 200, "'train.augment.rotation' must be degrees in [0, 180], got 200.0"),
    ("train.augment.scale", 1, "'train.augment.scale' must be a number in [0, 1), got 1.0"),
    ("landmarks.mediapipe", "0.10.99", "'landmarks.mediapipe' is '0.10.99', but mediapipe 0.10.14 is installed"),
    ("hands.fusion_weight", 1.5, "'hands.fusion_weight' must be a number in [0, 1], got 1.5"),
    ("hands.width", 0, "'hands.width' must be an integer >= 1, got 0"),
    ("hands.extra_weight", 2.5, "'hands.extra_weight' must be int, got 2.5"),
    ("hands.augment.mirror", 2, "'hands.augment.mirror' must be a probability in [0, 1], got 2.0"),
    ("hands.augment.jitter", -1, "'hands.augment.jitter' must be a number >= 0, got -1.0"),
    ("hands.device", "cuda", "'hands.device' is cuda, but torch sees no CUDA device; allowed here: auto or cpu"),
    ("photos.score", "dev", "'photos.score' must be a list of str, got 'dev'"),
    ("photos.score", [], "'photos.score' must be a list of photo sets, got []"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_PARAMS, ids=[f"{p}={v}" for p, v, _ in BAD_PARAMS])
def test_a_stage_with_bad_params_stops_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    path: str, value: object, message: str,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # device: cuda must fail here, GPU or not
    assert_stops_with(tmp_path, capsys, STAGE_OF_SECTION[path.split(".")[0]], edited(path, value), message)


def test_unreadable_yaml_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_stops_with(tmp_path, capsys, "prepare", "prepare: {val_fraction: [0.1", "cannot read params: while parsing")


def test_amp_on_cpu_is_a_logged_no_op(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        configure_torch(project_params(TrainParams, "train", amp=True), torch.device("cpu"))
    assert "train.amp has no effect on cpu" in caplog.text

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from signlang.params import PrepareParams, TrainParams, load_params
from signlang.training import configure_torch

from conftest import load_stage

PROJECT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def test_project_params_load() -> None:
    assert load_params(PROJECT_PARAMS, "prepare", PrepareParams).val_fraction == 0.1
    train = load_params(PROJECT_PARAMS, "train", TrainParams)
    assert train.batch_size == 128 and train.augment.enabled and train.augment.rotation == 10.0


# One case per way a value can be wrong: the stage stops before touching any data, with one line that
# names the key and what is allowed, exit code 1, and no outputs.
BAD_PARAMS = [
    ("prepare", "prepare: {split: 0.2}", "unknown key 'prepare.split'; allowed keys: val_fraction, seed"),
    ("prepare", "prepare: {val_fraction: half}", "'prepare.val_fraction' must be float, got 'half'"),
    ("prepare", "prepare: {val_fraction: 0}", "'prepare.val_fraction' must be a number in (0, 1), got 0.0"),
    ("prepare", "prepare: {val_fraction: 1}", "'prepare.val_fraction' must be a number in (0, 1), got 1.0"),
    ("prepare", "prepare: {seed: -1}", "'prepare.seed' must be an integer >= 0, got -1"),
    ("prepare", "prepare: {seed: 1.5}", "'prepare.seed' must be int, got 1.5"),
    ("prepare", "prepare: 3", "section 'prepare' must be a mapping of keys to values"),
    ("prepare", "prepare: {val_fraction: [0.1", "cannot read params: while parsing a flow sequence"),
    ("train", "train: {learning_rate: 0.1}", "unknown key 'train.learning_rate'; allowed keys: epochs, batch_size, lr"),
    ("train", "train: {augment: {shear: 3}}", "unknown key 'train.augment.shear'; allowed keys: enabled, rotation"),
    ("train", "train: {lr: fast}", "'train.lr' must be float, got 'fast'"),
    ("train", "train: {epochs: 2.5}", "'train.epochs' must be int, got 2.5"),
    ("train", "train: {epochs: true}", "'train.epochs' must be int, got True"),
    ("train", "train: {amp: 1}", "'train.amp' must be bool, got 1"),
    ("train", "train: {augment: 0.5}", "'train.augment' must be a mapping of keys to values, got 0.5"),
    ("train", "train: {lr: -0.001}", "'train.lr' must be a number > 0, got -0.001"),
    ("train", "train: {lr: 0}", "'train.lr' must be a number > 0, got 0.0"),
    ("train", "train: {epochs: 0}", "'train.epochs' must be an integer >= 1, got 0"),
    ("train", "train: {batch_size: 0}", "'train.batch_size' must be an integer >= 1, got 0"),
    ("train", "train: {seed: -3}", "'train.seed' must be an integer >= 0, got -3"),
    ("train", "train: {weight_decay: -0.1}", "'train.weight_decay' must be a number >= 0, got -0.1"),
    ("train", "train: {label_smoothing: 1}", "'train.label_smoothing' must be a number in [0, 1), got 1.0"),
    ("train", "train: {schedule: linear}", "'train.schedule' must be constant or onecycle or cosine, got 'linear'"),
    ("train", "train: {device: tpu}", "'train.device' must be auto or cpu or cuda, got 'tpu'"),
    ("train", "train: {device: cuda}",
     "'train.device' is cuda, but torch sees no CUDA device; allowed here: auto or cpu"),
    ("train", "train: {augment: {rotation: 200}}", "'train.augment.rotation' must be degrees in [0, 180], got 200.0"),
    ("train", "train: {augment: {scale: 1}}", "'train.augment.scale' must be a number in [0, 1), got 1.0"),
]


@pytest.mark.parametrize(("stage", "text", "message"), BAD_PARAMS, ids=[text for _, text, _ in BAD_PARAMS])
def test_a_stage_with_bad_params_stops_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    stage: str, text: str, message: str,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # device: cuda must fail here, GPU or not
    params = tmp_path / "params.yaml"
    params.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    missing = tmp_path / "no-data"  # a stage that read its data first would complain about this instead
    if stage == "prepare":
        argv = ["--raw-dir", str(missing), "--out-dir", str(out / "prepared")]
    else:
        argv = ["--prepared-dir", str(missing), "--model", str(out / "model.pt"), "--metrics", str(out / "m.json"),
                "--loss-plot", str(out / "loss.json")]
    code = load_stage(stage).main([*argv, "--params", str(params)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err, err
    assert not out.exists()


def test_amp_on_cpu_is_a_logged_no_op(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        configure_torch(TrainParams(amp=True), torch.device("cpu"))
    assert "train.amp has no effect on cpu" in caplog.text

"""The export stage: the checkpoint as ONNX with its classes and normalization, checked against PyTorch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from signlang import LETTERS
from signlang.errors import SignlangError
from signlang.export import (
    PARITY_TOLERANCE,
    check_parity,
    checked_cnn_onnx,
    onnx_bytes,
    onnx_probabilities,
    read_metadata,
    run_onnx,
)
from signlang.model import SignConvNet, load_checkpoint, save_checkpoint
from signlang.normalization import Normalization

from signlang.handnet import HandNet, handnet_checkpoint_writer, load_handnet
from signlang.landmarks import LandmarkSet, write_landmarks

from helpers import load_stage, make_split

onnx = pytest.importorskip("onnx")  # the export's dependencies (pip install -e .)
pytest.importorskip("onnxruntime")

NORMALIZATION = Normalization(mean=0.45, std=0.25)


def save_model(path: Path, seed: int = 0, mirror_average: bool = True) -> Path:
    """A checkpoint with random weights and non-trivial BatchNorm statistics, so that eval mode, which the
    export must keep, differs from train mode; averaging over the mirror image, as the default recipe's."""
    torch.manual_seed(seed)
    model = SignConvNet(mirror_average=mirror_average)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    save_checkpoint(path, model, NORMALIZATION)
    return path


def write_prepared(directory: Path, per_class: int = 3) -> Path:
    """A prepared directory holding only what the export reads: a small test split."""
    labels, pixels = make_split(per_class, seed=5)
    directory.mkdir(parents=True)
    np.save(directory / "test_images.npy", NORMALIZATION.to_model_input(pixels))
    np.save(directory / "test_labels.npy", labels.astype(np.int64))
    return directory


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(tmp_path_factory.mktemp("model") / "model.pt")


@pytest.fixture(scope="module")
def exported(checkpoint: Path) -> bytes:
    """The checkpoint's ONNX bytes (one export for the tests that only read them)."""
    return onnx_bytes(load_checkpoint(checkpoint, torch.device("cpu")))


def argv(model: Path, out: Path, prepared: Path) -> list[str]:
    """The stage's arguments; HandNet's checkpoint, landmarks and ONNX file under ``prepared/hands``."""
    hands = prepared / "hands"
    return ["--model", str(model), "--onnx", str(out), "--prepared-dir", str(prepared),
            "--hand-model", str(save_handnet(hands / "handnet.pt")), "--hand-onnx", str(hands / "handnet.onnx"),
            "--landmarks", str(write_hands(hands / "landmarks"))]


def save_handnet(path: Path) -> Path:
    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handnet_checkpoint_writer(HandNet(width=16, dropout=0.0).eval(), fusion_weight=0.7)(handle)
    return path


def write_hands(directory: Path, count: int = 12) -> Path:
    """A landmark set of ``count`` random hands, found, in both hands."""
    rng = np.random.default_rng(0)
    write_landmarks(directory, LandmarkSet(
        names=np.array([f"A/{i}.jpg" for i in range(count)]), sources=np.array([""] * count),
        labels=np.zeros(count, np.int64), found=np.ones(count, bool), step=np.zeros(count, np.int64),
        landmarks=(rng.random((count, 21, 3)) * 200).astype(np.float32),
        world=(rng.random((count, 21, 3)) * 0.1 - 0.05).astype(np.float32),
        handedness=np.where(rng.random(count) < 0.5, -1.0, 1.0).astype(np.float32), score=np.ones(count, np.float32),
        size=np.full((count, 2), 200), pixels=np.zeros((count, 784), np.uint8),
    ))
    return directory


def test_the_stage_writes_handnet_as_onnx_that_answers_as_pytorch_does(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argv(checkpoint, tmp_path / "model.onnx", write_prepared(tmp_path / "prepared"))
    assert load_stage("export").main(args) == 0, capsys.readouterr().err
    content = (tmp_path / "prepared/hands/handnet.onnx").read_bytes()
    props = {entry.key: json.loads(entry.value) for entry in onnx.load_from_string(content).metadata_props}
    assert props["classes"] == list(LETTERS) and props["fusion_weight"] == 0.7
    loaded = load_handnet(tmp_path / "prepared/hands/handnet.pt", torch.device("cpu"))
    landmarks, world = torch.rand(9, 21, 3) * 400, torch.rand(9, 21, 3) * 0.1
    handedness = torch.tensor([1.0, -1.0, 1.0] * 3)
    with torch.no_grad():
        expected = torch.softmax(loaded.model(landmarks, world, handedness), dim=1).numpy()
    actual = run_onnx(content, {"landmarks": landmarks.numpy(), "world": world.numpy(), "handedness": handedness.numpy()})
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=0)


def test_a_handnet_export_that_differs_fails_and_writes_neither_model(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import signlang.export

    real = signlang.export.run_onnx
    monkeypatch.setattr(signlang.export, "run_onnx", lambda content, inputs: real(content, inputs)[:, ::-1].copy()
                        if "landmarks" in inputs else real(content, inputs))
    out = tmp_path / "model.onnx"
    assert load_stage("export").main(argv(checkpoint, out, write_prepared(tmp_path / "prepared"))) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the ONNX export does not match" in err and "hands" in err, err
    assert not out.exists() and not (tmp_path / "prepared/hands/handnet.onnx").exists()


def test_the_stage_writes_onnx_that_answers_as_pytorch_does(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "models" / "model.onnx"
    code = load_stage("export").main(argv(checkpoint, out, write_prepared(tmp_path / "prepared")))
    assert code == 0, capsys.readouterr().err
    content = out.read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["model.onnx"]  # no temporary file left behind

    classes, normalization, side = read_metadata(content)
    assert classes == LETTERS and normalization == NORMALIZATION and side == 28
    proto = onnx.load_from_string(content)
    assert proto.opset_import[0].version >= 17 and [i.name for i in proto.graph.input] == ["images"]
    props = {entry.key: json.loads(entry.value) for entry in proto.metadata_props}
    assert props["classes"] == list(LETTERS) and props["normalization"] == {"mean": 0.45, "std": 0.25}

    # any batch size, and images unlike the test split
    images = torch.randn(37, 1, 28, 28)
    loaded = load_checkpoint(checkpoint, torch.device("cpu"))
    with torch.inference_mode():
        expected = torch.softmax(loaded.model(images), dim=1).numpy()
    np.testing.assert_allclose(onnx_probabilities(content, images.numpy()), expected, atol=1e-5, rtol=0)


def test_the_parity_check_measures_every_image(checkpoint: Path, exported: bytes) -> None:
    loaded = load_checkpoint(checkpoint, torch.device("cpu"))
    images = NORMALIZATION.to_model_input(make_split(5, seed=9)[1])
    parity = check_parity(exported, loaded, images)
    assert parity.ok and parity.images == 20 and parity.top_disagreements == 0
    assert parity.max_difference < PARITY_TOLERANCE / 10, parity


def perturbed(content: bytes, scale: float) -> bytes:
    """The ONNX model with its last layer's weights and bias scaled, so its logits are: still valid ONNX, no
    longer the checkpoint (a positive scale keeps each image's ranking of the letters)."""
    proto = onnx.load_from_string(content)
    gemm = next(node for node in proto.graph.node if node.op_type in ("Gemm", "MatMul"))
    for init in proto.graph.initializer:
        if init.name in gemm.input[1:]:
            values = onnx.numpy_helper.to_array(init) * np.float32(scale)
            init.CopyFrom(onnx.numpy_helper.from_array(values, init.name))
    return proto.SerializeToString()


@pytest.mark.parametrize(
    ("scale", "how"), [(-1.0, r"top letter differs on [1-9]"), (1.03, r"top letter differs on 0;")]
)
def test_an_export_that_differs_from_pytorch_fails_the_stage_and_writes_nothing(
    checkpoint: Path, exported: bytes, scale: float, how: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Negating the last layer's logits changes letters; scaling them by 1.03 only moves probabilities (by more
    than 1e-4)."""
    import signlang.export

    monkeypatch.setattr(signlang.export, "onnx_bytes", lambda loaded: perturbed(exported, scale))
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the previous export")
    code = load_stage("export").main(argv(checkpoint, out, write_prepared(tmp_path / "prepared", per_class=10)))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(f"error: {out}: the ONNX export does not match") and re.search(how, err[0]), err
    assert out.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "prepared"]


def test_metadata_that_is_not_the_checkpoints_fails(
    checkpoint: Path, exported: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signlang.export

    proto = onnx.load_from_string(exported)
    for entry in proto.metadata_props:
        if entry.key == "normalization":
            entry.value = json.dumps({"mean": 0.5, "std": 0.25})
    monkeypatch.setattr(signlang.export, "onnx_bytes", lambda loaded: proto.SerializeToString())
    with pytest.raises(SignlangError, match="metadata_props differ"):
        checked_cnn_onnx(checkpoint, tmp_path / "model.onnx", write_prepared(tmp_path / "prepared"))
    assert not (tmp_path / "model.onnx").exists()


def test_bad_inputs_are_one_line(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stage = load_stage("export")
    prepared = write_prepared(tmp_path / "prepared")
    assert stage.main(argv(tmp_path / "missing.pt", tmp_path / "m.onnx", prepared)) == 1
    missing_model = f"error: {tmp_path / 'missing.pt'}: checkpoint not found; run 'dvc repro' to train one"
    assert capsys.readouterr().err.strip() == missing_model
    assert stage.main(argv(checkpoint, tmp_path / "m.onnx", tmp_path / "nowhere")) == 1
    missing = tmp_path / "nowhere" / "test_images.npy"
    expected = f"error: {missing}: not found; run the prepare stage ('dvc repro prepare')"
    assert capsys.readouterr().err.strip() == expected
    empty = tmp_path / "empty"
    empty.mkdir()
    np.save(empty / "test_images.npy", np.zeros((0, 1, 28, 28), np.float32))
    np.save(empty / "test_labels.npy", np.zeros(0, np.int64))
    assert stage.main(argv(checkpoint, tmp_path / "m.onnx", empty)) == 1
    assert capsys.readouterr().err.strip() == f"error: {empty}: no test images to check the ONNX export on"
    assert not (tmp_path / "m.onnx").exists()

"""`signlang predict`: images and dataset CSVs in, letters and probabilities out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from signlang import LETTERS
from signlang.console import main
from signlang.arrays import load_normalization, load_split
from signlang.data import prepare
from signlang.kaggle import read_dataset_csv
from signlang.model import SignConvNet, save_checkpoint
from signlang.normalization import Normalization
from signlang.params import PrepareParams
from signlang.handnet import HandNet, handnet_checkpoint_writer
from signlang.predict import image_pixels

from helpers import init_pipeline_repo, make_split, project_params, write_csv, hand_landmarks

LINE = re.compile(r"^(?P<input>.+): (?P<ranked>[A-Z] [01]\.\d{4}(, [A-Z] [01]\.\d{4})*)( \(label [A-Z]\))?$")


def save_model(path: Path, normalization: Normalization, seed: int = 0) -> Path:
    """A checkpoint with random weights (what it predicts does not matter, only that it is used as trained)."""
    torch.manual_seed(seed)
    model = SignConvNet()
    for module in model.modules():  # non-trivial running statistics, so eval mode differs from train mode
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    save_checkpoint(path, model, normalization)
    return path


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    return save_model(tmp_path / "model.pt", Normalization(mean=0.45, std=0.25))


def run_predict(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    code = main(["predict", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def ranked(line: str) -> list[tuple[str, float]]:
    match = LINE.match(line)
    assert match, line
    return [(pair[0], float(pair[2:])) for pair in match["ranked"].split(", ")]


def test_a_dataset_row_as_png_is_exactly_what_prepare_feeds_the_model(
    raw_dir: Path, extra_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepared = tmp_path / "prepared"
    prepare(raw_dir=raw_dir, photos_dir=extra_dir, extra_dir=extra_dir, **hand_landmarks(extra_dir, extra_dir, tmp_path / "landmarks"), out_dir=prepared,
            params=project_params(PrepareParams, "prepare"))
    normalization = load_normalization(prepared)
    model = save_model(tmp_path / "model.pt", normalization)
    test_csv = raw_dir / "sign_mnist_test.csv"
    pixels, labels = read_dataset_csv(test_csv)
    png = tmp_path / "row1.png"
    Image.fromarray(pixels[0].reshape(28, 28), mode="L").save(png)

    from_png = normalization.to_model_input(image_pixels(png))[0]
    prepared_images, _ = load_split(prepared, "test")
    np.testing.assert_array_equal(from_png, prepared_images[0])  # bit for bit

    code, out, err = run_predict(capsys, str(png), str(test_csv), "--model", "cnn", "--checkpoint", str(model), "--top", "3")
    assert code == 0 and err == []
    assert len(out) == 1 + len(labels)
    assert out[1].startswith(f"{test_csv}:1: ") and out[1].endswith(f"(label {LETTERS[labels[0]]})")
    assert ranked(out[0]) == ranked(out[1])


def test_images_of_any_size_and_mode_become_28x28_grayscale(tmp_path: Path) -> None:
    gray = make_split(1, seed=3)[1][0].reshape(28, 28)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    noise = np.random.default_rng(0).integers(0, 256, size=(28, 28), dtype=np.uint8)
    cases = {
        "gray.png": Image.fromarray(gray, mode="L"),
        "rgb.png": Image.fromarray(rgb, mode="RGB"),
        "palette.png": Image.fromarray(rgb, mode="RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=256),
        "opaque-rgba.png": Image.fromarray(np.dstack([rgb, np.full((28, 28), 255, np.uint8)]), mode="RGBA"),
        # wider than tall: the center square is kept, the sides cropped off
        "wide.png": Image.fromarray(np.hstack([noise, gray, noise]), mode="L"),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
        pixels = image_pixels(tmp_path / name)
        assert pixels.shape == (784,) and pixels.dtype == np.uint8, name
        if name != "palette.png":  # a palette can hold 256 grays, but ADAPTIVE quantizes them anyway
            np.testing.assert_array_equal(pixels, gray.reshape(-1), err_msg=name)

    big = Image.fromarray(np.kron(gray, np.ones((5, 5), dtype=np.uint8)), mode="L")  # 140x140
    big.convert("RGB").save(tmp_path / "big.jpg", quality=95)
    shrunk = image_pixels(tmp_path / "big.jpg").astype(int)
    other = make_split(1, seed=4)[1][0].astype(int)  # another image of the same letter: ~41 apart on average
    assert np.abs(shrunk - gray.reshape(-1)).mean() < 0.3 * np.abs(other - gray.reshape(-1)).mean()  # the same picture

    transparent = np.zeros((30, 50, 4), dtype=np.uint8)  # fully transparent black
    Image.fromarray(transparent, mode="RGBA").save(tmp_path / "clear.png")
    assert (image_pixels(tmp_path / "clear.png") == 255).all()  # flattened onto white


def test_top_k_lines_and_json_agree(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for name, size in (("a.png", (33, 61)), ("b.jpg", (28, 28))):
        pixels = np.random.default_rng(len(paths)).integers(0, 256, size=(*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / name)
        paths.append(str(tmp_path / name))

    code, out, err = run_predict(capsys, *paths, "--model", "cnn", "--checkpoint", str(model_path), "--top", "5")
    assert code == 0 and err == []
    assert [LINE.match(line)["input"] for line in out] == paths
    for line in out:
        top = ranked(line)
        assert len(top) == 5 and len({letter for letter, _ in top}) == 5
        assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)

    code, out_json, err = run_predict(capsys, *paths, "--model", "cnn", "--checkpoint", str(model_path), "--top", "5", "--json")
    document = json.loads("\n".join(out_json))
    assert code == 0 and document["errors"] == []
    for line, result in zip(out, document["results"], strict=True):
        assert [(p["letter"], round(p["probability"], 4)) for p in result["predictions"]] == ranked(line)

    code, out, _ = run_predict(capsys, paths[0], "--model", "cnn", "--checkpoint", str(model_path), "--top", "100")
    assert code == 0 and len(ranked(out[0])) == len(LETTERS)  # every class, probabilities summing to 1
    assert sum(p for _, p in ranked(out[0])) == pytest.approx(1.0, abs=1e-3)


def test_a_bad_file_is_reported_and_the_others_still_answered(
    tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(np.full((28, 28), 128, dtype=np.uint8)).save(good)
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image", encoding="utf-8")
    noisy = tmp_path / "noisy.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, size=(28, 28), dtype=np.uint8)).save(noisy)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(noisy.read_bytes()[:400])
    bad_csv = tmp_path / "bad.csv"
    labels, pixels = make_split(2, seed=0)
    write_csv(bad_csv, labels, pixels)
    bad_csv.write_text(bad_csv.read_text().replace("\n0,", "\n26,", 1))  # label 26 on line 2
    good_csv = write_csv(tmp_path / "rows.csv.gz", labels, pixels)
    missing = tmp_path / "missing.jpg"

    files = [good, not_image, truncated, bad_csv, missing, good_csv]
    code, out, err = run_predict(capsys, *map(str, files), "--model", "cnn", "--checkpoint", str(model_path))
    assert code == 1
    assert [LINE.match(line)["input"] for line in out] == [str(good)] + [f"{good_csv}:{i}" for i in range(1, 9)]
    assert len(err) == 4
    assert err[0].startswith(f"error: {not_image}: not a readable image")
    assert err[1].startswith(f"error: {truncated}: not a readable image")
    assert err[2] == f"error: {bad_csv}: line 2, column 'label': expected an integer in 0..25, got 26"
    assert err[3] == f"error: {missing}: not found"

    code, out, err = run_predict(capsys, str(missing), "--model", "cnn", "--checkpoint", str(model_path), "--json")
    assert code == 1 and json.loads("\n".join(out)) == {
        "results": [],
        "errors": [{"input": str(missing), "error": f"{missing}: not found"}],
    }


def test_a_missing_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(image)
    code, out, err = run_predict(capsys, str(image), "--model", "cnn", "--checkpoint", str(tmp_path / "none.pt"))
    assert code == 1 and out == []
    assert err == [f"error: {tmp_path / 'none.pt'}: checkpoint not found; run 'dvc repro' to train one"]


def test_the_console_script_is_installed(tmp_path: Path, model_path: Path) -> None:
    script = Path(sys.executable).parent / "signlang"
    assert script.is_file(), "pip install -e . installs the signlang console script"
    image = tmp_path / "hand.jpg"
    Image.fromarray(np.full((50, 40, 3), 90, dtype=np.uint8)).save(image)
    result = subprocess.run(
        [script, "predict", image, "--model", "cnn", "--checkpoint", model_path, "--top", "2"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert ranked(result.stdout.strip()) and result.stdout.startswith(f"{image}: ")
    usage = subprocess.run([script, "predict", "--top", "0", image], capture_output=True, text=True)
    assert usage.returncode == 2 and "--top" in usage.stderr


def modules_loaded_by_predict(*args: str) -> set[str]:
    """Which of the heavy or training-only modules a fresh `signlang predict` process loads."""
    watched = ("signlang.training", "signlang.augment", "signlang.data", "signlang.kaggle", "pandas")
    code = (
        "import sys\nfrom signlang.console import main\n"
        f"code = main(['predict', *{list(args)!r}])\n"
        f"print('loaded:' + ','.join(name for name in {watched!r} if name in sys.modules))\nsys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(filter(None, result.stdout.strip().splitlines()[-1].removeprefix("loaded:").split(",")))


def test_predict_on_images_loads_neither_the_training_loop_nor_pandas(tmp_path: Path, model_path: Path) -> None:
    image = tmp_path / "hand.png"
    Image.fromarray(np.full((40, 30), 120, dtype=np.uint8)).save(image)
    assert modules_loaded_by_predict(str(image), "--model", "cnn", "--checkpoint", str(model_path)) == set()
    # the check sees imports: a CSV needs the CSV reader, which brings pandas
    csv = write_csv(tmp_path / "rows.csv", *make_split(1, seed=0))
    assert modules_loaded_by_predict(str(csv), "--model", "cnn", "--checkpoint", str(model_path)) == {"signlang.kaggle", "pandas"}


def test_without_model_predict_takes_the_artifact_path_from_dvc_yaml(
    tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = init_pipeline_repo(tmp_path / "repo")
    image = tmp_path / "hand.png"
    Image.fromarray(np.full((40, 30), 120, dtype=np.uint8)).save(image)
    monkeypatch.chdir(repo / "stages")  # anywhere inside the project
    code, out, err = run_predict(capsys, str(image))
    assert code == 1 and err == ["error: ../models/model.pt: checkpoint not found; run 'dvc repro' to train one"]
    (repo / "models").mkdir()
    shutil.copy(model_path, repo / "models/model.pt")
    code, out, err = run_predict(capsys, str(image), "--model", "cnn")  # SignConvNet alone needs no HandNet
    assert code == 0 and ranked(out[0])
    code, out, err = run_predict(capsys, str(image))
    assert code == 1 and err == ["error: ../models/handnet.pt: checkpoint not found; run 'dvc repro' to train one"]
    with (repo / "models/handnet.pt").open("wb") as handle:
        handnet_checkpoint_writer(HandNet(width=8, dropout=0.0), fusion_weight=0.5)(handle)
    code, out, err = run_predict(capsys, str(image))
    assert code == 0 and ranked(out[0])
    monkeypatch.chdir(tmp_path)  # outside any DVC project
    code, out, err = run_predict(capsys, str(image))
    assert code == 1 and err == ["error: no --checkpoint given, and no dvc.yaml here declares the artifact signlang-cnn"]

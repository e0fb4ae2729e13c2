"""HandNet, the hand finder's retry ladder, the landmarks stage, the fused answers and their metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from signlang import LETTERS
from signlang.console import main as signlang_main
from signlang.framing import read_photo
from signlang.fusion import Models, fuse
from signlang.hand_finding import LADDER, HandFinder
from signlang.hand_training import augment_landmarks, fit_handnet
from signlang.handnet import HandNet, canonical, handnet_checkpoint_writer, hand_features, load_handnet
from signlang.landmarks import extract_landmarks, read_landmarks, write_landmarks
from signlang.model import SignConvNet, load_checkpoint, save_checkpoint
from signlang.normalization import Normalization
from signlang.params import HandsAugmentParams, HandsParams
from signlang.photo_evaluation import score_set
from signlang.photos import read_photo_folder
from signlang.predict import AUTO, predict_files

from helpers import PROJECT, load_stage, project_params

TIGHT_CROP = PROJECT / "data/photos/more-hands/hackmit/A/hackmit_u_1.jpg"  # 96x96: the hand fills the frame
DEV = PROJECT / "data/photos/dev"


def random_hands(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    landmarks = torch.rand(count, 21, 3, generator=generator) * 300
    handedness = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    return landmarks, handedness


def test_features_do_not_change_when_the_hand_moves_or_grows() -> None:
    landmarks, handedness = random_hands(16, seed=0)
    moved = landmarks * 2.5 + torch.tensor([40.0, -75.0, 3.0])
    torch.testing.assert_close(hand_features(canonical(moved, handedness)),
                               hand_features(canonical(landmarks, handedness)), rtol=1e-4, atol=1e-4)
    # a changed shape changes them: the check can fail
    bent = landmarks.clone()
    bent[:, 8] += 50.0
    assert not torch.allclose(hand_features(canonical(bent, handedness)), hand_features(canonical(landmarks, handedness)))


def test_a_left_hand_maps_to_the_right_hand_it_mirrors() -> None:
    right, _ = random_hands(8, seed=1)
    left = right * torch.tensor([-1.0, 1.0, 1.0]) + torch.tensor([500.0, 0.0, 0.0])  # mirrored in the image
    ones = torch.ones(8)
    torch.testing.assert_close(canonical(left, -ones), canonical(right, ones), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(canonical(left, ones), canonical(right, ones), atol=1e-3)  # unmirrored, they differ


def hands_params(**changes: object) -> HandsParams:
    return project_params(HandsParams, "hands", **{"epochs": 30, "device": "cpu", **changes})


def generated_hands(per_letter: int, seed: int, letters: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Canonical hands of ``letters`` letters: one random shape per letter, each hand of it noisy; the world
    landmarks the same shape with noise of their own."""
    generator = torch.Generator().manual_seed(100)  # the same letter shapes for every seed
    shapes = torch.randn(letters, 21, 3, generator=generator)
    shapes[:, 0] = 0.0
    noise = torch.Generator().manual_seed(seed)
    labels = torch.arange(letters).repeat_interleave(per_letter)
    points = shapes[labels] + 0.15 * torch.randn(len(labels), 21, 3, generator=noise)
    world = shapes[labels] + 0.15 * torch.randn(len(labels), 21, 3, generator=noise)
    points[:, 0], world[:, 0] = 0.0, 0.0
    return points, world, labels


def test_handnet_learns_a_generated_landmark_set() -> None:
    train, dev = generated_hands(60, seed=0), generated_hands(20, seed=1)
    model, history = fit_handnet(train, torch.ones(len(train[2]), dtype=torch.int64), dev, hands_params(),
                                 torch.device("cpu"))
    assert history[-1].dev_accuracy >= 0.95, history[-1]
    assert history[-1].train_loss < history[0].train_loss
    # labels that carry nothing cannot be learnt: the same check fails on them
    shuffled = (*train[:2], train[2][torch.randperm(len(train[2]), generator=torch.Generator().manual_seed(0))])
    _, chance = fit_handnet(shuffled, torch.ones(len(train[2]), dtype=torch.int64), dev, hands_params(),
                            torch.device("cpu"))
    assert chance[-1].dev_accuracy < 0.6


def test_augmentation_turns_stretches_and_mirrors_in_the_image_plane() -> None:
    points = generated_hands(4, seed=2)[0]
    off = HandsAugmentParams(rotation=0.0, stretch=0.0, jitter=0.0, mirror=0.0)
    generator = torch.Generator().manual_seed(0)
    torch.testing.assert_close(augment_landmarks(points, off, generator), points)
    mirrored = augment_landmarks(points, HandsAugmentParams(0.0, 0.0, 0.0, 1.0), generator)
    torch.testing.assert_close(mirrored, points * torch.tensor([-1.0, 1.0, 1.0]))
    turned = augment_landmarks(points, HandsAugmentParams(30.0, 0.0, 0.0, 0.0), generator)
    torch.testing.assert_close(turned.norm(dim=2), points.norm(dim=2))  # a rotation about the wrist keeps lengths
    angle = torch.atan2(turned[..., 1], turned[..., 0]) - torch.atan2(points[..., 1], points[..., 0])
    angle = torch.remainder(angle + math.pi, 2 * math.pi) - math.pi
    assert angle.abs().max() <= math.radians(30) + 1e-4 and angle.abs().max() > math.radians(5)


def test_the_ladder_finds_the_hand_in_a_tight_crop_that_the_plain_call_misses() -> None:
    image = read_photo(TIGHT_CROP)
    with HandFinder() as finder:
        assert finder._landmarks(np.asarray(image), 0, LADDER[0], 0, 1.0) is None  # the plain call misses it
        hand = finder.find(image)
    assert hand is not None and hand.step > 0
    box = hand.box(image.size)
    assert box is not None and box.width > 0.4 * image.width  # the hand fills the crop
    assert (hand.landmarks[:, :2] > -0.25 * image.width).all() and (hand.landmarks[:, :2] < 1.25 * image.width).all()


def save_models(tmp_path: Path, fusion_weight: float = 0.7) -> tuple[Path, Path]:
    torch.manual_seed(0)
    cnn = tmp_path / "model.pt"
    save_checkpoint(cnn, SignConvNet(), Normalization(mean=0.45, std=0.25))
    hands = tmp_path / "handnet.pt"
    net = HandNet(width=16, dropout=0.0).eval()
    with hands.open("wb") as handle:
        handnet_checkpoint_writer(net, fusion_weight)(handle)
    return cnn, hands


def loaded_models(tmp_path: Path) -> Models:
    cnn, hands = save_models(tmp_path)
    return Models(load_checkpoint(cnn, torch.device("cpu")), load_handnet(hands, torch.device("cpu")))


def test_fusion_mixes_where_a_hand_is_found_and_keeps_signconvnet_elsewhere() -> None:
    cnn = torch.log_softmax(torch.randn(4, 26), dim=1)
    hands = torch.log_softmax(torch.randn(4, 26), dim=1)
    found = torch.tensor([True, False, True, False])
    fused = fuse(cnn, hands, found, 0.7)
    torch.testing.assert_close(fused[~found], cnn[~found])
    torch.testing.assert_close(fused[found].exp().sum(dim=1), torch.ones(2))
    torch.testing.assert_close(fuse(cnn, hands, found, 1.0)[found], hands[found])
    assert not torch.allclose(fused[found], cnn[found])


def run_predict(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = signlang_main(["predict", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_answers_with_signconvnet_alone_where_no_hand_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cnn, hands = save_models(tmp_path)
    image = tmp_path / "wall.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(image)
    checkpoints = ["--checkpoint", str(cnn), "--hand-checkpoint", str(hands), "--top", "3"]
    code, out, _ = run_predict(capsys, str(image), *checkpoints, "--json")
    fused = json.loads(out)["results"][0]
    assert code == 0 and fused["hand_found"] is False and "hand" not in fused
    assert set(fused["models"]) == {"fused", "cnn"}  # HandNet has no answer without a hand
    code, out, _ = run_predict(capsys, str(image), *checkpoints, "--model", "cnn", "--json")
    assert fused["predictions"] == json.loads(out)["results"][0]["predictions"]
    code, out, err = run_predict(capsys, str(image), *checkpoints, "--model", "hands")
    assert code == 1 and err == f"error: {image}: no hand found, so HandNet has no answer; try --model fused or cnn\n"


def test_predict_reports_the_hand_and_each_models_letters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cnn, hands = save_models(tmp_path)
    code, out, _ = run_predict(capsys, str(TIGHT_CROP), "--checkpoint", str(cnn), "--hand-checkpoint", str(hands),
                               "--top", "2", "--json")
    result = json.loads(out)["results"][0]
    assert code == 0 and result["hand_found"] is True
    assert np.array(result["hand"]["landmarks"]).shape == (21, 3) and result["hand"]["ladder_step"] > 0
    assert set(result["models"]) == {"fused", "hands", "cnn"}
    assert result["predictions"] == result["models"]["fused"] and len(result["predictions"]) == 2


def dev_sample(tmp_path: Path, per_letter: int = 1, letters: str = "ABCLVY") -> Path:
    folder = tmp_path / "dev"
    for letter in letters:
        (folder / letter).mkdir(parents=True)
        for path in sorted((DEV / letter).iterdir())[:per_letter]:
            (folder / letter / path.name).write_bytes(path.read_bytes())
    return folder


def test_photo_metrics_per_model_agree_with_what_predict_answers(tmp_path: Path) -> None:
    folder = dev_sample(tmp_path)
    photos = read_photo_folder(folder)
    landmarks = extract_landmarks(photos, workers=1)
    models = loaded_models(tmp_path)
    scores, _ = score_set(models, landmarks, "dev")
    truth = [LETTERS[photo.label] for photo in photos]
    entry = scores["dev"]
    assert entry["photos"] == 6 and entry["hands_found"] == int(landmarks.found.sum()) >= 5
    for model in ("fused", "hands", "cnn"):
        report = predict_files([photo.path for photo in photos], models, top=3, framing=AUTO, model=model)
        answers = {p.input: p.letters for p in report.predictions}
        letters = [answers.get(str(photo.path), ()) for photo in photos]  # no answer: HandNet without a hand
        assert entry[model]["top1"] == pytest.approx(np.mean([a[:1] == (t,) for a, t in zip(letters, truth)])), model
        assert entry[model]["top3"] == pytest.approx(np.mean([t in a for a, t in zip(letters, truth)])), model
        assert set(entry[model]["recall"]) == set(letters_of(photos))


def letters_of(photos: list) -> set[str]:
    return {LETTERS[photo.label] for photo in photos}


def test_the_landmarks_stage_writes_every_field_and_reads_back(tmp_path: Path) -> None:
    folder = dev_sample(tmp_path, letters="AB")
    out = tmp_path / "landmarks"
    assert load_stage("landmarks").main(["--photos", str(folder), "--out", str(out), "--params",
                                         str(PROJECT / "params.yaml")]) == 0
    landmarks = read_landmarks(out)
    assert landmarks.names.tolist() == ["A/" + p.name for p in sorted((folder / "A").iterdir())] + \
        ["B/" + p.name for p in sorted((folder / "B").iterdir())]
    assert landmarks.landmarks.shape == (2, 21, 3) and landmarks.pixels.shape == (2, 784)
    hand = landmarks.hand(0)
    assert hand is not None and hand.box(tuple(landmarks.size[0])) is not None


def test_a_source_folder_layout_reads_each_source(tmp_path: Path) -> None:
    root = tmp_path / "people"
    for source in ("ann", "bob"):
        (root / source / "A").mkdir(parents=True)
        (root / source / "A" / f"{source}_1.png").write_bytes((DEV / "A" / sorted(p.name for p in (DEV / "A").iterdir())[0]).read_bytes())
    (root / "README.md").write_text("credit\n")
    photos = read_photo_folder(root)
    assert [(p.source, p.name, p.group) for p in photos] == [("ann", "A/ann_1.png", "ann"), ("bob", "A/bob_1.png", "bob")]
    (root / "C").mkdir()  # letters beside sources: a folder of letters, in which a source is no letter
    (root / "C" / "c.png").write_bytes((root / "ann" / "A" / "ann_1.png").read_bytes())
    with pytest.raises(Exception, match="folder 'ann' is not a letter"):
        read_photo_folder(root)


@pytest.mark.parametrize("stage", ["landmarks", "train_hands"])
def test_hand_stages_report_bad_input_in_one_line_and_write_nothing(
    stage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = str(PROJECT / "params.yaml")
    if stage == "landmarks":
        folder = dev_sample(tmp_path, letters="A")
        (folder / "A" / "notes.txt").write_text("not a photo")
        argv = ["--photos", str(folder), "--out", str(tmp_path / "out"), "--params", params]
        expected = f"error: {folder / 'A' / 'notes.txt'}: not a photo"
    else:
        argv = ["--train", str(tmp_path / "missing"), "--extra", str(tmp_path / "missing"), "--dev",
                str(tmp_path / "missing"), "--model", str(tmp_path / "out" / "h.pt"), "--metrics",
                str(tmp_path / "out" / "m.json"), "--loss-plot", str(tmp_path / "out" / "l.json"), "--params", params]
        expected = f"error: {tmp_path / 'missing' / 'names.npy'}: cannot read landmarks"
    assert load_stage(stage).main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(expected), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_train_hands_trains_on_your_photos_weighted(tmp_path: Path) -> None:
    folder = dev_sample(tmp_path, letters="ABL", per_letter=2)
    photos = read_photo_folder(folder)
    landmarks = extract_landmarks(photos, workers=1)
    write_landmarks(tmp_path / "train", landmarks)
    write_landmarks(tmp_path / "extra", landmarks.subset(np.arange(len(landmarks)) < 2))
    params = tmp_path / "params.yaml"
    import yaml

    values = yaml.safe_load((PROJECT / "params.yaml").read_text())
    values["hands"] |= {"epochs": 3, "device": "cpu"}
    params.write_text(yaml.safe_dump(values))
    argv = ["--train", str(tmp_path / "train"), "--extra", str(tmp_path / "extra"), "--dev", str(tmp_path / "train"),
            "--model", str(tmp_path / "h.pt"), "--metrics", str(tmp_path / "m.json"), "--loss-plot",
            str(tmp_path / "l.json"), "--params", str(params)]
    assert load_stage("train_hands").main(argv) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["extra_hands"] == int(landmarks.found[:2].sum()) and metrics["hands"] == int(landmarks.found.sum()) + 2
    assert len(json.loads((tmp_path / "l.json").read_text())) == 3
    assert load_handnet(tmp_path / "h.pt", torch.device("cpu")).fusion_weight == values["hands"]["fusion_weight"]

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from signlang.normalization import Normalization
from signlang.errors import SignlangError
from signlang.model import (
    SignConvNet,
    count_parameters,
    fold_batch_norms,
    load_checkpoint,
    predict_logits,
    save_checkpoint,
)


def test_signconvnet_has_the_seed_parameter_count() -> None:
    assert count_parameters(SignConvNet()) == 105_082


def test_signconvnet_maps_a_batch_to_26_logits() -> None:
    model = SignConvNet().eval()
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 26)


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SignConvNet()
    images = torch.randn(7, 1, 28, 28)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, Normalization(mean=0.5, std=0.2))
    loaded = load_checkpoint(path, torch.device("cpu"))
    torch.testing.assert_close(predict_logits(loaded.model, images), predict_logits(model, images))
    assert loaded.classes[0] == "A" and loaded.classes[25] == "Z"
    assert loaded.normalization == Normalization(mean=0.5, std=0.2)
    assert set(torch.load(path, weights_only=True)) >= {"state_dict", "classes", "normalization"}


def test_folding_the_batch_norms_keeps_what_the_model_answers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SignConvNet(mirror_average=True)
    for module in model.modules():  # statistics and affine terms far from the identity, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.2, 3.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    images = torch.randn(9, 1, 28, 28)
    expected = predict_logits(model.eval(), images)
    save_checkpoint(tmp_path / "model.pt", model, Normalization(mean=0.5, std=0.2))
    folded = fold_batch_norms(copy.deepcopy(model))
    loaded = load_checkpoint(tmp_path / "model.pt", torch.device("cpu")).model
    for net in (folded, loaded):
        assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in net.modules())
        torch.testing.assert_close(predict_logits(net, images), expected, atol=1e-4, rtol=1e-4)
    dropped = copy.deepcopy(model)
    dropped.conv2[1] = torch.nn.Identity()  # a BatchNorm dropped instead of folded: the check sees it
    assert not torch.allclose(predict_logits(dropped, images), expected, atol=1e-2)


def test_load_checkpoint_rejects_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(SignlangError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt", torch.device("cpu"))
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(SignlangError, match="not a signlang checkpoint"):
        load_checkpoint(tmp_path / "other.pt", torch.device("cpu"))


def test_a_mirror_averaging_model_answers_the_same_for_an_image_and_its_mirror() -> None:
    torch.manual_seed(0)
    model = SignConvNet(mirror_average=True)
    images = torch.randn(4, 1, 28, 28)
    model.eval()
    both = model(images)
    torch.testing.assert_close(both, model(images.flip(-1)))
    torch.testing.assert_close(both, (model.logits(images) + model.logits(images.flip(-1))) / 2)
    assert not torch.allclose(model.logits(images), model.logits(images.flip(-1)))  # the views do differ
    model.train()  # training sees single images: the augmentation does the mirroring
    torch.manual_seed(1)
    single = model(images)
    torch.manual_seed(1)
    torch.testing.assert_close(single, model.logits(images))


def test_the_checkpoint_keeps_mirror_averaging(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "m.pt", SignConvNet(mirror_average=True), Normalization(0.5, 0.2))
    assert load_checkpoint(tmp_path / "m.pt", torch.device("cpu")).model.mirror_average
    save_checkpoint(tmp_path / "n.pt", SignConvNet(), Normalization(0.5, 0.2))
    assert not load_checkpoint(tmp_path / "n.pt", torch.device("cpu")).model.mirror_average

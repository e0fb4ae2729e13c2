"""SignConvNet: the seed notebook's 105,082-parameter CNN, layer for layer."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from signlang import IMAGE_SIZE, LETTERS, NUM_CLASSES
from signlang.errors import SignlangError
from signlang.files import Writer, write_atomic
from signlang.normalization import Normalization

CHECKPOINT_FORMAT = 2  # 2 added mirror_average
READABLE_FORMATS = (1, 2)


def conv_block(in_channels: int, out_channels: int, pool: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Conv2d 3x3 pad 1 -> BatchNorm2d -> ReLU [-> MaxPool2d(2)] [-> Dropout]."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    if dropout > 0.0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class SignConvNet(nn.Module):
    """Three conv blocks and one linear layer; output index i is letter i (A=0 ... Z=25).

    With ``mirror_average`` (a model trained on mirrored images too: a left hand's letter is the mirror
    image of a right hand's), inference answers for the image and its mirror image at once: the mean of
    the two logits. Training sees single images; the parameters are the same either way."""

    def __init__(
        self, in_channels: int = 1, num_classes: int = NUM_CLASSES, dropout: float = 0.5, mirror_average: bool = False
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.mirror_average = mirror_average
        self.conv1 = conv_block(in_channels, 16)
        self.conv2 = conv_block(16, 32, pool=True)
        self.conv3 = conv_block(32, 64, pool=True, dropout=dropout)
        side = IMAGE_SIZE // 4  # two 2x2 poolings: 28 -> 14 -> 7
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.mirror_average and not self.training:
            return (self.logits(images) + self.logits(images.flip(-1))) / 2  # (B, num_classes)
        return self.logits(images)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        x = self.conv1(images)  # (B, 16, 28, 28)
        x = self.conv2(x)  # (B, 32, 14, 14)
        x = self.conv3(x)  # (B, 64, 7, 7)
        return self.fc(x)  # (B, num_classes) logits


def fold_batch_norms(model: SignConvNet) -> SignConvNet:
    """An eval-mode model for inference only: each BatchNorm folded into the convolution before it, in place.
    The same function (logits agree to ~1e-5, as ONNX Runtime's own folding), one pass over the activations
    fewer: 9% of the CPU's inference time (benchmarks/speed.py, docs/benchmarks.md)."""
    for block in (model.conv1, model.conv2, model.conv3):
        block[0] = fuse_conv_bn_eval(block[0], block[1])
        block[1] = nn.Identity()
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def inference_batch_size(device: torch.device) -> int:
    """On a 2-core CPU batches of 128 ran 1.9-2.4x faster than 1,024, which fall out of cache
    (benchmarks/cpu_settings.py); a GPU wants large batches."""
    return 4096 if device.type == "cuda" else 128


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Logits (N, classes) for images (N, 1, 28, 28) already on the model's device, in eval mode."""
    batch_size = batch_size or inference_batch_size(images.device)
    model.eval()
    chunks = [
        model(images[start : start + batch_size].contiguous(memory_format=torch.channels_last))
        for start in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks).float()


def checkpoint_writer(model: SignConvNet, normalization: Normalization) -> Writer:
    """What writes ``model``'s checkpoint to an open file: the train stage stages it with its other
    outputs, ``save_checkpoint`` writes it on its own."""
    checkpoint = make_checkpoint(model, normalization)
    return lambda handle: torch.save(checkpoint, handle)


def save_checkpoint(path: Path, model: SignConvNet, normalization: Normalization) -> None:
    write_atomic(path, checkpoint_writer(model, normalization))


def make_checkpoint(model: SignConvNet, normalization: Normalization) -> dict[str, object]:
    """The state_dict plus the plain values needed to rebuild and use the model (no pickled objects)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "architecture": "SignConvNet",
        "num_classes": model.fc[-1].out_features,
        "dropout": model.dropout,
        "mirror_average": model.mirror_average,
        "classes": list(LETTERS),
        "image_size": IMAGE_SIZE,
        "normalization": normalization.to_dict(),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
    }


@dataclass(frozen=True)
class LoadedModel:
    model: SignConvNet
    classes: tuple[str, ...]
    normalization: Normalization


def read_checkpoint(path: Path, device: torch.device) -> object:
    """A checkpoint file's contents (tensors only, no code run), or one SignlangError naming the file."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError as error:
        raise SignlangError(f"{path}: checkpoint not found; run 'dvc repro' to train one") from error
    except (RuntimeError, pickle.UnpicklingError, EOFError) as error:
        raise SignlangError(f"{path}: not a readable checkpoint ({str(error).splitlines()[0]})") from error


def load_checkpoint(path: Path, device: torch.device) -> LoadedModel:
    checkpoint = read_checkpoint(path, device)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") not in READABLE_FORMATS:
        raise SignlangError(f"{path}: not a signlang checkpoint (expected format {CHECKPOINT_FORMAT})")
    model = SignConvNet(
        num_classes=checkpoint["num_classes"],
        dropout=checkpoint["dropout"],
        mirror_average=checkpoint.get("mirror_average", False),  # format 1 had none
    )
    model.load_state_dict(checkpoint["state_dict"])
    fold_batch_norms(model.eval()).to(device, memory_format=torch.channels_last)
    normalization = Normalization(**checkpoint["normalization"])
    return LoadedModel(model, tuple(checkpoint["classes"]), normalization)

"""The export stage: both checkpoints as ONNX, for the demo page (web/build_demo.py), checked against PyTorch.

SignConvNet's ONNX graph maps model input (N, 1, 28, 28) float32, ``(p / 255 - mean) / std``, to logits (N, 26);
its metadata_props hold what a reader needs besides: the classes (output i is letter i), the
normalization, and the image size. Before the file is written, onnxruntime runs it on every test
image: its probabilities must match PyTorch's within PARITY_TOLERANCE and its top letter must be the
same for every image, else the stage fails and writes nothing. HandNet's (``handnet_onnx_bytes``) is
checked the same way on the hands found in the development photos.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from signlang import IMAGE_SIZE
from signlang.arrays import load_split
from signlang.errors import SignlangError
from signlang.files import staged_outputs
from signlang.hand_finding import LANDMARKS
from signlang.handnet import LoadedHandNet, load_handnet
from signlang.landmarks import read_landmarks
from signlang.model import LoadedModel, load_checkpoint, predict_logits
from signlang.normalization import Normalization

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

OPSET = 18  # onnxruntime >= 1.14, onnxruntime-web included; the torch.export-based exporter's lowest
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
PARITY_TOLERANCE = 1e-4  # largest |p_onnx - p_torch| allowed, for any image and class
CHECK_BATCH = 512
# metadata_props keys; the values are JSON
CLASSES_KEY = "classes"
NORMALIZATION_KEY = "normalization"
IMAGE_SIZE_KEY = "image_size"
INPUT_KEY = "input"
FUSION_WEIGHT_KEY = "fusion_weight"
HAND_INPUTS = ["landmarks", "world", "handedness"]
QUIET_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")


@dataclass(frozen=True)
class Parity:
    images: int
    max_difference: float  # largest |p_onnx - p_torch| over images and classes
    top_disagreements: int  # images whose top letter differs

    @property
    def ok(self) -> bool:
        return self.max_difference <= PARITY_TOLERANCE and self.top_disagreements == 0


def export(
    *, model: Path, onnx: Path, prepared_dir: Path, hand_model: Path, hand_onnx: Path, landmarks: Path
) -> tuple[Parity, Parity]:
    """The export stage: both models as ONNX, each written once both match PyTorch (SignConvNet on
    ``prepared_dir``'s test images, HandNet on the hands of ``landmarks``); else nothing is written."""
    cnn, cnn_parity = checked_cnn_onnx(model, onnx, prepared_dir)
    hands, hands_parity = checked_handnet_onnx(hand_model, hand_onnx, landmarks)
    with staged_outputs() as outputs:
        outputs.write(onnx, lambda handle: handle.write(cnn))
        outputs.write(hand_onnx, lambda handle: handle.write(hands))
    log.info("wrote %s (opset %d, %d bytes): on %d test images max |p_onnx - p_torch| = %.2g, same top letter on all",
             onnx, OPSET, len(cnn), cnn_parity.images, cnn_parity.max_difference)
    log.info("wrote %s (%d bytes): on %d hands max |p_onnx - p_torch| = %.2g, same top letter on all",
             hand_onnx, len(hands), hands_parity.images, hands_parity.max_difference)
    return cnn_parity, hands_parity


def checked_cnn_onnx(model: Path, onnx: Path, prepared_dir: Path) -> tuple[bytes, Parity]:
    """SignConvNet's checkpoint ``model`` as ONNX, once it matches PyTorch on ``prepared_dir``'s test images."""
    loaded = load_checkpoint(model, torch.device("cpu"))
    try:
        images, _ = load_split(prepared_dir, "test")
    except FileNotFoundError as error:
        raise SignlangError(f"{error.filename}: not found; run the prepare stage ('dvc repro prepare')") from error
    if len(images) == 0:
        raise SignlangError(f"{prepared_dir}: no test images to check the ONNX export on")
    content = onnx_bytes(loaded)
    parity = check_parity(content, loaded, np.array(images, dtype=np.float32))
    require_parity(parity, onnx, model, "test images")
    return content, parity


def require_parity(parity: Parity, onnx: Path, model: Path, inputs: str) -> None:
    if not parity.ok:
        raise SignlangError(
            f"{onnx}: the ONNX export does not match {model} on {parity.images} {inputs}: "
            f"max |p_onnx - p_torch| = {parity.max_difference:.3g} (allowed {PARITY_TOLERANCE:g}), "
            f"top letter differs on {parity.top_disagreements}; nothing written"
        )


def checked_handnet_onnx(model: Path, onnx: Path, landmarks: Path) -> tuple[bytes, Parity]:
    """HandNet's checkpoint ``model`` as ONNX, once it matches PyTorch on the hands found in ``landmarks``."""
    loaded = load_handnet(model, torch.device("cpu"))
    hands = read_landmarks(landmarks)
    if not hands.found.any():
        raise SignlangError(f"{landmarks}: no hands to check HandNet's ONNX export on")
    inputs = [array[hands.found].astype(np.float32) for array in (hands.landmarks, hands.world, hands.handedness)]
    content = handnet_onnx_bytes(loaded)
    actual = run_onnx(content, dict(zip(HAND_INPUTS, inputs)))
    with torch.no_grad():
        expected = torch.softmax(loaded.model(*map(torch.from_numpy, inputs)), dim=1).numpy()
    parity = Parity(len(inputs[0]), float(np.abs(actual - expected).max()),
                    int((actual.argmax(axis=1) != expected.argmax(axis=1)).sum()))
    require_parity(parity, onnx, model, "hands")
    return content, parity


def handnet_onnx_bytes(loaded: LoadedHandNet) -> bytes:
    """HandNet as ONNX: ``landmarks`` (N, 21, 3) in pixels, ``world`` (N, 21, 3) and ``handedness`` (N,) in,
    log-probabilities out; the canonical frame and the features are in the graph (HandNet.forward), so a reader
    passes MediaPipe's output as it comes.
    Its metadata_props hold the classes and the fusion weight."""
    model = copy.deepcopy(loaded.model).eval()
    example = (torch.rand(2, LANDMARKS, 3) * 100, torch.rand(2, LANDMARKS, 3) * 0.1, torch.tensor([1.0, -1.0]))
    proto = export_graph(model, example, HAND_INPUTS)
    return with_metadata(proto, {
        CLASSES_KEY: json.dumps(list(loaded.classes)),
        FUSION_WEIGHT_KEY: json.dumps(loaded.fusion_weight),
        INPUT_KEY: json.dumps(
            f"landmarks: (N, {LANDMARKS}, 3) float32, MediaPipe Hands' landmarks in pixels (x, y; z times the image "
            f"width); world: (N, {LANDMARKS}, 3) float32, its world landmarks (metres); handedness: (N,) float32, +1 "
            f"right, -1 left; {OUTPUT_NAME}: (N, {len(loaded.classes)}) log-probabilities up to a constant, index i "
            "is classes[i]"
        ),
    })


def metadata(loaded: LoadedModel) -> dict[str, str]:
    """The metadata_props the export carries: everything the demo page needs besides the graph."""
    side = IMAGE_SIZE
    return {
        CLASSES_KEY: json.dumps(list(loaded.classes)),
        NORMALIZATION_KEY: json.dumps(loaded.normalization.to_dict()),
        IMAGE_SIZE_KEY: json.dumps(side),
        INPUT_KEY: json.dumps(
            f"{INPUT_NAME}: (N, 1, {side}, {side}) float32, (p / 255 - mean) / std of grayscale pixels p "
            f"(Pillow's 'L'); {OUTPUT_NAME}: (N, {len(loaded.classes)}), index i is classes[i]"
        ),
    }


def onnx_bytes(loaded: LoadedModel) -> bytes:
    """The model as an ONNX file (a dynamic batch dimension), with ``metadata`` in its metadata_props."""
    model = copy.deepcopy(loaded.model).to(memory_format=torch.contiguous_format).eval()
    proto = export_graph(model, (torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE),), [INPUT_NAME])
    return with_metadata(proto, metadata(loaded))


def read_metadata(content: bytes) -> tuple[tuple[str, ...], Normalization, int]:
    """Classes, normalization and image size from an ONNX file's metadata_props, as onnxruntime reads them."""
    import onnxruntime

    session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    try:
        classes = tuple(json.loads(props[CLASSES_KEY]))
        normalization = Normalization(**json.loads(props[NORMALIZATION_KEY]))
        side = int(json.loads(props[IMAGE_SIZE_KEY]))
    except (KeyError, TypeError, ValueError) as error:
        raise SignlangError(f"the ONNX file's metadata_props lack or garble {error}") from error
    return classes, normalization, side


def onnx_probabilities(content: bytes, images: np.ndarray) -> np.ndarray:
    """Softmax over the classes, (N, classes), of the ONNX model run by onnxruntime on ``images``."""
    return run_onnx(content, {INPUT_NAME: images})


def run_onnx(content: bytes, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Softmax over the classes, (N, classes), of an ONNX model (output OUTPUT_NAME) run by onnxruntime on
    ``inputs`` (by input name, each with N rows), CHECK_BATCH rows at a time."""
    import onnxruntime

    session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
    rows = len(next(iter(inputs.values())))
    logits = [
        session.run([OUTPUT_NAME], {name: np.ascontiguousarray(array[start : start + CHECK_BATCH])
                                    for name, array in inputs.items()})[0]
        for start in range(0, rows, CHECK_BATCH)
    ]
    return torch.softmax(torch.from_numpy(np.concatenate(logits)).float(), dim=1).numpy()


def export_graph(model: torch.nn.Module, example: tuple[torch.Tensor, ...], names: list[str]) -> onnx.ModelProto:
    """``model`` as an ONNX graph (opset OPSET, a dynamic batch dimension on every input)."""
    import onnx

    for name in QUIET_LOGGERS:  # the exporter's optimizer logs each pass at INFO, which the stage's logging shows
        logging.getLogger(name).setLevel(logging.WARNING)
    batch = torch.export.Dim("batch")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*The axis name: batch will not be used")  # one Dim, several inputs
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            model, example, path, input_names=names, output_names=[OUTPUT_NAME], opset_version=OPSET,
            dynamo=True, external_data=False, verbose=False, dynamic_shapes={name: {0: batch} for name in names},
        )
        return onnx.load(path)


def with_metadata(proto: onnx.ModelProto, props: dict[str, str]) -> bytes:
    """The checked ONNX file of ``proto`` with ``props`` as its metadata_props."""
    import onnx

    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def check_parity(content: bytes, loaded: LoadedModel, images: np.ndarray) -> Parity:
    """Compare the ONNX model (onnxruntime) with the checkpoint (PyTorch) on ``images``, model input
    (N, 1, 28, 28); the metadata must also give back the checkpoint's classes and normalization."""
    classes, normalization, _ = read_metadata(content)
    if classes != loaded.classes or normalization != loaded.normalization:
        raise SignlangError("the ONNX file's metadata_props differ from the checkpoint's classes or normalization")
    expected = torch.softmax(predict_logits(loaded.model, torch.from_numpy(images)), dim=1).numpy()
    actual = onnx_probabilities(content, images)
    return Parity(
        images=len(images),
        max_difference=float(np.abs(actual - expected).max()),
        top_disagreements=int((actual.argmax(axis=1) != expected.argmax(axis=1)).sum()),
    )

"""The export stage: the checkpoint as ONNX, for the demo page (web/build_demo.py), checked against PyTorch.

The ONNX graph maps model input (N, 1, 28, 28) float32, ``(p / 255 - mean) / std``, to logits (N, 26);
its metadata_props hold what a reader needs besides: the classes (output i is letter i), the
normalization, and the image size. Before the file is written, onnxruntime runs it on every test
image: its probabilities must match PyTorch's within PARITY_TOLERANCE and its top letter must be the
same for every image, else the stage fails and writes nothing.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from signlang import IMAGE_SIZE
from signlang.arrays import load_split
from signlang.errors import SignlangError
from signlang.files import write_atomic
from signlang.model import LoadedModel, load_checkpoint, predict_logits
from signlang.normalization import Normalization

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
QUIET_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")


@dataclass(frozen=True)
class Parity:
    images: int
    max_difference: float  # largest |p_onnx - p_torch| over images and classes
    top_disagreements: int  # images whose top letter differs

    @property
    def ok(self) -> bool:
        return self.max_difference <= PARITY_TOLERANCE and self.top_disagreements == 0


def export(model: Path, onnx: Path, prepared_dir: Path) -> Parity:
    """Write ``model`` as ONNX to ``onnx`` once it matches PyTorch on ``prepared_dir``'s test images."""
    loaded = load_checkpoint(model, torch.device("cpu"))
    try:
        images, _ = load_split(prepared_dir, "test")
    except FileNotFoundError as error:
        raise SignlangError(f"{error.filename}: not found; run the prepare stage ('dvc repro prepare')") from error
    if len(images) == 0:
        raise SignlangError(f"{prepared_dir}: no test images to check the ONNX export on")
    content = onnx_bytes(loaded)
    parity = check_parity(content, loaded, np.array(images, dtype=np.float32))
    if not parity.ok:
        raise SignlangError(
            f"{onnx}: the ONNX export does not match {model} on {parity.images} test images: "
            f"max |p_onnx - p_torch| = {parity.max_difference:.3g} (allowed {PARITY_TOLERANCE:g}), "
            f"top letter differs on {parity.top_disagreements}; nothing written"
        )
    write_atomic(onnx, lambda handle: handle.write(content))
    log.info(
        "wrote %s (opset %d, %d bytes): on %d test images max |p_onnx - p_torch| = %.2g, same top letter on all",
        onnx, OPSET, len(content), parity.images, parity.max_difference,
    )
    return parity


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
    import onnx

    model = copy.deepcopy(loaded.model).to(memory_format=torch.contiguous_format).eval()
    example = torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE)
    for name in QUIET_LOGGERS:  # the exporter's optimizer logs each pass at INFO, which the stage's logging shows
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            model, (example,), path, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=OPSET,
            dynamo=True, external_data=False, verbose=False,
            dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch")}},
        )
        proto = onnx.load(path)
    del proto.metadata_props[:]
    for key, value in metadata(loaded).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


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
    import onnxruntime

    session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
    logits = [
        session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(images[start : start + CHECK_BATCH])})[0]
        for start in range(0, len(images), CHECK_BATCH)
    ]
    return torch.softmax(torch.from_numpy(np.concatenate(logits)).float(), dim=1).numpy()


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

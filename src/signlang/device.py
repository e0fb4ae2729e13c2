"""Which device to run on, and arrays onto it: shared by training, evaluation and `signlang predict`."""

from __future__ import annotations

import numpy as np
import torch

from signlang.errors import SignlangError


def select_device(name: str, key: str = "params: 'train.device'") -> torch.device:
    """``auto`` takes CUDA when present; ``cuda`` without a GPU is an error, not a silent fallback."""
    if name == "cuda" and not torch.cuda.is_available():
        raise SignlangError(f"{key} is cuda, but torch sees no CUDA device; allowed here: auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def to_device(*arrays: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Copy (memory-mapped) arrays onto the device once: pinned and non-blocking on CUDA."""
    pin = device.type == "cuda"
    tensors = [torch.from_numpy(np.array(array)) for array in arrays]  # np.array: one copy out of the mmap
    if pin:
        tensors = [tensor.pin_memory() for tensor in tensors]
    return tuple(tensor.to(device, non_blocking=pin) for tensor in tensors)

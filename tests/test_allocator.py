"""keep_freed_memory: batches of inference stop faulting their activations back in from the kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import PROJECT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

FAULTS = """
import resource, sys
import torch
from signlang.allocator import keep_freed_memory
from signlang.model import SignConvNet, predict_logits
if sys.argv[1] == "keep":
    assert keep_freed_memory()
torch.set_num_threads(1)
model = SignConvNet(mirror_average=True).eval().to(memory_format=torch.channels_last)
images = torch.randn(1024, 1, 28, 28)
predict_logits(model, images)  # the first pass may grow the heap
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
predict_logits(model, images)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults_of_a_second_pass(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], cwd=PROJECT, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(PROJECT / "src"), "PATH": ""},
    )
    return int(result.stdout)


def test_inference_reuses_its_memory_instead_of_faulting_it_in_again() -> None:
    default, kept = page_faults_of_a_second_pass("default"), page_faults_of_a_second_pass("keep")
    # 8 batches of 128 through the mirror-averaging model: tens of thousands of 4 KiB pages by default
    assert default > 10_000, default
    assert kept < default / 20, (kept, default)

"""The demo page (web/build_demo.py): opened from disk in headless Chromium, with no network, it answers as
`signlang predict` does, for photos (centre square and a moved square) and for the camera.

The page is built from a model trained for one epoch on generated data (letters A-D, a bright bar whose
row depends on the letter) and exported by the export stage's code; `signlang predict` answers from the
checkpoint. The preprocessing port (web/demo/preprocess.js) is also checked against Pillow under node.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import PIL
import pytest
import torch
from PIL import Image

from signlang import LETTERS
from signlang.console import main as signlang_main
from signlang.errors import SignlangError
from signlang.export import checked_cnn_onnx
from signlang.framing import HAND_MARGIN, Box, center_square, square_around
from signlang.model import SignConvNet, save_checkpoint
from signlang.normalization import Normalization, fit_normalization
from signlang.params import TrainParams
from signlang.predict import NO_FRAME, Framing, image_pixels
from signlang.training import fit, training_set

from helpers import CHROMIUM, CHROMIUM_FLAGS, PROJECT, make_split, project_params, require_tools, synthetic_pixels

PREPROCESS_JS = PROJECT / "web" / "demo" / "preprocess.js"
DEV_PHOTOS = PROJECT / "data" / "photos" / "dev"
CAMERA_LETTER = "C"
TOLERANCE = 0.01  # the bound on |p_page - p_cli|; the page is expected far closer


def require(*tools: str) -> None:
    require_tools("demo page test", *tools)


def load_build_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_demo", PROJECT / "web" / "build_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------- the model, the page, the images ----------


@dataclass(frozen=True)
class Trained:
    checkpoint: Path
    onnx: Path
    normalization: Normalization


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One epoch of the project's training on generated letters A-D, exported by the export stage's code."""
    root = tmp_path_factory.mktemp("trained")
    torch.manual_seed(0)
    labels, pixels = make_split(120, seed=1)
    normalization = fit_normalization(pixels)
    val_labels, val_pixels = make_split(10, seed=2)
    params = project_params(TrainParams, "train", epochs=1, batch_size=16, lr=3e-3, seed=0, device="cpu")
    none = (np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, np.int64))
    data = training_set((normalization.to_model_input(pixels), labels), none, none, params, torch.device("cpu"))
    val = (torch.from_numpy(normalization.to_model_input(val_pixels)), torch.from_numpy(val_labels))
    result = fit(SignConvNet(), data, val, params, normalization)
    model = SignConvNet()
    model.load_state_dict(result.best_state)
    checkpoint = root / "model.pt"
    save_checkpoint(checkpoint, model, normalization)
    prepared = root / "prepared"
    prepared.mkdir()
    test_labels, test_pixels = make_split(10, seed=3)
    np.save(prepared / "test_images.npy", normalization.to_model_input(test_pixels))
    np.save(prepared / "test_labels.npy", test_labels)
    onnx = root / "model.onnx"
    onnx.write_bytes(checked_cnn_onnx(checkpoint, onnx, prepared)[0])
    return Trained(checkpoint, onnx, normalization)


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """onnxruntime-web as web/demo/package-lock.json pins it, installed once for the module's pages."""
    require("node", "npm")
    return load_build_demo().install_runtime(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(scope="module")
def page(trained: Trained, node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "index.html"
    load_build_demo().build(trained.onnx, out, node_modules)
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Dataset-like 28x28 PNGs, a larger one with transparency, an EXIF-rotated JPEG, a tall one (Pillow 13
    resizes it vertically first), and real 416x416 photos of the development set."""
    root = tmp_path_factory.mktemp("images")
    paths = []
    for label, pixels in zip((0, 1, 2, 3), synthetic_pixels(np.array([0, 1, 2, 3]), seed=11)):
        paths.append(root / f"{LETTERS[label]}_28x28.png")
        Image.fromarray(pixels.reshape(28, 28)).save(paths[-1])
    rng = np.random.default_rng(4)
    big = np.asarray(Image.fromarray(synthetic_pixels(np.array([1]), seed=12)[0].reshape(28, 28)).resize((150, 150)))
    alpha = np.tile(np.linspace(0, 255, 150).astype(np.uint8), (150, 1))
    paths.append(root / "B_alpha.png")
    blue = rng.integers(0, 256, big.shape, dtype=np.uint8)
    Image.fromarray(np.dstack([big, big, blue, alpha]), "RGBA").save(paths[-1])
    paths.append(root / "D_tall.png")
    Image.fromarray(synthetic_pixels(np.array([3]), seed=13)[0].reshape(28, 28)).resize((60, 200)).save(paths[-1])
    paths.append(root / "C_16bit.png")  # 16-bit grayscale, values off the multiples of 257
    deep = np.asarray(Image.fromarray(synthetic_pixels(np.array([2]), seed=14)[0].reshape(28, 28)).resize((90, 90)))
    Image.fromarray(deep.astype(np.uint16) * 256 + rng.integers(0, 256, deep.shape, dtype=np.uint16)).save(paths[-1])
    photos = [min((DEV_PHOTOS / letter).glob("*.jpg")) for letter in "ABCD" if (DEV_PHOTOS / letter).is_dir()]
    assert len(photos) >= 3, f"expected development photos in {DEV_PHOTOS}/<LETTER>/*.jpg"
    rotated = root / f"rotated_{photos[0].name}"
    with Image.open(photos[0]) as photo:
        exif = photo.getexif()
        exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
        photo.crop((0, 0, 416, 300)).save(rotated, exif=exif, quality=92)
    return [*paths, rotated, *photos]


def write_y4m(path: Path, pixels: np.ndarray, width: int = 320, height: int = 240, frames: int = 2) -> Path:
    """A video for Chromium's fake camera: the 28x28 image scaled up to fill the frame's centre square, on
    mid grey (Y4M, 4:2:0, grey: U = V = 128)."""
    side = min(width, height)
    luma = np.full((height, width), 128, np.uint8)
    scaled = Image.fromarray(pixels.reshape(28, 28)).resize((side, side), Image.Resampling.LANCZOS)
    x0, y0 = (width - side) // 2, (height - side) // 2
    luma[y0 : y0 + side, x0 : x0 + side] = np.asarray(scaled)
    chroma = np.full((height // 2) * (width // 2), 128, np.uint8).tobytes()
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n" + luma.tobytes() + chroma + chroma)
    return path


# ---------- the browser ----------


@dataclass
class Browser:
    page: Any
    requests: list[str]
    errors: list[str]


def allowed(url: str) -> bool:
    """The page may read itself (file://, and blob:/data: URLs it makes) and the local demo server."""
    return url.startswith(("file://", "blob:", "data:", "http://127.0.0.1:", "http://localhost:"))


@contextmanager
def open_page(url: str, camera: Path | None = None, grant_camera: bool = True) -> Iterator[Browser]:
    """The page in headless Chromium, ready; every request it makes that is not allowed is aborted and
    recorded. ``camera``: a video for the fake camera."""
    from playwright.sync_api import sync_playwright

    args = list(CHROMIUM_FLAGS)
    if camera is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            if camera is not None and grant_camera:
                context.grant_permissions(["camera"])
            handle = context.new_page()
            report = Browser(handle, [], [])

            def route(route: Any) -> None:
                if allowed(route.request.url):
                    route.continue_()
                else:
                    report.requests.append(route.request.url)
                    route.abort()

            handle.route("**/*", route)
            handle.on("console", lambda message: message.type == "error" and report.errors.append(message.text))
            handle.on("pageerror", lambda error: report.errors.append(str(error)))
            handle.goto(url, wait_until="load")
            # the page's CSP forbids eval, so waits use selectors, not wait_for_function
            handle.wait_for_selector("body:not([data-state=loading])", state="attached", timeout=30_000)
            assert handle.get_attribute("body", "data-state") == "ready", handle.inner_text("#message")
            yield report
        finally:
            browser.close()


def upload(browser: Browser, path: Path) -> dict[str, Any] | None:
    """Give the page a file; its answer (window.signlangDemo.last), or None when it shows a message."""
    page = browser.page
    seq = int(page.get_attribute("#result", "data-seq"))
    page.evaluate("document.getElementById('message').hidden = true")
    page.set_input_files("[data-testid=photo-input]", str(path))
    page.wait_for_selector(f"#result[data-seq='{seq + 1}'], #message:not([hidden])", state="attached", timeout=15_000)
    if page.is_visible("#message"):
        return None
    answer = page.evaluate("window.signlangDemo.last")
    assert answer["source"] == path.name
    assert page.inner_text("[data-testid=top-letter]") == answer["letters"][0]
    assert abs(float(page.inner_text("[data-testid=top-probability]")) - answer["probabilities"][0]) <= 5e-5
    return answer


def drop(browser: Browser, path: Path) -> dict[str, Any] | None:
    """Drop a file on the page, as from a file manager; its answer, or None when it shows a message."""
    import base64

    page = browser.page
    seq = int(page.get_attribute("#result", "data-seq"))
    page.evaluate("document.getElementById('message').hidden = true")
    transfer = page.evaluate_handle(
        """([name, data]) => {
          const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], name));
          return transfer;
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    page.dispatch_event("[data-testid=dropzone]", "drop", {"dataTransfer": transfer})
    page.wait_for_selector(f"#result[data-seq='{seq + 1}'], #message:not([hidden])", state="attached", timeout=15_000)
    return None if page.is_visible("#message") else page.evaluate("window.signlangDemo.last")


def settled_answer(browser: Browser, timeout: float = 10) -> dict[str, Any]:
    """The answer for the square as it is now (moving the square queues answers; wait for the last)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = browser.page.evaluate("window.signlangDemo.last")
        command = browser.page.inner_text("[data-testid=command]")
        shown = command.split("--box ")[1].split()[0] if "--box " in command else None
        mine = ",".join(str(v) for v in answer["hand"]) if answer["hand"] else None
        if shown == mine and not browser.page.evaluate("window.signlangDemo.busy"):
            return answer
        assert time.monotonic() < deadline, f"the page's last answer is not for the square shown: {command}"
        time.sleep(0.1)


# ---------- signlang predict ----------


def cli(capsys: pytest.CaptureFixture[str], checkpoint: Path, files: list[Path], *framing: str) -> list[dict[str, Any]]:
    """`signlang predict FILES --json --top 3 FRAMING` from the checkpoint: one result per file."""
    capsys.readouterr()
    code = signlang_main(["predict", *map(str, files), "--model", "cnn", "--checkpoint", str(checkpoint), "--json", "--top", "3", *framing])
    out = capsys.readouterr().out
    assert code == 0, out
    results = json.loads(out)["results"]
    assert [result["input"] for result in results] == [str(path) for path in files]
    return results


def differences(answer: dict[str, Any], result: dict[str, Any]) -> tuple[list[str], float]:
    """What differs between the page's answer and `signlang predict`'s for one file; the largest
    probability difference over its top 3 letters."""
    theirs = {p["letter"]: p["probability"] for p in result["predictions"]}
    mine = dict(zip(answer["letters"], answer["probabilities"]))
    problems = []
    if answer["letters"][0] != result["predictions"][0]["letter"]:
        theirs_top = result["predictions"][0]["letter"]
        problems.append(f"{result['input']}: page {answer['letters'][0]}, signlang predict {theirs_top}")
    # each of the CLI's top 3 letters, against the page's probability of that letter
    gaps = [abs(answer["all"][LETTERS.index(letter)] - p) for letter, p in theirs.items()]
    gaps += [abs(p - theirs[letter]) for letter, p in mine.items() if letter in theirs]
    worst = max(gaps)
    if worst > TOLERANCE:
        problems.append(f"{result['input']}: probabilities differ by {worst:.4f}")
    return problems, worst


def compare_photos(
    browser: Browser, files: list[Path], checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[list[str], float, list[int]]:
    """Upload each file; (the differences from `signlang predict --no-frame`, the largest probability
    difference, and the number of the 784 input pixels that differ from the CLI's, per file)."""
    answers = [upload(browser, path) for path in files]
    assert all(answers), browser.page.inner_text("#message")
    problems, worst, pixel_diffs = [], 0.0, []
    for path, answer, result in zip(files, answers, cli(capsys, checkpoint, files, "--no-frame")):
        found, gap = differences(answer, result)
        problems += found
        worst = max(worst, gap)
        pixel_diffs.append(int((np.array(answer["pixels"]) != image_pixels(path, NO_FRAME)).sum()))
        assert answer["hand"] is None and "--no-frame" in browser.page.inner_text("[data-testid=command]")
    return problems, worst, pixel_diffs


# ---------- tests ----------


def test_the_pages_preprocessing_is_signlang_predicts_to_the_bit(tmp_path: Path) -> None:
    """preprocess.js under node against Pillow and framing.py: the flattening onto white and the "L"
    conversion for every colour and alpha, Lanczos resizes of random images and boxes (both pass orders,
    the crop shortcut, up- and downscaling), the squares, and the float32 normalization."""
    require("node")
    rng = np.random.default_rng(0)
    colour, alpha = np.meshgrid(np.arange(256), np.arange(256))
    rgba = np.stack([colour, np.roll(colour, 85, axis=1), np.roll(colour, 170, axis=1), alpha], -1).astype(np.uint8)
    flat = Image.new("RGBA", (256, 256), (255, 255, 255, 255))
    flat.alpha_composite(Image.fromarray(rgba, "RGBA"))
    cases: dict[str, Any] = {
        "rgba": rgba.reshape(-1).tolist(),
        "gray": np.asarray(flat.convert("L")).reshape(-1).tolist(),
        "verticalFirst": int(PIL.__version__.split(".")[0]) >= 13,  # as web/build_demo.py tells the page
    }
    resizes = []
    sizes = [(28, 28), (29, 31), (60, 200), (416, 416), (640, 480), (101, 37), (12, 20), (300, 1000)]
    for width, height in sizes:
        for kind in range(5):
            image = rng.integers(0, 256, (height, width), dtype=np.uint8)
            if kind == 0:
                box = center_square((width, height)).as_tuple()
            elif kind == 1:  # what --box frames
                x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
                hand = Box(x0, y0, x0 + rng.uniform(0.5, width), y0 + rng.uniform(0.5, height))
                box = square_around(hand, (width, height)).as_tuple()
            elif kind == 2:  # any box
                xs, ys = sorted(rng.uniform(0, width, 2)), sorted(rng.uniform(0, height, 2))
                box = (xs[0], ys[0], xs[1] + 1e-3, ys[1] + 1e-3)
            elif kind == 3 and min(width, height) >= 28:  # an integer 28x28 box: Pillow crops
                x0, y0 = int(rng.integers(0, width - 27)), int(rng.integers(0, height - 27))
                box = (x0, y0, x0 + 28, y0 + 28)
            else:
                box = (0, 0, width, height)
            out = image_box_resize(image, box)
            resizes.append({"w": width, "h": height, "box": [float(v) for v in box],
                            "pixels": image.reshape(-1).tolist(), "expected": out.reshape(-1).tolist()})
    cases["resizes"] = resizes
    squares = []
    for _ in range(200):
        width, height = (int(v) for v in rng.integers(20, 2000, 2))
        x0, y0 = rng.uniform(-10, width), rng.uniform(-10, height)
        hand = Box(x0, y0, x0 + rng.uniform(0.01, width), y0 + rng.uniform(0.01, height))
        squares.append({"w": width, "h": height, "hand": list(hand.as_tuple()),
                        "around": list(square_around(hand, (width, height)).as_tuple()),
                        "centre": list(center_square((width, height)).as_tuple())})
    cases["squares"] = squares
    normalization = Normalization(mean=0.4512345, std=0.2312345)
    cases["normalization"] = normalization.to_dict()
    grey_levels = (np.arange(784) % 256).astype(np.uint8)[None, :]
    cases["normalized"] = normalization.to_model_input(grey_levels).reshape(-1).tolist()
    cases["margin"] = HAND_MARGIN
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    script = """
    const P = require(process.argv[1]);
    const c = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
    const bad = [];
    const gray = P.grayscale(Uint8Array.from(c.rgba), 256, 256);
    const grayWrong = gray.reduce((n, v, i) => n + (v !== c.gray[i]), 0);
    if (grayWrong) bad.push(`grayscale: ${grayWrong} of 65536 colour and alpha pairs differ`);
    for (const r of c.resizes) {
      const out = P.resampleLanczos(Uint8Array.from(r.pixels), r.w, r.h, r.box, 28, 28, c.verticalFirst);
      const wrong = out.reduce((n, v, i) => n + (v !== r.expected[i]), 0);
      if (wrong) bad.push(`resize ${r.w}x${r.h} box ${r.box}: ${wrong} pixels differ`);
    }
    for (const s of c.squares) {
      const around = P.squareAround(s.hand, s.w, s.h, c.margin), centre = P.centerSquare(s.w, s.h);
      if (around.some((v, i) => v !== s.around[i])) bad.push(`square_around ${s.hand}: ${around} != ${s.around}`);
      if (centre.some((v, i) => v !== s.centre[i])) bad.push(`center_square ${s.w}x${s.h}: ${centre}`);
      // the page's --box gives the square back: square_around(handBox(square)) is the square, to 1e-3 px
      const back = P.squareAround(P.parseBox(P.formatBox(P.handBox(s.around, c.margin))), s.w, s.h, c.margin);
      if (back.some((v, i) => Math.abs(v - s.around[i]) > 2e-3)) bad.push(`hand box of ${s.around} gives ${back}`);
    }
    const input = P.toModelInput(Uint8Array.from({length: 784}, (_, i) => i % 256), c.normalization);
    const inputWrong = input.reduce((n, v, i) => n + (v !== c.normalized[i]), 0);
    if (inputWrong) bad.push(`to_model_input: ${inputWrong} of 784 values differ`);
    console.log(JSON.stringify({bad, resizes: c.resizes.length, squares: c.squares.length}));
    """
    result = subprocess.run(["node", "-e", script, str(PREPROCESS_JS), str(tmp_path / "cases.json")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["bad"] == [], "\n".join(report["bad"][:20])
    assert report["resizes"] == 40 and report["squares"] == 200


def image_box_resize(image: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    """frame_pixels's resize: Pillow's "L" image, Lanczos, to 28x28, of ``box``."""
    return np.asarray(Image.fromarray(image, "L").resize((28, 28), Image.Resampling.LANCZOS, box=box))


@pytest.mark.slow
def test_photos_get_signlang_predicts_answer(
    page: Path, trained: Trained, images: list[Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    require("chromium", "playwright")
    with open_page(page.as_uri()) as browser:
        problems, worst, pixel_diffs = compare_photos(browser, images, trained.checkpoint, capsys)
        assert problems == [], problems
        assert pixel_diffs == [0] * len(images), dict(zip((p.name for p in images), pixel_diffs))

        # move the square on the last photo (buttons, the wheel, a drag): the page shows the --box that
        # frames the same square, and answers as `signlang predict --box` does
        view = browser.page.locator("[data-testid=view]")
        for _ in range(3):
            browser.page.click("[data-testid=square-smaller]")
        browser.page.click("button[data-move='-1,0']")
        view.hover()
        browser.page.mouse.wheel(0, -100)  # up: smaller
        box = view.bounding_box()
        browser.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        browser.page.mouse.down()
        browser.page.mouse.move(box["x"] + box["width"] / 2 + 23, box["y"] + box["height"] / 2 + 11, steps=4)
        browser.page.mouse.up()
        answer = settled_answer(browser)
        command = browser.page.inner_text("[data-testid=command]")
        hand = command.split("--box ")[1].split()[0]
        assert command == f"signlang predict {images[-1].name} --box {hand} --top 3", command
        result = cli(capsys, trained.checkpoint, [images[-1]], "--box", hand)[0]
        assert result["frame"]["how"] == "box"
        assert result["frame"]["square"] == [round(v, 2) for v in answer["square"]]
        assert answer["square"][2] - answer["square"][0] < 0.7 * 416  # it did move and shrink
        moved_problems, moved_worst = differences(answer, result)
        assert moved_problems == []
        box_pixels = image_pixels(images[-1], Framing(find_hand=False, box=Box.parse(hand)))
        assert (np.array(answer["pixels"]) == box_pixels).all()

        assert browser.requests == [], f"the page asked the network for {browser.requests}"
        assert browser.errors == [], browser.errors
    print(f"\n[demo page] {len(images)} photos and one moved square: max |p_page - p_cli| = "
          f"{max(worst, moved_worst):.2g}; 28x28 inputs identical to signlang predict's")


@pytest.mark.slow
def test_a_page_with_a_broken_model_fails_the_comparison(
    trained: Trained, node_modules: Path, images: list[Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The comparison above catches a wrong page: here its model's mean is off by 0.1 (a page built from
    another export than the checkpoint's, or a normalization bug)."""
    require("chromium", "playwright")
    import onnx

    proto = onnx.load(trained.onnx)
    for entry in proto.metadata_props:
        if entry.key == "normalization":
            entry.value = json.dumps({"mean": trained.normalization.mean + 0.1, "std": trained.normalization.std})
    broken = tmp_path / "broken.onnx"
    onnx.save(proto, broken)
    load_build_demo().build(broken, tmp_path / "demo" / "index.html", node_modules)
    with open_page((tmp_path / "demo" / "index.html").as_uri()) as browser:
        problems, worst, _ = compare_photos(browser, images, trained.checkpoint, capsys)
    assert problems and worst > TOLERANCE, "a page with the wrong normalization passed"


@pytest.mark.slow
def test_the_camera_answers_live(
    page: Path, trained: Trained, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    require("chromium", "playwright")
    pixels = synthetic_pixels(np.array([LETTERS.index(CAMERA_LETTER)]), seed=21)[0]
    video = write_y4m(tmp_path / "camera.y4m", pixels)
    with open_page(page.as_uri(), camera=video) as browser:
        browser.page.click("[data-testid=camera-start]")
        deadline = time.monotonic() + 10
        while (browser.page.evaluate("(window.signlangDemo.last || {}).source") != "camera"
               or browser.page.inner_text("[data-testid=top-letter]") != CAMERA_LETTER):
            assert time.monotonic() < deadline, (
                f"no {CAMERA_LETTER} from the camera in 10 s: {browser.page.inner_text('#result')}"
                f" {browser.page.inner_text('#message')}")
            time.sleep(0.1)
        time.sleep(2)  # the answers a second count over the last second
        fps, ms = browser.page.evaluate("[window.signlangDemo.fps, window.signlangDemo.frameMs]")
        answer = browser.page.evaluate("window.signlangDemo.last")
        assert answer["square"] == list(center_square((answer["width"], answer["height"])).as_tuple())
        browser.page.check("[data-testid=mirror]")
        time.sleep(0.5)
        mirrored = browser.page.evaluate("window.signlangDemo.last")
        assert browser.requests == [], browser.requests
        assert browser.errors == [], browser.errors
    assert fps >= 10, f"{fps} answers a second"
    # the 28x28 frame the page gave the model, through signlang predict: the same answer
    frame = tmp_path / "camera_frame.png"
    Image.fromarray(np.array(answer["pixels"], np.uint8).reshape(28, 28)).save(frame)
    found, worst = differences(answer, cli(capsys, trained.checkpoint, [frame], "--no-frame")[0])
    assert found == []
    flipped = np.fliplr(np.array(answer["pixels"]).reshape(28, 28))
    assert np.abs(np.array(mirrored["pixels"]).reshape(28, 28) - flipped).max() <= 1
    print(f"\n[demo page] camera: {CAMERA_LETTER} recognized, {fps} answers a second (the fake camera sends 30 "
          f"frames/s), {ms:.1f} ms an answer; max |p_page - p_cli| = {worst:.2g}")


@pytest.mark.slow
@pytest.mark.parametrize("camera", ["refused", "absent"])
def test_bad_input_and_no_camera_leave_the_page_working(
    page: Path, images: list[Path], tmp_path: Path, camera: str
) -> None:
    require("chromium", "playwright")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a PNG at all\n")
    video = write_y4m(tmp_path / "camera.y4m", synthetic_pixels(np.array([0]), seed=1)[0])
    with open_page(page.as_uri(), camera=video if camera == "refused" else None, grant_camera=False) as browser:
        assert upload(browser, not_an_image) is None
        assert "notes.png" in browser.page.inner_text("[data-testid=message]")
        assert drop(browser, not_an_image) is None
        assert "notes.png" in browser.page.inner_text("[data-testid=message]")
        browser.page.evaluate("document.getElementById('message').hidden = false")
        browser.page.click("[data-testid=camera-start]")
        browser.page.wait_for_selector("[data-testid=message]:has-text('camera')", timeout=10_000)
        message = browser.page.inner_text("[data-testid=message]")
        expected = "The camera was not allowed" if camera == "refused" else "No camera was found"
        assert message.startswith(expected) and "Photos still work" in message, message
        assert (browser.page.evaluate("window.signlangDemo.last")) is None
        answer = drop(browser, images[0])
        assert answer is not None and answer["source"] == images[0].name and answer["letters"][0] in LETTERS
        assert not browser.page.is_visible("[data-testid=message]")
        assert upload(browser, images[-1]) is not None
        assert browser.requests == [], browser.requests


@pytest.mark.slow
def test_signlang_demo_serves_the_page_on_localhost(page: Path, images: list[Path]) -> None:
    require("chromium", "playwright")
    from signlang.demo import make_server, url_of

    server = make_server(page.parent, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with open_page(url_of(server)) as browser:
            assert upload(browser, images[-1]) is not None
            assert browser.requests == [] and browser.errors == []
    finally:
        server.shutdown()
        server.server_close()


def test_signlang_demo_needs_a_built_page(tmp_path: Path) -> None:
    from signlang.demo import make_server

    with pytest.raises(SignlangError, match=r"index.html: not found; build the demo page with 'make demo'"):
        make_server(tmp_path, port=0)


def test_signlang_demo_serves_its_folder_on_127_0_0_1_only(tmp_path: Path) -> None:
    from urllib.request import urlopen

    from signlang.demo import make_server, url_of

    (tmp_path / "index.html").write_text("<p>the page</p>")
    server = make_server(tmp_path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server.server_address[0] == "127.0.0.1" and url_of(server).startswith("http://127.0.0.1:")
        with urlopen(url_of(server), timeout=10) as response:
            assert response.read() == b"<p>the page</p>"
            assert response.headers["Cache-Control"] == "no-store"
        with pytest.raises(SignlangError, match="cannot serve on 127.0.0.1:"):  # the port is taken
            make_server(tmp_path, port=server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_the_signlang_demo_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`signlang demo`: one line for a folder with no page; else the address, and the page there."""
    from urllib.request import urlopen

    import signlang.console

    if not hasattr(signlang.console, "run_demo"):
        pytest.skip("`signlang demo` is not in console.py yet")
    assert signlang_main(["demo", "--dir", str(tmp_path)]) == 1
    expected = f"error: {tmp_path / 'index.html'}: not found; build the demo page with 'make demo'"
    assert capsys.readouterr().err.strip() == expected
    (tmp_path / "index.html").write_text("<p>the page</p>")
    code = "import sys; from signlang.console import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "demo", "--dir", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"PYTHONPATH": str(PROJECT / "src")},
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith(f"serving {tmp_path / 'index.html'} at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        with urlopen(url, timeout=10) as response:
            assert response.read() == b"<p>the page</p>"
    finally:
        process.terminate()
        process.wait(timeout=10)

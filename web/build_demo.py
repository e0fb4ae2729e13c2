"""Build demo/index.html: the demo page as ONE file that works opened from disk, with no network.

The page (web/demo/index.html, demo.css, preprocess.js, demo.js) gets inlined into it:
- the ONNX model (models/model.onnx, written by the export stage), base64; its metadata_props give the
  classes and the normalization;
- onnxruntime-web as pinned in web/demo/package-lock.json (`npm ci` in a temporary directory, or the
  node_modules given with --node-modules): its wasm-only ES module bundle, base64, imported from a blob:
  URL, and its wasm binary, gzipped and base64 (the page unzips it with DecompressionStream);
- framing.HAND_MARGIN, so that the page's `--box` is the one square_around turns back into its square,
  and this Pillow's version, whose resample the page reproduces.
file:// pages cannot fetch, so everything is read from the page's own <script> elements.

Usage: python web/build_demo.py [--onnx models/model.onnx] [--out demo/index.html] [--node-modules DIR]
(needs node and npm unless --node-modules is given; `make demo` runs it)
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WEB = Path(__file__).resolve().parent
PROJECT = WEB.parent
SOURCES = WEB / "demo"
sys.path.insert(0, str(PROJECT / "src"))  # this checkout's code, whatever is installed

from signlang.files import write_atomic  # noqa: E402

RUNTIME = "onnxruntime-web"
BUNDLE = "dist/ort.wasm.bundle.min.mjs"  # the wasm backend only, its emscripten glue bundled in (no import of a URL)
WASM = "dist/ort-wasm-simd-threaded.wasm"  # the one binary that bundle loads (threads unused here)


def install_runtime(directory: Path) -> Path:
    """`npm ci` of web/demo/package-lock.json in ``directory``; returns its node_modules."""
    for name in ("package.json", "package-lock.json"):
        shutil.copy(SOURCES / name, directory / name)
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"], cwd=directory, check=True
    )
    return directory / "node_modules"


def pinned_version() -> str:
    lock = json.loads((SOURCES / "package-lock.json").read_text(encoding="utf-8"))
    return lock["packages"][f"node_modules/{RUNTIME}"]["version"]


def model_metadata(onnx: Path) -> dict[str, object]:
    """Classes, normalization, image size and input/output names from the ONNX file itself."""
    import onnxruntime

    from signlang.export import CLASSES_KEY, IMAGE_SIZE_KEY, NORMALIZATION_KEY

    session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    missing = [key for key in (CLASSES_KEY, NORMALIZATION_KEY, IMAGE_SIZE_KEY) if key not in props]
    if missing:
        raise SystemExit(f"{onnx}: no {', '.join(missing)} in its metadata_props; export it with stages/export.py")
    return {
        "classes": json.loads(props[CLASSES_KEY]),
        "normalization": json.loads(props[NORMALIZATION_KEY]),
        "imageSize": int(json.loads(props[IMAGE_SIZE_KEY])),
        "inputName": session.get_inputs()[0].name,
        "outputName": session.get_outputs()[0].name,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _script_safe(text: str) -> str:
    """Text that cannot end the <script> element it sits in."""
    return text.replace("</", "<\\/")


def build(onnx: Path, out: Path, node_modules: Path | None = None) -> dict[str, object]:
    """Write the page to ``out``; returns what went into it (sizes, versions)."""
    import PIL

    from signlang.framing import HAND_MARGIN

    if not onnx.is_file():
        raise SystemExit(f"{onnx}: not found; run `dvc repro export` (or the export stage) first")
    with tempfile.TemporaryDirectory() as tmp:
        modules = node_modules or install_runtime(Path(tmp))
        package = modules / RUNTIME
        version = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
        if version != pinned_version():
            raise SystemExit(f"{package}: {RUNTIME} {version}, but web/demo/package-lock.json pins {pinned_version()}")
        bundle = (package / BUNDLE).read_text(encoding="utf-8")
        wasm = (package / WASM).read_bytes()
    bundle = "\n".join(line for line in bundle.splitlines() if not line.startswith("//# sourceMappingURL="))
    model = onnx.read_bytes()
    wasm_gzip = gzip.compress(wasm, 9, mtime=0)
    pillow_major = int(PIL.__version__.split(".")[0])
    config = model_metadata(onnx) | {
        "handMargin": HAND_MARGIN,
        "pillowVersion": PIL.__version__,
        "pillowVerticalFirst": pillow_major >= 13,  # python-pillow/Pillow#9549, in Pillow 13
        "runtime": f"{RUNTIME} {version}",
        "modelSha256": hashlib.sha256(model).hexdigest(),
    }
    info = (
        f"{RUNTIME} {version} (wasm, {len(wasm) / 1e6:.1f} MB, gzipped {len(wasm_gzip) / 1e6:.1f} MB), "
        f"model sha256 {config['modelSha256'][:12]}, Pillow {PIL.__version__}'s Lanczos, HAND_MARGIN {HAND_MARGIN}"
    )
    values = {
        "STYLE": (SOURCES / "demo.css").read_text(encoding="utf-8"),
        "MODEL_NAME": onnx.name,
        "BUILD_INFO": info,
        "IMAGE_SIZE": str(config["imageSize"]),
        "CONFIG": _script_safe(json.dumps(config)),
        "MODEL_BASE64": _b64(model),
        "ORT_BASE64": _b64(bundle.encode("utf-8")),
        "WASM_GZIP_BASE64": _b64(wasm_gzip),
        "PREPROCESS_JS": _script_safe((SOURCES / "preprocess.js").read_text(encoding="utf-8")),
        "DEMO_JS": _script_safe((SOURCES / "demo.js").read_text(encoding="utf-8")),
    }
    template = (SOURCES / "index.html").read_text(encoding="utf-8")
    placeholders = set(re.findall(r"\{\{([A-Z0-9_]+)\}\}", template))
    if placeholders != set(values):
        raise SystemExit(f"web/demo/index.html: placeholders {sorted(placeholders)}, expected {sorted(values)}")
    page = re.sub(r"\{\{([A-Z0-9_]+)\}\}", lambda match: values[match[1]], template)
    content = page.encode("utf-8")
    write_atomic(out, lambda handle: handle.write(content))
    summary = {"page": str(out), "bytes": len(content), "runtime": f"{RUNTIME} {version}", "info": info}
    print(f"wrote {out} ({len(content) / 1e6:.1f} MB): {info}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, default=PROJECT / "models" / "model.onnx")
    parser.add_argument("--out", type=Path, default=PROJECT / "demo" / "index.html")
    parser.add_argument(
        "--node-modules", type=Path, help=f"an installed node_modules holding {RUNTIME}; default: npm ci of the lock"
    )
    args = parser.parse_args(argv)
    build(args.onnx, args.out, args.node_modules)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`dvc plots show` with web/plots_template.html draws every plot in headless Chromium with no network."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from helpers import CHROMIUM, CHROMIUM_FLAGS, PROJECT, require_tools, run
from signlang import LETTERS
from signlang.files import json_bytes
from signlang.metrics import confusion_records, per_class_metrics
from signlang.plots import by_letter_records, image_plots

TEMPLATE = PROJECT / "web" / "plots_template.html"


def require_browser() -> None:
    require_tools("plots page test", "chromium", "playwright")


DVC_YAML = yaml.safe_load((PROJECT / "dvc.yaml").read_text(encoding="utf-8"))
PATHS = DVC_YAML["vars"][0]["paths"]  # where dvc.yaml writes each plot's data
VEGA_PLOTS = sum(isinstance(plot, dict) for plot in DVC_YAML["plots"])  # the others are image folders
IMAGES = ("examples.png", "predictions.png", "mistakes.png", "least_confident.png")


def write_plot_data(repo: Path) -> None:
    """Every kind of plot the project's dvc.yaml declares, from small made-up results."""
    rng = np.random.default_rng(0)
    y_true = np.repeat(np.array([i for i in range(25) if i != 9]), 3)
    y_pred = np.where(rng.random(len(y_true)) < 0.8, y_true, (y_true + 1) % 25)
    pixels = rng.random((len(y_true), 28, 28)).astype(np.float32)
    epochs = [
        {"epoch": e, "train_loss": 3 / e, "val_loss": 3.2 / e, "val_accuracy": 1 - 1 / (e + 1)} for e in (1, 2, 3)
    ]
    hand_epochs = [{"epoch": e, "train_loss": 2 / e, "dev_loss": 2.5 / e, "dev_accuracy": 1 - 1 / (e + 2)} for e in (1, 2)]
    files = {
        PATHS["loss_plot"]: json_bytes(epochs),
        PATHS["hands_loss_plot"]: json_bytes(hand_epochs),
        PATHS["confusion"]: json_bytes(confusion_records(y_true, y_pred, LETTERS)),
        PATHS["by_letter"]: json_bytes(by_letter_records(per_class_metrics(y_true, y_pred, LETTERS))),
        PATHS["photos_confusion"]: json_bytes(confusion_records(y_true[::2], y_pred[::2], LETTERS)),
    }
    pngs = image_plots(pixels, y_true, y_pred, rng.random(len(y_true)), LETTERS)
    files |= {f"{PATHS['eval_images']}/{name}": png for name, png in pngs.items()}
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(content)


def render_page(tmp_path: Path, template: Path) -> Path:
    """`dvc plots show --html-template` on the project's dvc.yaml and templates; returns index.html."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(PROJECT / "dvc.yaml", repo / "dvc.yaml")
    run(repo, "git", "init", "-q")
    run(repo, sys.executable, "-m", "dvc", "init", "-q")
    shutil.copytree(PROJECT / ".dvc" / "plots", repo / ".dvc" / "plots")
    write_plot_data(repo)
    run(repo, sys.executable, "-m", "dvc", "plots", "show", "--html-template", str(template), "-o", "page")
    return repo / "page" / "index.html"


def render_project_page(tmp_path: Path, template: Path) -> Path:
    """Plain `dvc plots show` in the project itself, on the committed outputs of the real run: the
    project's .dvc/config names ``template`` as plots.html_template, so no flag is needed."""
    expected = [PATHS[name] for name in ("loss_plot", "hands_loss_plot", "confusion", "by_letter", "photos_confusion")]
    expected += [f"{PATHS['eval_images']}/{name}" for name in IMAGES]
    missing = [name for name in expected if not (PROJECT / name).is_file()]
    assert not missing, f"the committed run's plot files are missing: {missing} (run dvc repro)"
    configured = run(PROJECT, sys.executable, "-m", "dvc", "config", "plots.html_template").strip()
    assert (PROJECT / ".dvc" / configured).resolve() == template.resolve(), configured
    out = tmp_path / "page"
    run(PROJECT, sys.executable, "-m", "dvc", "plots", "show", "-o", str(out))
    return out / "index.html"


def block_non_file(route: Any, attempted: list[str]) -> None:
    """Let file:// requests through; abort and record any other."""
    if route.request.url.startswith("file://"):
        route.continue_()
    else:
        attempted.append(route.request.url)
        route.abort()


def check_page(page: Path) -> dict[str, object]:
    """Open ``page`` offline; return what drew, the requests that left the machine, and console errors."""
    from playwright.sync_api import sync_playwright

    report: dict[str, object] = {"requests": [], "errors": [], "divs": page.read_text().count("vegaEmbed('#")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page_handle = browser.new_page()
        page_handle.route("**/*", lambda route: block_non_file(route, report["requests"]))  # type: ignore[arg-type]
        errors: list[str] = report["errors"]  # type: ignore[assignment]
        page_handle.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page_handle.on("pageerror", lambda error: errors.append(str(error)))
        page_handle.goto(page.as_uri(), wait_until="load")
        page_handle.wait_for_timeout(2000)  # vega-embed renders asynchronously
        report |= page_handle.evaluate(
            """() => ({
              drawn: [...document.querySelectorAll('.vega-embed')].filter(e => {
                       const svg = e.querySelector('svg'); const canvas = e.querySelector('canvas');
                       return (svg && svg.querySelectorAll('path, rect, text').length > 0)
                           || (canvas && canvas.width > 0 && canvas.height > 0); }).length,
              images: [...document.images].map(i => ({src: i.src.slice(0, 40), width: i.naturalWidth})),
            })"""
        )
        browser.close()
    return report


@pytest.mark.slow
@pytest.mark.parametrize("source", ["committed run", "generated data"])
def test_plots_page_draws_every_plot_offline(tmp_path: Path, source: str) -> None:
    require_browser()
    render = render_project_page if source == "committed run" else render_page
    report = check_page(render(tmp_path, TEMPLATE))
    assert report["requests"] == [], f"the page asked the network for {report['requests']}"
    assert report["errors"] == [], f"console errors: {report['errors']}"
    assert report["divs"] == VEGA_PLOTS, report
    assert report["drawn"] == report["divs"], f"only {report['drawn']} of {report['divs']} vega views drew"
    images = report["images"]
    assert len(images) == len(IMAGES) and all(image["width"] > 0 for image in images), images


@pytest.mark.slow
def test_a_page_that_loads_vega_from_a_cdn_fails_the_check(tmp_path: Path) -> None:
    require_browser()
    cdn = tmp_path / "cdn_template.html"
    cdn.write_text(
        '<html><head><script src="https://cdn.jsdelivr.net/npm/vega@5.21.0"></script>'
        '<script src="https://cdn.jsdelivr.net/npm/vega-lite@5.2.0"></script>'
        '<script src="https://cdn.jsdelivr.net/npm/vega-embed@6.20.8"></script></head>'
        "<body>{plot_divs}</body></html>"
    )
    report = check_page(render_page(tmp_path, cdn))
    assert report["requests"], "the CDN requests were not seen"
    assert report["drawn"] == 0 and report["errors"], report

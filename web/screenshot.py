"""Render `dvc plots show` with the offline template and save a full-page screenshot (docs/plots.png).

Run from the repository root after `dvc repro`: python web/screenshot.py [--out docs/plots.png]
Needs Chromium at /usr/bin/chromium (apt-get install chromium) and playwright (the dev extra).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--proxy-server=127.0.0.1:9"]


def screenshot(out: Path, width: int) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "dvc", "plots", "show", "--html-template", "web/plots_template.html", "-o", tmp],
            check=True,
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto((Path(tmp) / "index.html").as_uri(), wait_until="load")
            page.wait_for_timeout(2000)  # vega-embed renders asynchronously
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/plots.png"))
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args(argv)
    screenshot(args.out, args.width)
    return 0


if __name__ == "__main__":
    sys.exit(main())

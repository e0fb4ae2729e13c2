"""docs/demo.png: the demo page (demo/index.html, `make demo`) in headless Chromium with a photo loaded.

The page is opened from disk with every request that is not file:// aborted, as the tests open it.

Usage: python web/demo_screenshot.py [--page demo/index.html] [--photo data/photos/dev/H/H1.jpg] [--out docs/demo.png]
(needs Chromium at /usr/bin/chromium and the playwright package: pip install -e '.[dev]')
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))  # this checkout's code, whatever is installed

from signlang.files import write_atomic  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--proxy-server=127.0.0.1:9",  # a closed port: nothing reaches the network
]


def screenshot(page: Path, photo: Path, out: Path, width: int = 1280, height: int = 900) -> str:
    """Load ``photo`` into ``page``, wait for the answer, write a PNG of the page to ``out``; returns the answer."""
    from playwright.sync_api import sync_playwright

    for path, hint in ((page, "build it with 'make demo'"), (photo, "give another with --photo")):
        if not path.is_file():
            raise SystemExit(f"{path}: not found; {hint}")
    blocked: list[str] = []

    def route(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(("file://", "blob:", "data:")):
            route.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(url)
            route.abort()  # type: ignore[attr-defined]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            tab.route("**/*", route)
            tab.goto(page.resolve().as_uri(), wait_until="load")
            tab.wait_for_selector("body:not([data-state=loading])", state="attached", timeout=30_000)
            if tab.get_attribute("body", "data-state") != "ready":
                raise SystemExit(f"{page}: the model did not load: {tab.inner_text('#message')}")
            tab.set_input_files("[data-testid=photo-input]", str(photo))
            tab.wait_for_selector("#result[data-seq='1']", state="attached", timeout=15_000)
            answer = tab.inner_text("#top-3").replace("\n", ", ")
            png = tab.screenshot(full_page=True)
        finally:
            browser.close()
    if blocked:
        raise SystemExit(f"{page}: the page asked the network for {blocked}")
    write_atomic(out, lambda handle: handle.write(png))
    print(f"wrote {out}: {photo.name} -> {answer}")
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=Path, default=PROJECT / "demo" / "index.html")
    parser.add_argument("--photo", type=Path, default=PROJECT / "data" / "photos" / "dev" / "H" / "H1.jpg")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "demo.png")
    args = parser.parse_args(argv)
    screenshot(args.page, args.photo, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rebuild web/plots_template.html: a `dvc plots show --html-template` page with Vega inlined.

DVC's default page loads vega, vega-lite and vega-embed from a CDN and stays blank offline. This
script installs the versions pinned in web/package-lock.json (`npm ci` in a temporary directory)
and writes their minified builds into the page, so it renders with no network. The page has no
`{scripts}` placeholder, so DVC adds no CDN <script> tags; DVC fills `{plot_divs}` only.

Usage: python web/build_template.py   (needs node and npm; commit the result)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

WEB = Path(__file__).resolve().parent
PACKAGES = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>signlang plots</title>
<!-- Built by web/build_template.py from web/package-lock.json: {versions}. Do not edit by hand. -->
{scripts}
<style>
body {{ font-family: sans-serif; margin: 16px; }}
table {{ border-spacing: 15px; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def build(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(WEB / name, Path(tmp) / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=tmp, check=True)
        modules = Path(tmp) / "node_modules"
        versions = ", ".join(
            f"{name} {json.loads((modules / name / 'package.json').read_text())['version']}"
            for name in ("vega", "vega-lite", "vega-embed")
        )
        scripts = "\n".join(_inline_script((modules / path).read_text(encoding="utf-8")) for path in PACKAGES)
    out.write_text(PAGE.format(versions=versions, scripts=scripts), encoding="utf-8")
    print(f"wrote {out} ({versions})")


def _inline_script(source: str) -> str:
    if "</script" in source.lower():  # would end the <script> element early
        source = source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return f"<script>\n{source}\n</script>"


if __name__ == "__main__":
    build(WEB / "plots_template.html")

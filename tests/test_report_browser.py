"""The report as a reader sees it: laid out by a real browser (headless Chromium).

The report of the bundled example and of the seeded clinic audit is opened in Chromium at a
1400 px wide window and at print width (A4 portrait at 96 dpi: 794 px); a script added to a copy
of the page measures the layout after load and writes it into the DOM, which ``--dump-dom``
returns. What must hold at both widths: the page does not scroll sideways, no table and no
figure runs past the page's edge, every figure loads, and no confidence interval ("a to b")
breaks over two lines (a cell may break between an estimate and its interval, so that a wide
table can shrink to the page). At 794 px the page uses its print styles' screen twin
(``@media (max-width: 900px), print``), since Chromium's --dump-dom lays out for the screen.
Skipped when Chromium is absent (.ci/run installs Debian's package).

To look at the pages yourself::

    chromium --headless --no-sandbox --disable-gpu --window-size=1400,3000 \\
        --screenshot=report.png file://$PWD/results/boulder_example/report.html
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from prt_outcomes.config import load_config
from prt_outcomes.pipeline import run

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
]

#: Window widths: a desktop browser, and A4 portrait at 96 dpi (the print width).
WIDTHS = {"desktop": 1400, "print": 794}

#: Runs after load; the numbers it leaves in ``data-layout`` are what the test reads.
_MEASURE = r"""<script>
window.addEventListener('load', () => {
  const page = document.documentElement;
  const lineCount = el => {
    const r = document.createRange(); r.selectNodeContents(el);
    return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size;
  };
  const right = el => el.getBoundingClientRect().right;
  // an interval cell: a short cell holding "a to b" (table notes are long sentences)
  const intervals = [...document.querySelectorAll('td, th')]
    .filter(c => c.textContent.trim().length < 60 && /\d\s+to\s+[−-]?\d/.test(c.textContent));
  const images = [...document.querySelectorAll('img')];
  document.body.setAttribute('data-layout', JSON.stringify({
    scrollWidth: page.scrollWidth,
    clientWidth: page.clientWidth,
    intervals: intervals.length,
    // the writer keeps each interval in a span.nobr (render.tables.to_html): none may break
    unprotectedIntervals: intervals.filter(c => !c.querySelector('.nobr')).map(c => c.textContent.trim()),
    wrappedIntervals: [...document.querySelectorAll('table .nobr')].filter(n => lineCount(n) > 1)
      .map(n => n.textContent.trim()),
    tablesPastEdge: [...document.querySelectorAll('table')].filter(t => right(t) > page.clientWidth + 1)
      .map(t => (t.caption ? t.caption.textContent : t.textContent).trim().slice(0, 60)),
    images: images.length,
    brokenImages: images.filter(i => !i.complete || i.naturalWidth === 0).length,
    imagesPastEdge: images.filter(i => right(i) > page.clientWidth + 1).map(i => i.alt),
  }));
});
</script>"""


def _layout(report: Path, width: int) -> dict:
    page = report.with_name(f"measured_{width}.html")
    page.write_text(
        report.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), encoding="utf-8"
    )
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={width},1000",
                "--virtual-time-budget=10000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, "the measuring script did not run (no data-layout attribute in the DOM)"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module", params=["config/config.yaml", "config/studies/clinic_example.yaml"])
def report(request, tmp_path_factory) -> Path:
    config = load_config(REPO_ROOT / request.param)
    return Path(run(config, results_root=tmp_path_factory.mktemp("browser")))


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_the_report_fits_the_page_and_keeps_intervals_on_one_line(report, width):
    layout = _layout(report, width)
    assert layout["scrollWidth"] <= layout["clientWidth"], "the page scrolls sideways"
    assert layout["tablesPastEdge"] == []
    assert layout["images"] > 0 and layout["brokenImages"] == 0
    assert layout["imagesPastEdge"] == []
    assert layout["intervals"] > 0  # the check looked at something
    assert layout["unprotectedIntervals"] == []
    assert layout["wrappedIntervals"] == []

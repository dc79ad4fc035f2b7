"""The report as a person sees it: headless Chromium with the network off, at 1400 and 800 px.

One Chromium start renders a harness page holding the report twice, in a 1400 px and an
800 px frame (a frame is its own viewport: media queries, overflow and the first screen are
measured at its width). A probe script put in front of the report's own scripts (in a copy
of the file) records uncaught errors, console.error calls and every resource fetched; after
load it measures the page and every figure, switches the timeline's case selector, and posts
what it saw to the harness, which writes it into a <pre> that ``--dump-dom`` prints.
Skipped when chromium is absent; `.ci/run` installs it. Set BENCHSUITE_SCREENSHOT_DIR to
also keep screenshots for a person to look at (a second and third Chromium start).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchsuite.report import html
from tests.fakes.report_runs import make_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--enable-logging=stderr", "--v=0",
         "--hide-scrollbars"]
WIDTHS = (1400, 800)
SCREEN_HEIGHT = 900  # px: "the first screen"
MAX_LEGEND = 12

PROBE = """<script>
window.__bsErrors = [];
window.addEventListener("error", function (e) { __bsErrors.push("error: " + (e.message || e.type)); }, true);
window.addEventListener("unhandledrejection", function (e) { __bsErrors.push("rejection: " + e.reason); });
(function () {
  var original = console.error;
  console.error = function () { __bsErrors.push("console.error: " + Array.from(arguments).join(" "));
                                return original.apply(console, arguments); };
})();
window.addEventListener("load", function () {
  setTimeout(function () {
    var screen = window.innerHeight;
    var out = {errors: __bsErrors, width: window.innerWidth, timeline_switched: null,
               page_width: document.documentElement.scrollWidth, page_height: document.documentElement.scrollHeight};
    var onScreen = function (el) { var r = el.getBoundingClientRect(); return r.bottom <= screen && r.height > 0; };
    out.title = document.title;
    out.first_screen = Array.from(document.querySelectorAll("h1, .bs-device, .bs-fig, .bs-power"))
      .filter(onScreen).map(function (el) { return el.textContent; });
    out.figures = Array.from(document.querySelectorAll(".plotly-graph-div")).map(function (d) {
      var points = d.querySelectorAll(".scatterlayer .point, .barlayer .point").length;
      var lines = Array.from(d.querySelectorAll(".scatterlayer .js-line")).filter(function (p) {
        return (p.getAttribute("d") || "").length > 2; }).length;
      var size = d._fullLayout ? d._fullLayout._size : {w: 0};
      return {id: d.id, points: points, lines: lines, legend: d.querySelectorAll(".legend .traces").length,
              plot_width: size.w, div_width: d.getBoundingClientRect().width};
    });
    var select = document.getElementById("bs-timeline-select");
    if (select && select.options.length > 1) {
      var before = JSON.stringify(document.getElementById("bs-timeline").data[0].y);
      select.value = String(select.options.length - 1);
      select.dispatchEvent(new Event("change"));
      out.timeline_switched = JSON.stringify(document.getElementById("bs-timeline").data[0].y) !== before;
    }
    out.red_rows = document.querySelectorAll("#cases tr.bs-red").length;
    out.resources = performance.getEntriesByType("resource").map(function (r) { return r.name; });
    parent.postMessage(JSON.stringify(out), "*");
  }, 300);
});
</script>"""

HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<script>
var seen = [];
window.addEventListener("message", function (e) {
  seen.push(JSON.parse(e.data));
  if (seen.length === %(n)d) {
    var pre = document.createElement("pre"); pre.id = "bs-probe"; pre.textContent = JSON.stringify(seen);
    document.body.appendChild(pre);
  }
});
</script>
%(frames)s
</body></html>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


def probe(report: Path, tmp_path: Path, widths=WIDTHS) -> tuple[dict[int, dict], subprocess.CompletedProcess]:
    """Open ``report`` at each width in one Chromium start; {width: what the probe saw}."""
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    frames = "".join(f'<iframe src="{probed.name}" style="width:{w}px;height:{SCREEN_HEIGHT}px;border:0"></iframe>'
                     for w in widths)
    harness = tmp_path / "harness.html"
    harness.write_text(HARNESS % {"n": len(widths), "frames": frames}, encoding="utf-8")
    done = _chromium(tmp_path, "--virtual-time-budget=30000", f"--window-size={max(widths) + 40},1000",
                     "--dump-dom", harness.as_uri())
    found = re.search(r'<pre id="bs-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not report; chromium stderr:\n{done.stderr[-3000:]}"
    text = found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return {item["width"]: item for item in json.loads(text)}, done


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    a = make_run(root, "20261101-000000-aaaa", tag="<script>alert(1)</script>", samples_per_case=40)
    b = make_run(root, "20261102-000000-bbbb", hostname="a100-box", device_name="NVIDIA A100-SXM4-80GB",
                 speed=0.5, seed=1, samples_per_case=40)
    lines = (a / "results.jsonl").read_text().splitlines()
    for i, line in enumerate(lines):  # one case flagged noisy: its row must be red
        record = json.loads(line)
        if record.get("id") == "mlp/train/cuda:0/bf16/bs32":
            record["telemetry"]["quality_flags"] = ["noisy"]
            lines[i] = json.dumps(record)
    (a / "results.jsonl").write_text("\n".join(lines) + "\n")
    out, _ = html.write([a, b], root / "report.html")
    return out


@pytest.fixture(scope="module")
def seen(report, tmp_path_factory):
    return probe(report, tmp_path_factory.mktemp("chromium"))


def test_report_renders_offline_without_errors(report, seen):
    page = report.read_text()
    # Nothing the page could fetch: no external script, stylesheet or image sources.
    assert not re.search(r"""<(script|link|img|iframe)[^>]*(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    widths, done = seen
    assert sorted(widths) == sorted(WIDTHS)
    for width, probe_ in widths.items():
        assert probe_["errors"] == [], width
        assert probe_["resources"] == [], width
        assert probe_["timeline_switched"] is True
    assert "Uncaught" not in done.stderr


@pytest.mark.parametrize("width", WIDTHS)
def test_no_horizontal_overflow(seen, width):
    probe_ = seen[0][width]
    assert probe_["width"] == width and probe_["page_width"] <= width


@pytest.mark.parametrize("width", WIDTHS)
def test_first_screen_names_the_devices_and_holds_the_headline(seen, width):
    probe_ = seen[0][width]
    assert "NVIDIA H100 80GB HBM3" in probe_["title"] and re.search(r", \d{4}-\d\d-\d\d", probe_["title"])
    assert "aaaa" not in probe_["title"]  # the devices and the date, not the run id
    first = " | ".join(probe_["first_screen"])
    assert "NVIDIA H100 80GB HBM3" in first
    assert "TFLOP/s" in first and "samples/s" in first and "samples/J" in first and "Power: " in first


@pytest.mark.parametrize("width", WIDTHS)
def test_every_figure_draws_points_with_a_small_legend(seen, width):
    figures = seen[0][width]["figures"]
    assert {f["id"] for f in figures} >= {"bs-throughput", "bs-peak", "bs-energy", "bs-pareto", "bs-timeline"}
    for fig in figures:
        assert fig["points"] + fig["lines"] > 0, fig
        assert 1 <= fig["legend"] <= MAX_LEGEND, fig
        assert fig["plot_width"] >= 0.5 * fig["div_width"], fig  # the legend leaves the plot its space


def test_flagged_cases_are_red_and_hostile_text_stays_text(report, seen):
    assert seen[0][1400]["red_rows"] == 1
    page = report.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)</script>" not in page


@pytest.mark.skipif(not os.environ.get("BENCHSUITE_SCREENSHOT_DIR"), reason="set BENCHSUITE_SCREENSHOT_DIR to keep "
                                                                            "screenshots")
def test_screenshots(report, tmp_path):
    keep = Path(os.environ["BENCHSUITE_SCREENSHOT_DIR"])
    keep.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        shot = tmp_path / f"report-{width}.png"
        _chromium(tmp_path, "--virtual-time-budget=20000", f"--window-size={width},3000", f"--screenshot={shot}",
                  report.as_uri())
        assert shot.is_file() and shot.stat().st_size > 50_000  # a blank page is a few KiB
        shutil.copy(shot, keep / shot.name)

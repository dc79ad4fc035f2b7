"""The report as a person sees it: headless Chromium with the network off.

A probe script is put in front of the report's own scripts (in a copy of the file); it
records uncaught errors, console.error calls and every resource the page fetched, then,
after load, switches the timeline's case selector and writes what it saw into a <pre>
that ``--dump-dom`` prints. Skipped when chromium is absent; `.ci/run` installs it.
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
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--enable-logging=stderr", "--v=0"]

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
    var out = {errors: __bsErrors, timeline_switched: null};
    var divs = Array.from(document.querySelectorAll(".plotly-graph-div"));
    out.figures = divs.map(function (d) { return d.id; });
    out.rendered = divs.filter(function (d) {
      // drawn, and holding data: at least one trace with at least one point (an empty plot has layers too)
      var points = (d._fullData || []).some(function (t) { return t.visible !== false && t._length > 0; });
      return d._fullLayout && d.querySelector(".main-svg") && points &&
             d.querySelectorAll(".trace, .bars, .scatterlayer").length > 0;
    }).map(function (d) { return d.id; });
    var select = document.getElementById("bs-timeline-select");
    if (select && select.options.length > 1) {
      var before = JSON.stringify(document.getElementById("bs-timeline").data[0].y);
      select.value = String(select.options.length - 1);
      select.dispatchEvent(new Event("change"));
      out.timeline_switched = JSON.stringify(document.getElementById("bs-timeline").data[0].y) !== before;
    }
    out.resources = performance.getEntriesByType("resource").map(function (r) { return r.name; });
    var pre = document.createElement("pre");
    pre.id = "bs-probe";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 300);
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=90)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    a = make_run(root, "20261101-000000-aaaa", tag="<script>alert(1)</script>", samples_per_case=40)
    b = make_run(root, "20261102-000000-bbbb", hostname="a100-box", device_name="NVIDIA A100-SXM4-80GB",
                 speed=0.5, seed=1, samples_per_case=40)
    out, _ = html.write([a, b], root / "report.html")
    return out


def test_report_renders_offline_without_errors(report, tmp_path):
    page = report.read_text()
    # Nothing the page could fetch: no external script, stylesheet or image sources.
    assert not re.search(r"""<(script|link|img|iframe)[^>]*(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    done = _chromium(tmp_path, "--virtual-time-budget=20000", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="bs-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not report; chromium stderr:\n{done.stderr[-3000:]}"
    probe = json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
                       .replace("&amp;", "&"))
    assert probe["errors"] == []
    assert probe["resources"] == []
    assert len(probe["figures"]) >= 6  # throughput, energy, peak, two Pareto, timeline
    assert sorted(probe["rendered"]) == sorted(probe["figures"])
    assert probe["timeline_switched"] is True
    assert "Uncaught" not in done.stderr
    # The hostile tag is text on the page, not a script that ran.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in done.stdout


def test_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    _chromium(tmp_path, "--virtual-time-budget=20000", "--window-size=1400,3000", f"--screenshot={shot}",
              report.as_uri())
    assert shot.is_file() and shot.stat().st_size > 50_000  # a blank page is a few KiB
    keep = os.environ.get("BENCHSUITE_SCREENSHOT_DIR")  # for a person to look at the page
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.offline
import pytest

from benchsuite import results
from benchsuite.claims import store
from benchsuite.report import figures, html
from tests.fakes.report_runs import make_run

HOSTILE = "<script>alert(1)</script>"
SMALL = dict(workloads=("mlp",), batch_sizes=(32, 128))


ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "benchsuite", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    a = make_run(root, "20261101-000000-aaaa", tag=HOSTILE, hostname=HOSTILE, reason_text=HOSTILE, **SMALL)
    b = make_run(root, "20261102-000000-bbbb", device="cpu", device_name=f"CPU {HOSTILE}", telemetry=False,
                 speed=0.1, **SMALL)
    out, _ = html.write([a, b], root / "report.html")
    return out.read_text()


def test_strings_from_users_and_machines_are_escaped(hostile_page):
    assert HOSTILE not in hostile_page
    assert "alert(1)</script>" not in hostile_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_page  # shown as text
    # Every <script> element is ours: plotly.js, one per figure, and the timeline selector.
    scripts = re.findall(r"<script[^>]*>", hostile_page)
    assert len(scripts) == 1 + hostile_page.count('class="plotly-graph-div"') + 1


def test_plotly_js_is_inlined_once_and_nothing_is_fetched(hostile_page):
    plotly_js = plotly.offline.get_plotlyjs()
    assert hostile_page.count(plotly_js[:500]) == 1
    ours = hostile_page.replace(plotly_js, "")  # plotly.js itself holds links it never fetches
    assert "https://" not in ours and "http://" not in ours


def test_sections_with_and_without_telemetry(hostile_page):
    for title in ("Every case", "Throughput against batch size", "Energy efficiency",
                  "% of datasheet peak", "Throughput against energy per sample", "over time",
                  "Skipped, out-of-memory and failed cases", "Hardware comparison", "Quality flags"):
        assert title in hostile_page
    assert "not measured" in hostile_page  # the CPU run has no energy
    assert "bs-timeline-select" in hostile_page and hostile_page.count('id="bs-timeline"') == 1
    assert "fp8 needs compute capability 8.9+" in hostile_page


def test_report_without_any_telemetry_says_not_measured(tmp_path):
    run = make_run(tmp_path, "r", telemetry=False, **SMALL)
    page = html.build(results.load(run), [("r", figures.read_samples(run))])
    assert "Not measured: these runs recorded no energy" in page
    assert "Not measured: the runs have no raw telemetry samples" in page
    assert "Hardware comparison" not in page  # one run


def test_downsampling_keeps_every_peak():
    rng = np.random.default_rng(0)
    t = np.arange(10_000) * 0.01
    y = rng.normal(100, 5, t.size)
    y[1234], y[8765] = 900.0, -50.0
    ts, ys = figures.downsample(t, y, 100)
    assert len(ys) <= 200 and ys.max() == 900.0 and ys.min() == -50.0
    assert np.all(np.diff(ts) >= 0)  # still in time order
    short_t, short_y = figures.downsample(t[:50], y[:50], 100)
    assert len(short_y) == 50  # short series are kept whole


def test_pareto_front():
    jps = np.array([1.0, 2.0, 0.5, 3.0])
    sps = np.array([10.0, 20.0, 5.0, 15.0])
    assert figures.pareto_front(jps, sps).tolist() == [True, True, True, False]


def test_cli_report_newest_run_and_where_it_wrote(tmp_path):
    make_run(tmp_path / "reports", "20261101-000000-old0", **SMALL)
    newest = make_run(tmp_path / "reports", "20261102-000000-new0", telemetry=False, **SMALL)
    done = _cli("report", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Report: {Path('reports') / newest.name / 'report.html'}" in done.stderr
    assert (newest / "report.html").is_file()


@pytest.mark.parametrize("content,message", [
    ("", "results.jsonl: empty file"),
    ("hello\n", "results.jsonl:1: not a benchsuite results file"),
    ('{"record": "header", "schema": 99}\n', "results.jsonl:1: written with results schema 99"),
])
def test_cli_unreadable_input_exits_2_naming_the_file(tmp_path, content, message):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.jsonl").write_text(content)
    done = _cli("report", tmp_path / "bad", "-o", tmp_path / "r.html")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_cli_table_and_compare_refuse_unreadable_input(tmp_path):
    (tmp_path / "results.jsonl").write_text("hello\n")
    good = make_run(tmp_path, "good", **SMALL)
    for args in (("table", tmp_path / "results.jsonl"), ("compare", good, tmp_path / "results.jsonl")):
        done = _cli(*args)
        assert done.returncode == 2 and "results.jsonl:1: not a benchsuite results file" in done.stderr, args


def test_cli_truncated_last_line_is_reported_and_the_rest_used(tmp_path):
    run = make_run(tmp_path, "r", **SMALL)
    with (run / "results.jsonl").open("a") as fh:
        fh.write('{"record": "case", "id": "half')
    done = _cli("report", run, "-o", tmp_path / "r.html")
    assert done.returncode == 0, done.stderr
    lines = (run / "results.jsonl").read_text().count("\n") + 1
    assert f"results.jsonl:{lines}: truncated last line" in done.stderr
    assert "mlp/train/cuda:0/bf16/bs128" in (tmp_path / "r.html").read_text()


def test_timeline_entries_per_case_and_whole_run(tmp_path):
    run = make_run(tmp_path, "r", samples_per_case=30, **SMALL)
    df = results.load(run)
    entries = figures.timeline_data([("r", figures.read_samples(run))], df)
    labels = [e["label"] for e in entries]
    ok_cases = df[df["status"] == "ok"]["id"].tolist()
    assert labels == ["r · whole run (cuda:0)"] + [f"r · {c}" for c in ok_cases]
    case = entries[1]
    assert set(case["series"]) == {"power_w", "power_limit_w", "util_gpu_pct", "util_mem_pct", "mem_used_bytes",
                                   "sm_clock_mhz", "mem_clock_mhz", "temp_c", "cpu_util_pct", "rss_bytes"}
    # The fixture samples GPU and host rows at the same instants: one shared time array, from 0;
    # the power limit (the run header's 700 W) is a flat line over the same span.
    assert {v["ti"] for c, v in case["series"].items() if c != "power_limit_w"} == {0}
    assert case["times"][0][0] == 0.0
    limit = case["series"]["power_limit_w"]
    assert limit["y"] == [700.0, 700.0] and case["times"][limit["ti"]] == [0.0, case["times"][0][-1]]
    assert len(case["series"]["power_w"]["y"]) == 30
    assert max(case["series"]["mem_used_bytes"]["y"]) <= 2.0  # GiB


def test_damaged_samples_file_is_named_and_a_truncated_row_skipped(tmp_path):
    import warnings

    from benchsuite import results
    from benchsuite.report import figures

    run = tmp_path / "run"
    run.mkdir()
    (run / "samples.csv").write_bytes(b"t_s,device,case_id,power_w\n0.0,host,,\n0.1,cuda:0,a,2\xff\xfe\"\n")
    with pytest.raises(results.ResultsError, match="samples.csv: not a readable telemetry samples file"):
        figures.read_samples(run)
    (run / "samples.csv").write_text("t_s,device,case_id,power_w\n0.0,cuda:0,a,100\n0.1,cuda:0,a,1")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        frame = figures.read_samples(run)
    assert len(frame) == 1 and "truncated last line" in str(seen[0].message)


def test_whole_run_entries_one_per_gpu_and_host_only_without_gpus():
    import pandas as pd

    rows = [{"t_s": t, "device": d, "case_id": "", "power_w": p, "cpu_util_pct": 50.0 if d == "host" else None}
            for t in (0.0, 0.5, 1.0) for d, p in (("cuda:0", 100.0), ("cuda:1", 300.0), ("host", None))]
    entries = figures.timeline_data([("r", pd.DataFrame(rows))], pd.DataFrame())
    assert [e["label"] for e in entries] == ["r · whole run (cuda:0)", "r · whole run (cuda:1)"]
    assert entries[1]["series"]["power_w"]["y"] == [300.0] * 3  # no zigzag between GPUs
    host_only = pd.DataFrame([r for r in rows if r["device"] == "host"])
    entries = figures.timeline_data([("r", host_only)], pd.DataFrame())
    assert [e["label"] for e in entries] == ["r · whole run (host)"] and "cpu_util_pct" in entries[0]["series"]


def test_report_of_a_claims_run_has_the_claims_section(tmp_path):
    """`benchsuite report` on a claims run directory shows the claims table."""
    run_dir = make_run(tmp_path, "20261125-000000-c1a1")
    rows = [{"id": "4a", "claim": "The printed CNN <b>runs</b>", "verdict": "not supported",
             "measurement": "m", "figures": [], "reason": None}]
    (run_dir / store.CLAIMS_FILE).write_text(json.dumps({"claims": rows, "evidence": {}}))
    out, _ = html.write([run_dir], tmp_path / "r.html")
    page = out.read_text()
    assert "The article&#x27;s claims" in page or "The article's claims" in page
    assert "The printed CNN &lt;b&gt;runs&lt;/b&gt;" in page


def test_two_claims_runs_each_have_a_section_and_every_id_once(tmp_path):
    """Two claims runs on one page: two sections in the contents, one table each, no HTML id twice."""
    run = make_run(tmp_path, "r", **SMALL)
    df = results.load(run)
    rows = [{"id": "4a", "claim": "c", "verdict": "not supported", "measurement": "m", "figures": [], "reason": None}]
    page = html.build(df, [("r", None)], claims=[rows, rows])
    ids = re.findall(r'\sid="([^"]*)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in set(ids) if ids.count(i) > 1)
    assert 'href="#claims"' in page and 'href="#claims-1"' in page
    assert 'id="claim-4a"' in page and 'id="claims-1-4a"' in page
    assert page.count('<table class="claims-table">') == 2 and '<section class="claims"' not in page

def test_first_screen_order_title_headline_contents_then_hardware_and_details_last(hostile_page):
    title = re.search(r"<title>(.*?)</title>", hostile_page).group(1)
    assert title.startswith("NVIDIA H100 80GB HBM3 and CPU &lt;script&gt;alert(1)&lt;/script&gt;, 20")  # GPUs first
    assert "20261101-000000-aaaa" not in title  # the devices and the date, not the run id
    order = [hostile_page.index(s) for s in ("<h1>", 'class="bs-headline"', 'id="contents"', 'id="hardware"',
                                             'id="throughput"', 'id="cases"', 'id="flags"', 'id="runs"')]
    assert order == sorted(order)
    assert hostile_page.count('class="bs-card"') == 2  # one headline block per device
    assert 'href="#hardware"' in hostile_page and 'href="#runs"' in hostile_page


def test_tables_scroll_in_their_own_box(hostile_page):
    assert hostile_page.count('<div class="bs-scroll"><table') >= 3
    assert '<table class="bs-table">' not in hostile_page.replace('<div class="bs-scroll"><table class="bs-table">', "")


def test_flagged_cases_are_red_and_the_flags_explained(tmp_path):
    run = make_run(tmp_path, "r", **SMALL)
    df = results.load(run)
    df["quality_flags"] = [["noisy"] if i == 1 else ["short-window"] if i == 2 else [] for i in range(len(df))]
    page = html.build(df, [("r", None)])
    cases = page[page.index('id="cases"'):page.index('id="not-run"')]
    assert cases.count('<tr class="bs-red">') == 1
    flags = page[page.index('id="flags"'):page.index('id="runs"')]
    assert "<code>noisy</code> <span" in flags and "1 case</span>" in flags and "<code>numerics</code>" in flags
    assert "<code>short-window</code>" in flags


def test_cases_judged_noisy_when_read_are_red_like_in_the_terminal(tmp_path):
    """`noisy` is judged from IQR ÷ median when results are read (benchsuite.flags), not recorded:
    the report marks those cases red and counts them in its glossary, as the terminal's tables do."""
    run = make_run(tmp_path, "r", **SMALL)
    df = results.load(run)
    df["quality_flags"] = [[] for _ in range(len(df))]
    ok = df.index[df["status"] == "ok"]
    df.loc[ok[0], "step_s_iqr"] = 0.2 * df.loc[ok[0], "step_s_median"]  # IQR 20 % of the median
    df.loc[ok[1], "warmup_settled"] = False
    page = html.build(df, [("r", None)])
    cases = page[page.index('id="cases"'):page.index('id="not-run"')]
    assert cases.count('<tr class="bs-red">') == 1
    flags = page[page.index('id="flags"'):page.index('id="runs"')]
    assert "<code>noisy</code> <span" in flags and "<code>warmup-not-settled</code> <span" in flags
    assert "not described" not in flags


def test_one_run_on_two_devices_compares_them_and_folds_away_one_sided_cases(tmp_path):
    run = make_run(tmp_path, "r", **SMALL)
    df = results.load(run)
    cpu = df[df["status"] == "ok"].head(1).assign(device="cpu", device_name="AMD EPYC 9654")
    both = pd.concat([df, cpu], ignore_index=True)
    both.attrs = df.attrs
    page = html.build(both, [("r", None)])
    hardware = page[page.index('id="hardware"'):page.index('id="throughput"')]
    assert "AMD EPYC 9654" in hardware and "ran on one device only</summary>" in hardware
    assert "Hardware comparison" not in html.build(df, [("r", None)])  # one device: nothing to compare


def test_every_case_is_one_line_a_row_with_its_notes_as_footnotes(tmp_path):
    """The case table formats as the terminal does and keeps reasons and flags out of its rows:
    markers in the last column, each text once under the table, a flag linked to its glossary entry."""
    run = make_run(tmp_path, "r", **SMALL)
    df = results.load(run)
    df["quality_flags"] = [["noisy"] if i == 0 else [] for i in range(len(df))]
    page = html.build(df, [("r", None)])
    section = page[page.index('id="cases"'):page.index('id="not-run"')]
    assert '<table class="bs-table bs-cases">' in section and " mJ/sample</td>" in section
    assert '<ul class="bs-notes">' in section
    assert '<a href="#flag-noisy"><code>noisy</code></a>: step times spread' in section
    assert section.count("CUDA out of memory at batch 128") == 1  # the reason once, as a footnote
    assert 'id="flag-noisy"' in page[page.index('id="flags"'):]
    assert ".bs-cases th, .bs-cases td, .bs-cases td:last-child { white-space: nowrap;" in page

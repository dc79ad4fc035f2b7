"""The wall-time estimate of a plan: from the settings, from a previous run, and while it runs."""

import json
import shutil

import pytest

from benchsuite import estimate, plan
from benchsuite.devices import Device
from benchsuite.settings import RunSettings
from benchsuite.timing import TimingSettings
from benchsuite.workload import registry
from tests.fakes.fixture_paths import DA35

REG = registry()
CPU = Device(id="cpu", type="cpu", name="cpu with bf16", native_precisions=frozenset({"bf16"}))
H100 = Device(id="cuda:0", type="cuda", name="NVIDIA H100 80GB HBM3", index=0, compute_capability=(9, 0))
TYPES = {"cpu": "cpu", "cuda:0": "cuda"}
# Settings of the test's own, so that the arithmetic below does not move with the defaults.
SETTINGS = RunSettings(
    timing={"cpu": TimingSettings(min_time_s=1.0, warmup_time_s=0.25, judge_steady=False),
            "cuda": TimingSettings(min_time_s=2.0, warmup_time_s=1.0, judge_steady=True, steady_span_s=1.0,
                                   steady_spans=4, settle_max_s=30.0)},
    cooldown_s={"cpu": 0.0, "cuda": 3.0}, idle_s=3.0)


def headline(devices):
    return plan.expand(plan.Sweep(None, devices, name="headline"), REG)


def test_headline_on_an_h100_from_the_settings_phase_by_phase():
    cases = headline([CPU, H100])
    got = estimate.estimate(cases, TYPES, SETTINGS, energy_devices=["cuda:0"])
    cpu_case = estimate.SETUP_S["cpu"] + 0.25 + 1.0  # set-up, fixed warm-up, window
    matmul = estimate.SETUP_BY_WORKLOAD_S[("matmul", "cuda")] + 4.0 + 2.0  # the steady rule judges 4 x 1 s spans
    net = estimate.SETUP_S["cuda"] + 4.0 + 2.0
    gpu = 5 * matmul + 8 * net + estimate.CUDA_INIT_S + 12 * 3.0  # 12 cool-downs between 13 GPU cases
    assert got.by_device() == pytest.approx({"cpu": 3 * cpu_case, "cuda:0": gpu})
    assert got.idle_s == 3.0 and got.source == "the settings" and got.previous_run is None
    assert got.total_s == pytest.approx(estimate.STARTUP_S + 3.0 + 3 * cpu_case + gpu + estimate.CLOSING_S)
    # at most: every GPU warm-up runs to its 30 s cap
    assert got.longest_s - got.total_s == pytest.approx(13 * (30.0 - 4.0))


def test_a_fixed_warm_up_no_idle_and_skipped_cases_cost_nothing():
    cases = plan.expand(plan.Sweep(["cnn"], [CPU], precisions=["fp32", "tf32"], batch_sizes=[8], modes=["train"]),
                        REG)
    assert [bool(c.skip_reason) for c in cases] == [False, True]
    got = estimate.estimate(cases, TYPES, SETTINGS)
    assert got.cases[1].seconds == 0 and got.cases[1].source == "skipped"
    assert got.total_s == pytest.approx(estimate.STARTUP_S + estimate.SETUP_S["cpu"] + 1.25 + estimate.CLOSING_S)
    assert got.longest_s == pytest.approx(got.total_s)


def test_a_batch_search_adds_its_probes():
    cases = plan.expand(plan.Sweep(["cnn"], [CPU], precisions=["fp32"], batch_sizes=["best"], modes=["train"]), REG)
    got = estimate.estimate(cases, TYPES, SETTINGS)
    assert got.cases[0].seconds == pytest.approx(estimate.SETUP_S["cpu"] + estimate.SEARCH_S["cpu"] + 1.25)


def test_compiled_cases_add_their_compile_allowance():
    """Review B6: a CPU `--quick --exec eager,compile -w mlp` was estimated at about 10 s and took 62 s."""
    cases = plan.expand(plan.Sweep(["mlp"], [CPU], precisions=["fp32"], batch_sizes=[32], modes=["train", "infer"],
                                   exec_modes=["eager", "compile", "compile-max"]), REG)
    got = {c.case_id: c for c in estimate.estimate(cases, TYPES, SETTINGS).cases}
    plain = estimate.SETUP_S["cpu"] + 1.25  # set-up, fixed warm-up and window: what every case costs
    for case in cases:
        want, most = estimate.COMPILE_S[("cpu", case.mode)]
        factor = {"eager": 0.0, "compile": 1.0, "compile-max": estimate.COMPILE_MAX_FACTOR}[case.exec]
        assert got[case.id].seconds == pytest.approx(plain + factor * want), case.id
        assert got[case.id].longest_s == pytest.approx(plain + factor * most), case.id
    # the review's run: 2 eager + 2 compiled mlp cases, 62 s measured; the estimate now within 2x of it
    review = [c for c in cases if c.exec in ("eager", "compile")]
    total = estimate.estimate(review, TYPES, SETTINGS).total_s
    assert 31.0 <= total <= 124.0


def test_graphs_and_eager_cost_no_compile_time():
    assert estimate.compile_seconds("eager", "cuda", "train") == (0.0, 0.0)
    assert estimate.compile_seconds("graphs", "cuda", "infer") == (0.0, 0.0)
    assert estimate.compile_seconds("compile", "cuda", "train") == estimate.COMPILE_S[("cuda", "train")]


def da35_timing():
    header = json.loads(DA35.joinpath("results.jsonl").read_text().splitlines()[0])
    return header["settings"]["timing"]


def test_the_previous_run_on_this_host_gives_its_case_durations(tmp_path):
    shutil.copytree(DA35, tmp_path / DA35.name)
    run_id, durations = estimate.previous_run(tmp_path, "vm", da35_timing())
    assert run_id == "20261125-220824-da35" and len(durations) == 46
    assert durations["cnn/train/cuda:0/fp32/bs128"] == 10.0  # 22:08:57 -> 22:09:07
    assert durations["matmul/infer/cuda:0/fp32[m=8192,n=8192,k=8192]"] == 36.0  # warm-up ran to its 30 s cap
    assert estimate.previous_run(tmp_path, "another-host", da35_timing()) is None
    other = {**da35_timing(), "cuda": {**da35_timing()["cuda"], "min_time_s": 2.0}}
    assert estimate.previous_run(tmp_path, "vm", other) is None  # timed differently: not comparable
    assert estimate.previous_run(tmp_path / "nowhere", "vm", da35_timing()) is None


def test_the_estimate_takes_the_measured_cases_and_says_so(tmp_path):
    shutil.copytree(DA35, tmp_path / DA35.name)
    previous = estimate.previous_run(tmp_path, "vm", da35_timing())
    cases = plan.expand(plan.Sweep(["matmul"], [H100], precisions=["fp32", "fp8"]), REG)
    got = estimate.estimate(cases, TYPES, SETTINGS, previous=previous)
    assert [c.source for c in got.cases] == ["run 20261125-220824-da35", "the settings"]
    assert got.cases[0].seconds == 36.0
    assert got.source == "run 20261125-220824-da35's durations for 1 of 2 cases, the settings for the rest"
    assert got.cases[0].longest_s == pytest.approx(36.0 + 26.0)  # its cap allowance stays
    all_measured = estimate.estimate(cases[:1], TYPES, SETTINGS, previous=previous)
    assert all_measured.source == "the durations of run 20261125-220824-da35 on this host"


def test_a_newer_run_of_another_host_or_a_damaged_file_is_passed_over(tmp_path):
    shutil.copytree(DA35, tmp_path / DA35.name)
    (tmp_path / "20301231-000000-ffff").mkdir()
    (tmp_path / "20301231-000000-ffff" / "results.jsonl").write_text("not json\n")
    newer = tmp_path / "20301230-000000-eeee"
    newer.mkdir()
    (newer / "results.jsonl").write_text(json.dumps({"record": "header", "host": {"hostname": "elsewhere"}}) + "\n")
    assert estimate.previous_run(tmp_path, "vm", da35_timing())[0] == "20261125-220824-da35"


def test_remaining_time_scales_with_how_the_finished_cases_went():
    rows = tuple(estimate.CaseEstimate(f"c{i}", "cpu", 10.0) for i in range(4))
    got = estimate.Estimate(rows, startup_s=5.0, idle_s=0.0, closing_s=2.0)
    assert got.total_s == 47.0
    assert got.remaining_s(0) == 42.0
    assert got.remaining_s(1, elapsed_done_s=10.0, elapsed_current_s=4.0) == pytest.approx(30 - 4 + 2)
    assert got.remaining_s(2, elapsed_done_s=40.0) == pytest.approx(2 * 20 + 2)  # twice as slow as estimated
    assert got.remaining_s(2, elapsed_done_s=1000.0) == pytest.approx(4 * 20 + 2)  # the ratio is capped at 4
    assert got.remaining_s(4, elapsed_done_s=40.0, elapsed_current_s=9.0) == 2.0


@pytest.mark.parametrize("seconds,text", [(0.4, "0 s"), (44.6, "45 s"), (93, "95 s"), (185, "3 min 10 s"),
                                          (600, "10 min"), (3900, "1 h 05 min")])
def test_duration_text(seconds, text):
    assert estimate.duration_text(seconds) == text


def test_clock_text():
    assert [estimate.clock_text(s) for s in (0, 65, 760, 3723)] == ["0:00", "1:05", "12:40", "1:02:03"]


def test_summary_per_device():
    cases = headline([CPU, H100])
    got = {s.device: s for s in estimate.summarize(cases)}
    assert (got["cpu"].measured, got["cpu"].skipped) == (3, 0)
    assert got["cpu"].workloads["cnn"] == {"modes": ["train"], "precisions": ["fp32"], "batches": [32]}
    assert got["cuda:0"].workloads["matmul"]["precisions"] == ["fp32", "tf32", "fp16", "bf16", "fp8"]
    assert got["cuda:0"].workloads["mlp"] == {"modes": ["train", "infer"], "precisions": ["fp32", "bf16"],
                                              "batches": [8192]}
    data = estimate.plan_json(cases, estimate.estimate(cases, TYPES, SETTINGS), "headline")
    assert data["sweep"] == "headline" and [c["id"] for c in data["cases"]] == [c.id for c in cases]
    assert json.loads(json.dumps(data)) == data


def test_warm_up_fixed_judged_or_off():
    fixed = TimingSettings(warmup_time_s=1.0, judge_steady=False)  # --quick, the CPU
    assert estimate.warmup_s(fixed) == (1.0, 1.0)
    judged = TimingSettings(warmup_time_s=1.0, judge_steady=True, settle_max_s=30.0)
    assert estimate.warmup_s(judged) == (judged.steady_rule.judged_s, 30.0)
    off = TimingSettings(warmup_time_s=1.0, judge_steady=True, settle_max_s=0.0)  # --settle-max 0
    assert estimate.warmup_s(off) == (1.0, 1.0)
    short_cap = TimingSettings(warmup_time_s=1.0, judge_steady=True, settle_max_s=2.0)
    assert estimate.warmup_s(short_cap) == (2.0, 2.0)


def test_a_latency_case_adds_its_latency_pass():
    """Batch-1 inference: the blocks as every case, then about 1 s of single steps (no longer than
    the timed window: 0.2 s with a 0.2 s window)."""
    cases = plan.expand(plan.Sweep(["mlp"], [CPU], precisions=["fp32"], batch_sizes=[1, 8], modes=["infer"]), REG)
    got = estimate.estimate(cases, TYPES, SETTINGS)
    latency, throughput = got.cases
    assert latency.seconds - throughput.seconds == pytest.approx(1.0)  # min(LATENCY_PASS_S, min_time_s 1 s)
    short = RunSettings(timing={"cpu": TimingSettings(min_time_s=0.2, warmup_time_s=0.05)})
    latency, throughput = estimate.estimate(cases, TYPES, short).cases
    assert latency.seconds - throughput.seconds == pytest.approx(0.2)

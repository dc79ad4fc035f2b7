"""Exec modes on the CPU (issue 16 item 2): torch.compile through the runner (dynamo's ``eager``
backend via the hidden test knob, so no inductor code is generated; one real inductor test is
marked slow), compile time recorded apart, fallbacks that are errors never eager figures, the
recompile flag, and the CUDA-graph recipe against a stand-in ``torch.cuda``."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from benchsuite import devices, exec_modes, execution, results, runner
from benchsuite.cli import main
from benchsuite.plan import Case
from benchsuite.workload import Registry, registry
from tests.fakes.fake_cuda_graphs import FakeCudaGraphs
from tests.fakes.runner_workloads import FAST, Add

REG = registry()


@pytest.fixture
def eager_backend(monkeypatch):
    """The hidden knob: torch.compile with dynamo's eager backend (graphs traced, no codegen)."""
    monkeypatch.setenv(execution.BACKEND_ENV, "eager")


def run_cases(tmp_path, cases, reg=REG, settings=FAST):
    store = results.RunStore(tmp_path, {})
    runner.Runner(reg, [devices.cpu()], store, settings).run(cases)
    return results.read_run(store.path).cases


def mlp_case(exec_mode, mode="infer", prec="fp32", bs=4):
    return Case("mlp", mode, "cpu", prec, bs, (("widths", (16, 32, 8)), ("lr", 0.001), ("momentum", 0.9)),
                exec=exec_mode)


def test_compiled_cases_record_their_compile_apart_and_check_their_numerics(tmp_path, eager_backend):
    recs = run_cases(tmp_path, [mlp_case("compile"), mlp_case("compile", "train", "bf16"),
                                mlp_case("compile-max", "train")])
    assert [r["status"] for r in recs] == ["ok"] * 3, [r.get("reason") for r in recs]
    for rec in recs:
        compiled = rec["compile"]
        assert rec["exec"] == rec["id"].rsplit("/", 1)[1] and compiled["backend"] == "eager"
        assert compiled["compile_s"] > 0 and compiled["graphs"] >= 1 and compiled["graph_breaks"] == 0
        assert compiled["recompiles"] == 0  # nothing compiled again in warm-up or the timed window
        assert rec["numerics"]["status"] == "ok" and rec["metrics"]["flops_per_step"] > 0
    assert set(recs[1]["numerics"]["errors"]) == {"loss", "grad"}
    # compile time is not in the timed figures: the first call took far longer than a step
    assert recs[0]["compile"]["compile_s"] > 10 * recs[0]["metrics"]["step_s_median"]


def test_a_compile_that_silently_runs_eager_is_an_error_not_a_figure(tmp_path, eager_backend, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **options: fn)  # the forced fallback
    rec = run_cases(tmp_path, [mlp_case("compile")])[0]
    assert rec["status"] == "error" and "metrics" not in rec
    assert "NotCompiled" in rec["reason"] and "the step ran eager" in rec["reason"]


def test_dynamo_disabled_and_a_graph_break_are_errors(eager_backend):
    class Breaks(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            x = self.fc(x)
            torch._dynamo.graph_break()
            return x.relu()

    parts = exec_modes.Parts(Breaks().eval(), [(torch.randn(2, 8), torch.zeros(2, dtype=torch.long))],
                             "infer", "fp32", "cpu")
    with pytest.raises(exec_modes.NotCompiled, match="graph_break"):
        exec_modes.prepare(parts, "compile", backend="eager")
    with torch._dynamo.config.patch(disable=True), pytest.raises(exec_modes.NotCompiled, match="torch.compile failed"):
        exec_modes.prepare(parts, "compile", backend="eager")


def test_a_step_that_recompiles_every_call_is_an_error(eager_backend):
    class Counts(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.calls = torch.nn.Linear(8, 4), 0

        def forward(self, x):
            self.calls += 1
            return self.fc(x) * self.calls  # a guard on the count fails on every call

    parts = exec_modes.Parts(Counts().eval(), [(torch.randn(2, 8), torch.zeros(2, dtype=torch.long))],
                             "infer", "fp32", "cpu")
    with pytest.raises(exec_modes.NotCompiled, match="compiled again|recompile"):
        exec_modes.prepare(parts, "compile", backend="eager")


def test_dynamo_settings_are_put_back_after_a_case(eager_backend):
    before = torch._dynamo.config.suppress_errors
    w = REG["mlp"](widths=(8, 16, 4), lr=0.001, momentum=0.9)
    w.setup(mlp_case("compile"))
    assert torch._dynamo.config.suppress_errors is False
    w.teardown()
    assert torch._dynamo.config.suppress_errors == before


class Recompiles(Add):
    """A workload whose prepared step compiled again after preparing (in the timed window)."""

    name = "recompiles"

    def exec_report(self):
        return {"recipe": "test", "backend": "eager", "compile_s": 0.5, "recompiles": 2}


def test_recompiles_after_preparing_flag_the_case(tmp_path):
    rec = run_cases(tmp_path, [Case("recompiles", "infer", "cpu", "fp32", 4)],
                    reg=Registry({"recompiles": Recompiles}, {}))[0]
    assert rec["status"] == "ok" and rec["compile"]["recompiles"] == 2
    assert "recompiled" in rec["telemetry"]["quality_flags"]


def test_quick_compile_smoke_run_from_the_command_line(tmp_path, eager_backend):
    r = CliRunner().invoke(main, ["run", "--exec", "eager,compile", "--quick", "-d", "cpu", "-w", "mlp,cnn",
                                  "-p", "fp32", "--param", "mlp.widths=64x128x10", "--out", str(tmp_path),
                                  "--threads", "1", "--no-telemetry"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    df = results.load(results.newest_run(tmp_path))
    assert set(df["status"]) == {"ok"}, df[["id", "reason"]].to_string()
    assert sorted(df["exec"]) == ["compile"] * 4 + ["eager"] * 4  # mlp and cnn, train and infer
    compiled = df[df["exec"] == "compile"]
    assert compiled["compile_s"].notna().all() and (compiled["compile_backend"] == "eager").all()
    assert (df["numerics"] == "ok").all() and df["burst_samples_per_s"].notna().all()
    cnn = df[df["workload"] == "cnn"]  # memory_format=auto: channels_last compiled, but CPU training
    assert list(zip(cnn["mode"], cnn["exec"], cnn["memory_format"])) == [
        ("train", "eager", "contiguous"), ("train", "compile", "contiguous"),
        ("infer", "eager", "contiguous"), ("infer", "compile", "channels_last")]


@pytest.mark.slow
def test_a_real_inductor_compile_on_the_cpu(tmp_path, monkeypatch):
    """Inductor proper (C++ codegen: 10-70 s on 2 cores for the first compile in a process)."""
    monkeypatch.delenv(execution.BACKEND_ENV, raising=False)
    if execution.cpu_compiler() is None:
        pytest.skip("no C++ compiler for inductor")
    rec = run_cases(tmp_path, [mlp_case("compile", bs=8)])[0]
    assert rec["status"] == "ok", rec.get("reason")
    compiled = rec["compile"]
    assert compiled["backend"] == "inductor" and compiled["graphs"] == 1 and compiled["recompiles"] == 0
    assert compiled["fxgraph_cache_hits"] + compiled["fxgraph_cache_misses"] >= 1  # the cache state is said
    assert rec["numerics"]["status"] == "ok" and rec["numerics"]["errors"]["output"] < 1e-4


# -- CUDA graphs, against a stand-in torch.cuda -----------------------------------------------

class Noted(torch.nn.Module):
    def __init__(self, fake):
        super().__init__()
        self.fc, self.fake = torch.nn.Linear(8, 4), fake

    def forward(self, x):
        self.fake.note_step()
        return self.fc(x)


def test_whole_step_capture_follows_the_recipe():
    fake = FakeCudaGraphs()
    model = Noted(fake).train()
    fake.params = list(model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    parts = exec_modes.Parts(model, [(torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))], "train", "bf16", "cpu",
                             opt, None, torch.nn.CrossEntropyLoss())
    captured = exec_modes.capture_whole_step(parts, exec_modes.with_loss(model, parts.loss_fn), cuda=fake)
    assert fake.log == ["wait", "side stream", "step", "step", "step", "main stream", "wait", "capture",
                        "step in capture", "end capture"]
    assert all("momentum_buffer" in opt.state[p] for p in model.parameters())  # made before the capture
    assert captured.loss is not None and model.fc.weight.grad is not None  # the graph's static gradient
    captured.replay()
    assert fake.log[-1] == "replay"


def test_inference_capture_keeps_its_output():
    fake = FakeCudaGraphs()
    model = Noted(fake).eval()
    parts = exec_modes.Parts(model, [(torch.randn(4, 8), None)], "infer", "fp32", "cpu")
    captured = exec_modes.capture_whole_step(parts, model, cuda=fake)
    assert fake.log.count("step") == exec_modes.GRAPH_WARMUP_STEPS and captured.output.shape == (4, 4)


def test_a_step_that_syncs_with_the_host_is_never_captured():
    fake = FakeCudaGraphs()

    def syncs():
        if fake.mode == "error":  # what set_sync_debug_mode("error") makes of .item()
            raise RuntimeError("called a synchronizing CUDA operation\nmore")

    assert "cannot be captured: called a synchronizing CUDA operation" in exec_modes.safe_to_capture(syncs, fake)
    assert fake.mode == "default"  # put back
    assert exec_modes.safe_to_capture(lambda: None, fake) is None


def test_graphs_needs_cuda_and_one_static_batch():
    parts = exec_modes.Parts(torch.nn.Linear(8, 4), [(torch.randn(2, 8), None)] * 2, "infer", "fp32", "cpu")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        exec_modes.prepare(parts, "graphs")
    parts.device_type = "cuda"
    from benchsuite.workload import Unsupported

    with pytest.raises(Unsupported, match="one static input"):
        exec_modes.prepare(parts, "graphs")


@pytest.mark.parametrize("exec_mode,device,mode,prec,want", [
    ("compile", "cuda", "train", "bf16", ("default", False)),
    ("compile-max", "cpu", "infer", "bf16", ("max-autotune-no-cudagraphs", False)),
    ("compile-max", "cuda", "infer", "bf16", ("max-autotune", False)),
    ("compile-max", "cuda", "train", "fp16", ("max-autotune", False)),  # recipe a
    ("compile-max", "cuda", "train", "bf16", ("max-autotune-no-cudagraphs", True)),  # recipe b
])
def test_compile_recipes(exec_mode, device, mode, prec, want):
    parts = exec_modes.Parts(None, [], mode, prec, device)
    options, recipe, capture = exec_modes.compile_options(exec_mode, parts, None)
    assert (options.get("mode", "default"), capture) == want and options["fullgraph"] and not options["dynamic"]

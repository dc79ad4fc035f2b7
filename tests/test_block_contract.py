"""The per-block step contract (issue 16 item 1): a workload that opts in (``block_steps``) gets
its ``block_context()`` entered once per block of steps, everywhere the harness runs steps;
one that does not (every plugin written before it) is run exactly as before."""

from __future__ import annotations

import contextlib

import pytest
import torch

from benchsuite import devices, results, runner, timing
from benchsuite.plan import Case
from benchsuite.workload import Registry, Workload
from tests.fakes.runner_workloads import FAST


class Counting(Workload):
    """Counts its steps and how often its block context was entered; a step outside the
    context is an error (what a step relying on an outer ``inference_mode`` would do wrong)."""

    name = "counting"
    modes = ("infer",)
    block_steps = True
    entered: list[int] = []

    def setup(self, case):
        self.samples_per_step = case.batch_size
        self.inside = False
        self.steps = 0
        type(self).entered = []

    @contextlib.contextmanager
    def _context(self):
        self.entered.append(self.steps)
        self.inside = True
        try:
            yield
        finally:
            self.inside = False

    def block_context(self):
        return self._context()

    def step(self):
        if not self.inside:
            raise AssertionError("step() ran outside block_context()")
        self.steps += 1


class NotOptedIn(Counting):
    """A plugin that never heard of the contract: its block_context must never be entered."""

    name = "plain"
    block_steps = False

    def block_context(self):
        raise AssertionError("the harness entered block_context of a workload that did not opt in")

    def step(self):
        self.steps += 1


def test_measure_enters_the_block_context_once_per_block():
    w = Counting()
    w.setup(Case("counting", "infer", "cpu", "fp32", 1))
    settings = timing.TimingSettings(min_time_s=0.02, min_iters=3, warmup_iters=2, warmup_time_s=0.0,
                                     block_min_s=1e-4)
    got = timing.measure(w.step, "cpu", settings, block_context=w.block_context)
    assert w.steps >= got.steps and len(Counting.entered) < w.steps  # several steps per context entry
    assert got.steps_per_block > 1


def test_every_step_the_runner_runs_is_inside_the_block_context(tmp_path):
    store = results.RunStore(tmp_path, {})
    reg = Registry({"counting": Counting, "plain": NotOptedIn}, {})
    r = runner.Runner(reg, [devices.cpu()], store, FAST)
    r.run([Case("counting", "infer", "cpu", "fp32", 4), Case("plain", "infer", "cpu", "fp32", 4)])
    recs = results.read_run(store.path).cases
    assert [c["status"] for c in recs] == ["ok", "ok"], [c.get("reason") for c in recs]
    assert recs[0]["numerics"]["status"] == "not checked"  # no hook: said, never a pass


def test_run_steps_is_one_block():
    w = Counting()
    w.setup(Case("counting", "infer", "cpu", "fp32", 1))
    w.run_steps(5)
    assert w.steps == 5 and Counting.entered == [0]
    plain = NotOptedIn()
    plain.setup(Case("plain", "infer", "cpu", "fp32", 1))
    plain.run_steps(3)
    assert plain.steps == 3


def test_classifier_inference_steps_need_their_block_context():
    """mlp's inference step is ``model(x)`` alone: inference_mode comes from the block."""
    from workloads.mlp import MLP

    w = MLP(widths=(8, 16, 4), lr=0.001, momentum=0.9)
    w.setup(Case("mlp", "infer", "cpu", "fp32", 2))
    assert w.block_steps
    with w.block_context():
        out = w.step()
    assert out.is_inference() and not out.requires_grad
    assert w.step().requires_grad  # outside the block: autograd on, which is why the harness enters it
    train = MLP(widths=(8, 16, 4), lr=0.001, momentum=0.9)
    train.setup(Case("mlp", "train", "cpu", "bf16", 2))
    with train.block_context():  # training: a null context; autocast stays inside the step
        assert torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize("batch", [1, 32])
def test_harness_and_bare_loop_run_the_same_work(batch):
    """The selfcheck's comparison is like for like: the harness times the workload's own step
    (the same model and input the bare loop runs) inside its block context."""
    from workloads.mlp import MLP

    w = MLP(widths=(8, 16, 4), lr=0.001, momentum=0.9)
    w.setup(Case("mlp", "infer", "cpu", "fp32", batch))
    with torch.inference_mode():
        bare = w.model(w._parts.x)
    with w.block_context():
        assert torch.equal(w.step(), bare)


def test_the_fake_third_party_plugin_runs_as_before_and_is_eager_only(tmp_path, third_party):
    """tests/fakes/tiny_workload.py: written before the contract, it neither opts in nor declares
    exec modes: it runs as it did, its numerics are "not checked", compile is a skipped case."""
    from click.testing import CliRunner

    from benchsuite.cli import main

    r = CliRunner().invoke(main, ["run", "-w", "tiny", "-p", "fp32", "--exec", "eager,compile", "--out",
                                  str(tmp_path), "--min-time", "0.01", "--no-telemetry"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    df = results.load(results.newest_run(tmp_path))
    eager, compiled = df.iloc[0], df.iloc[1]
    assert eager["status"] == "ok" and eager["numerics"] == "not checked" and eager["burst_samples_per_s"] > 0
    assert compiled["status"] == "skipped" and "tiny does not implement exec mode compile" in compiled["reason"]
    from benchsuite.workload import registry

    assert registry()["tiny"].block_steps is False

"""Planning under torch.distributed: world size in the case, collective skips, byte-size params."""

import pytest

from benchsuite import plan
from benchsuite.devices import Device
from benchsuite.workload import Param, Registry, parse_bytes
from workloads.collective import Collective
from workloads.mlp import MLP

REG = Registry({"collective": Collective, "mlp": MLP}, {})
CPU = Device(id="cpu", type="cpu", name="cpu", native_precisions=frozenset({"bf16"}))


def test_collective_skips_in_a_single_process_with_the_way_to_launch_it():
    cases = plan.expand(plan.Sweep(["collective"], [CPU], precisions=["fp32"]), REG)
    assert len(cases) == 1 and "--nproc N" in cases[0].skip_reason and "torchrun" in cases[0].skip_reason


def test_world_size_is_in_every_case_its_id_and_its_key():
    params = plan.parse_params(["collective.op=all_reduce,all_gather", "collective.size=1K,64K"],
                               ["collective", "mlp"], REG)
    sweep = plan.Sweep(["collective", "mlp"], [CPU], precisions=["fp32"], modes=["train", "infer"],
                       batch_sizes=[8, "auto"], params=params, world_size=2)
    cases = plan.expand(sweep, REG)
    coll = [c for c in cases if c.workload == "collective"]
    assert [c.param_dict["size"] for c in coll] == [1024, 65536, 1024, 65536]
    assert all(not c.skip_reason and c.world_size == 2 for c in coll)
    assert coll[0].id == "collective/infer/cpu/fp32/ws2[op=all_reduce,size=1024]"
    assert coll[0].to_dict()["world_size"] == 2
    auto = [c for c in cases if c.auto_batch]
    assert auto and all("not available under torch.distributed" in c.skip_reason for c in auto)
    single = plan.Case("mlp", "train", "cpu", "fp32", 8)
    assert single.id == "mlp/train/cpu/fp32/bs8" and single.key() != plan.Case("mlp", "train", "cpu", "fp32", 8,
                                                                               world_size=2).key()


def test_byte_sizes_parse_with_binary_units_and_say_what_is_allowed():
    assert [parse_bytes(t) for t in ("512", "4K", "64KB", "16MiB", "1G")] == [512, 4096, 65536, 2**24, 2**30]
    spec = Param("size", "bytes", 1024)
    with pytest.raises(ValueError, match="a byte count, optionally with K, M or G"):
        spec.parse("12 parsecs")
    assert spec.format(64 * 2**20) == "64M"

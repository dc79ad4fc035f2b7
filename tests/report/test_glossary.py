"""The report's glossary (benchsuite.report.glossary): meanings and the energy flags come from
`benchsuite.flags`, the one declaration `benchsuite explain` shows."""

from __future__ import annotations

from benchsuite import flags
from benchsuite.report import glossary


def test_energy_flags_are_those_flags_declares_as_doubting_energy_only():
    # the seven names the glossary once listed by hand: headline's samples/J pick avoids these
    assert set(glossary.ENERGY) == {"short-window", "few-samples", "counter-integration-mismatch", "counter-reset",
                                    "counter-stalled", "sampler-errors", "l2-flush-in-window"}
    assert len(glossary.ENERGY) == 7


def test_meanings_are_the_flags_declarations():
    for name, declared in flags.FLAGS.items():
        assert glossary.explain(name) == declared.meaning
    assert glossary.known() == set(flags.FLAGS)
    assert glossary.explain("from-the-future") == "not described (a flag from a newer benchsuite?)"

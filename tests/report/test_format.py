import math

import pytest

from benchsuite.report import format


@pytest.mark.parametrize("value,text", [
    (None, "—"), (math.nan, "—"), (0, "0"), (12345.6, "12,346"), (3.14159, "3.14"), (0.012345, "0.0123"),
    (-250.0, "-250"),
])
def test_num(value, text):
    assert format.num(value) == text


@pytest.mark.parametrize("value,how,text", [
    (0.0123, "ms", "12.30"), (45.678, "pct", "45.7%"), (512, "bytes", "512 B"), (3 * 2**30, "bytes", "3.0 GiB"),
    (2**50, "bytes", "1024.0 TiB"), (None, "text", ""), ("cpu", "text", "cpu"), (None, "ms", "—"), (7, "num", "7.00"),
])
def test_fmt_value_by_kind(value, how, text):
    assert format.fmt_value(value, how) == text


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown format kind 'hex'; allowed: text, num, ms, pct, bytes"):
        format.fmt_value(1, "hex")


def test_ratios_and_changes():
    assert format.times(1.8449) == "1.8×" and format.change_pct(4.21) == "+4.2%"
    assert format.times(0.0432) == "0.043×" and format.times(150.3) == "150×"  # two significant figures, never 0.00×
    assert format.times(math.nan) == format.change_pct(None) == "—"


@pytest.mark.parametrize("value,digits,text", [
    (86807, 3, "86,800"), (0.0004384, 3, "0.000438"), (2.5, 3, "2.50"), (999.7, 3, "1,000"), (-250, 3, "-250"),
    (86806.97, None, "86,806.97"), (0.0432, None, "0.0432"), (None, 3, "—"),
])
def test_sig(value, digits, text):
    assert format.sig(value, digits) == text


@pytest.mark.parametrize("value,unit,text", [
    (86807, "image/s", "86.8 k image/s"), (1314506, "sample/s", "1.31 M sample/s"), (999960, "image/s", "1.00 M image/s"),
    (0.000438, "J", "438 µJ"), (0.000438, "J/sample", "438 µJ/sample"), (0.0042, "s", "4.20 ms"), (15.04, "J", "15.0 J"),
    (2.53, "%", "2.53%"), (0.0432, "×", "0.043×"), (150.3, "×", "150×"), (1.5 * 2**30, "B", "1.50 GiB"),
    (1340.2, "GB/s", "1,340 GB/s"), (606.1, "TFLOP/s", "606 TFLOP/s"), (0.5, "image/s", "0.500 image/s"),
    (None, "s", "—"),
])
def test_quantity_three_significant_figures_with_an_si_prefix(value, unit, text):
    assert format.quantity(value, unit) == text


def test_precise_shows_every_digit_and_figures_name_what_a_case_counts():
    assert format.quantity(86806.97, "image/s", None) == "86.80697 k image/s"
    assert format.figure(86807, "samples_per_s", "image") == "86.8 k img/s"
    assert format.figure(0.000438, "j_per_sample", "image") == "438 µJ/img"
    assert format.figure(0.5, "pct_of_peak") == "0.500%" and format.change_pct(-0.01) == "0.0%"

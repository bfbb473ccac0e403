"""pipelines/checks.py: the one validation module. One seed range and one image tolerance for the whole project,
messages that name the parameter, its range and the value, and the one-line helpers every CLI uses."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from pipelines import checks


@pytest.mark.parametrize("value", [0, 7, np.int64(7), torch.tensor(7), checks.MAX_SEED])
def test_integers_in_range_pass_as_python_ints(value):
    result = checks.check_seed(value)
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize(
    "value, shown",
    [(-1, "-1"), (2**32, "4294967296"), (True, "True"), (1.0, "1.0"), ("3", "'3'"), (None, "None"), (math.nan, "nan")],
)
def test_a_bad_seed_is_refused_with_the_one_range(value, shown):
    with pytest.raises(ValueError, match=rf"^seed must be an integer in \[0, 4294967295\], got {shown}$"):
        checks.check_seed(value)


def test_integral_floats_are_integers_only_where_asked():
    assert checks.check_int("num_images", 3.0, 1, 16, integral_floats=True) == 3
    with pytest.raises(ValueError, match=r"num_images must be an integer in \[1, 16\], got 2.5"):
        checks.check_int("num_images", 2.5, 1, 16, integral_floats=True)
    with pytest.raises(ValueError, match=r"num_images must be an integer in \[1, 16\], got inf"):
        checks.check_int("num_images", math.inf, 1, 16, integral_floats=True)


def test_batch_size_has_no_upper_bound():
    assert checks.check_batch_size(100_000) == 100_000
    with pytest.raises(ValueError, match=r"^batch_size must be an integer >= 1, got 0$"):
        checks.check_batch_size(0)


def test_float_and_choice_messages_name_the_range():
    assert checks.check_float("eta", 1, 0.0, 1.0) == 1.0
    with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\] \(why\), got nan"):
        checks.check_float("eta", math.nan, 0.0, 1.0, " (why)")
    with pytest.raises(ValueError, match="spacing must be one of leading, trailing; got 'x'"):
        checks.check_choice("spacing", "x", ("leading", "trailing"))


def test_long_values_are_cut_so_the_message_stays_one_short_line():
    with pytest.raises(ValueError) as raised:
        checks.check_seed("x" * 10_000)
    assert len(str(raised.value)) < 150 and "10,002 characters" in str(raised.value)
    assert checks.short_repr(10**5000) == "an integer of 16610 bits"


def test_images_share_one_tolerance_for_model_space():
    ok = torch.full((1, 1, 2, 2), 1 + checks.MODEL_SPACE_TOLERANCE / 2)
    assert checks.check_images(ok, model_space=True) is ok
    with pytest.raises(ValueError, match=r"x must hold values in \[-1, 1\] \(model space\)"):
        checks.check_images(ok * 1.01, "x", model_space=True)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 4, 4\)"):
        checks.check_images(ok, "x", image_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="x must hold finite values"):
        checks.check_images(torch.full((1, 1, 2, 2), math.nan), "x")
    assert checks.check_images(np.zeros((2, 1, 2, 2), dtype=np.uint8)).dtype == torch.float32


def test_first_line_of_an_error():
    assert checks.first_line(ValueError("\n  the reason  \nmore")) == "the reason"
    assert checks.first_line(KeyError()) == "KeyError"
    try:
        try:
            raise OSError("safetensors: header too large")
        except OSError as inner:
            raise OSError("Unable to load weights\nfrom checkpoint") from inner
    except OSError as outer:
        assert checks.first_line(outer, innermost=True) == "safetensors: header too large"


def test_the_one_line_parser_in_a_real_process():
    code = (
        "from pipelines.checks import OneLineParser; p = OneLineParser(prog='tool'); "
        "p.add_argument('--n', type=int); p.parse_args(['--n', 'x'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "tool: error: argument --n: invalid int value: 'x' (see --help)\n"

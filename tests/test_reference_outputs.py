"""Restructured code reproduces the recorded outputs of the code before it, bit for bit.

The files in ``tests/reference/data`` were written by ``tests/reference/record.py``
with the code as it stood before the redesign of the proxy/backend seam
(commit 76f4749): a 50 ms W1 run per backend (NEST sequential, pipelined and
in spiking coupling mode, Brian2, NEURON, ANNarchy) and one per proxy kind.
Every TVB value (through a SHA-256 of all monitors, and the spiking regions'
states themselves) and every spike must be equal, not close.

Those runs pass ``pipeline=False``, the default when they were recorded.  Today's
default, ``pipeline=None``, runs at the pipelined interval whichever loop the free
cores allow, so it must reproduce the pipelined reference with one core and with two.
"""

import numpy as np
import pytest

from reference.record import NAMES, load, run_isolated


def assert_reproduces(got, expected):
    assert sorted(got) == sorted(expected)
    assert any(key.endswith("/times") and expected[key].size > 0 for key in expected)
    for key in sorted(expected):
        if key == "tvb_sha256":
            continue
        assert np.array_equal(got[key], expected[key]), key
    assert str(got["tvb_sha256"]) == str(expected["tvb_sha256"])


@pytest.mark.parametrize("name", NAMES)
def test_reproduces_reference(name):
    assert_reproduces(run_isolated(name), load(name))


@pytest.mark.parametrize("cores, pipelined", [("1", False), ("2", True)])
def test_the_default_loop_reproduces_the_pipelined_reference_on_any_cores(cores, pipelined):
    got = run_isolated("w1_nest_default", cores)
    assert bool(got.pop("pipelined")) is pipelined
    assert_reproduces(got, load("w1_nest_pipeline"))

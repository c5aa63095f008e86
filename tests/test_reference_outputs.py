"""Restructured code reproduces the recorded outputs of the code before it, bit for bit.

The files in ``tests/reference/data`` were written by ``tests/reference/record.py``
with the code as it stood before the redesign of the proxy/backend seam
(commit 76f4749): a 50 ms W1 run per backend (NEST sequential, pipelined and
in spiking coupling mode, Brian2, NEURON, ANNarchy) and one per proxy kind.
Every TVB value (through a SHA-256 of all monitors, and the spiking regions'
states themselves) and every spike must be equal, not close.
"""

import numpy as np
import pytest

from reference.record import NAMES, load, run_isolated


@pytest.mark.parametrize("name", NAMES)
def test_reproduces_reference(name):
    expected = load(name)
    got = run_isolated(name)
    assert sorted(got) == sorted(expected)
    assert any(key.endswith("/times") and expected[key].size > 0 for key in expected)
    for key in sorted(expected):
        if key == "tvb_sha256":
            continue
        assert np.array_equal(got[key], expected[key]), key
    assert str(got["tvb_sha256"]) == str(expected["tvb_sha256"])

"""Scenario 1: single neurons under a DC step, on every simulator against NEST.

Each cell type has every parameter set explicitly; a 600 ms DC step makes
it fire 13 spikes (at least 10 over at least 500 ms is the criterion).

Acceptance, and where each tolerance comes from:

* **Spike times agree within 0.2 ms** (the time step, 0.01 ms, is finer).
  NEST integrates these models exactly (``iaf_psc_*``) or with an adaptive
  RKF45 solver (``iaf_cond_*``, ``aeif_cond_exp``); NEURON uses first-order
  fixed steps.  The scenario runs at 0.01 ms, where the first-order error
  in the spike times stays under 0.15 ms over 13 spikes.
* **Brian2's spike-time grid.**  Brian2 stamps a spike with the start of the
  step in which V crosses threshold, one step before NEST and NEURON, and
  counts its refractory period from that stamp, so each interval is one
  step shorter: spike k (from 0) is stamped (k + 1) dt early.  That shift
  is taken out before the 0.2 ms comparison, and
  ``test_brian2_spike_grid_convention`` checks the claim itself: on a
  current-based cell, which Brian2 integrates exactly, the shift is exactly
  (k + 1) dt.
* **ANNarchy** (through the adapter) integrates the IF models with
  exponential Euler, exact for a DC input: its spike times equal NEST's.
  Its EIF model uses explicit Euler: 0.18 ms after 13 spikes, the error of
  that scheme itself (a numpy explicit-Euler integration of the same
  equations gives the same times), within the 0.2 ms limit.  The adapter
  keeps the adaptation current integrating during the refractory period,
  as NEST does (ANNarchy's own model freezes it: 1.24 ms).
* **V before the first spike agrees within twice the first-order bound.**
  A first-order fixed-step scheme integrating V' = (V_inf - V) / tau_m from
  rest has a global error of at most dt |V_inf - V_rest| / (2 e tau_m)
  (the maximum of (t / tau) exp(-t / tau) is 1/e); the factor 2 covers the
  second-order terms.  The trace is compared up to 1 ms before NEST's
  first spike.
"""

import numpy as np
import pytest

import scenarios as S

SPIKE_TOLERANCE = 0.2  # ms


def grid_shift(simulator, n, dt=S.SINGLE_DT):
    """The known offset of spike k on ``simulator`` relative to NEST (ms)."""
    if simulator == "brian2":
        return -dt * np.arange(1, n + 1)
    return np.zeros(n)


def first_order_v_bound(celltype, dt=S.SINGLE_DT):
    p = S.CELLS[celltype]
    amplitude = S.DC_AMPLITUDE.get(celltype, 0.22)
    resistance = p["tau_m"] / p["cm"]  # MOhm
    return dt * amplitude * resistance / (2 * np.e * p["tau_m"])


@pytest.mark.slow
@pytest.mark.parametrize("celltype", list(S.CELLS))
def test_reference_fires_enough(celltype):
    spikes = S.single_cell(S.REFERENCE, celltype)["spikes"]
    assert spikes.size >= 10
    assert spikes.min() >= S.DC_START and spikes.max() <= S.DC_STOP
    assert S.DC_STOP - S.DC_START >= 500.0


@pytest.mark.slow
@pytest.mark.parametrize("celltype", list(S.CELLS))
@pytest.mark.parametrize("simulator", S.OTHERS)
def test_spike_times_agree(simulator, celltype):
    ref = S.single_cell(S.REFERENCE, celltype)["spikes"]
    got = S.single_cell(simulator, celltype)["spikes"]
    assert got.size == ref.size, (got, ref)
    error = np.abs(got - grid_shift(simulator, got.size) - ref)
    assert error.max() <= SPIKE_TOLERANCE, (error.max(), got, ref)


@pytest.mark.slow
@pytest.mark.parametrize("celltype", list(S.CELLS))
@pytest.mark.parametrize("simulator", S.OTHERS)
def test_v_agrees_before_the_first_spike(simulator, celltype):
    ref = S.single_cell(S.REFERENCE, celltype)
    got = S.single_cell(simulator, celltype)
    assert np.allclose(got["t"], ref["t"])
    before = ref["t"] < ref["spikes"][0] - 1.0
    error = np.abs(got["v"][before] - ref["v"][before]).max()
    assert error <= 2 * first_order_v_bound(celltype), (error, first_order_v_bound(celltype))
    # the comparison is not vacuous: V moved by millivolts in that stretch
    assert np.ptp(ref["v"][before]) > 5.0


@pytest.mark.slow
@pytest.mark.parametrize("celltype", ["IF_curr_alpha"])
def test_brian2_spike_grid_convention(celltype):
    """On a cell Brian2 integrates exactly, its spikes are NEST's shifted by (k + 1) dt.

    NEST's ``iaf_psc_alpha`` is exact on the grid too, so nothing but the
    stamping convention separates the two.
    """
    ref = S.single_cell(S.REFERENCE, celltype)["spikes"]
    got = S.single_cell("brian2", celltype)["spikes"]
    assert got.size == ref.size
    assert np.allclose(ref - got, S.SINGLE_DT * np.arange(1, ref.size + 1), atol=1e-6)

"""``CurrentFromCoupling`` on the ANNarchy backend, against NEST and against the timing rule.

Region 0 is spiking: spike sources with known times; region 1 reads its rate
through the connectome (weight 1, delay D) and the proxy injects ``weight``
times that coupling into three integrator cells (no leak to speak of, no
threshold) whose own ``i_offset`` differs per neuron.  V's slope is then the
cell's whole current, step by step: ``I = C dV/dt``.

One network per simulator, each in a fresh process (ANNarchy compiles one).
"""

import numpy as np
import pytest

from isolation import isolated

DT, D, N_SRC, T = 0.1, 2.0, 10, 30.0
WEIGHT = 0.002                    # nA per Hz
OFFSETS = [0.0, 0.05, -0.03]      # nA: each cell's own i_offset (its "excitability")


def _run(simulator):
    from pyNN.parameters import Sequence

    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from pynn_multiscale.region import SpikingRegion
    from tvb_helpers import held_rate_simulator

    rng = np.random.default_rng(3)
    times = [np.unique(np.round(rng.uniform(0.3, T, size=60), 1)) for _ in range(N_SRC)]

    def build(sim, idx, label, rng):
        trains = times if idx == 0 else [[]] * N_SRC
        src = sim.Population(N_SRC, sim.SpikeSourceArray(
            spike_times=[Sequence(t) for t in trains]), label=f"{label}_src")
        cell = sim.Population(len(OFFSETS), sim.IF_curr_exp(
            cm=1.0, tau_m=1e9, v_rest=0.0, v_reset=0.0, v_thresh=1e9, tau_refrac=0.1,
            tau_syn_E=1.0, tau_syn_I=1.0, i_offset=OFFSETS), label=f"{label}_cell")
        cell.initialize(v=0.0)
        cell.record("v")
        return SpikingRegion({"src": src, "cell": cell})

    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, D], [D, 0]], [0.0, 0.0])
    proxy = pm.proxies.CurrentFromCoupling("R", "cell", weight=WEIGHT)
    with pm.CoSimulation(tvb, simulator_module(simulator), spiking_regions=[0, 1],
                         build_region=build, max_rate=np.inf, to_spiking=[proxy],
                         to_tvb=[pm.proxies.SpikeRate("src", "R")], min_delay=DT) as cosim:
        sent = []  # (t0, dt, amplitudes) of every call, both regions
        original = cosim.backend.set_currents
        cosim.backend.set_currents = lambda h, t0, dt, a: (
            sent.append((float(t0), float(dt), np.array(a, dtype=float))), original(h, t0, dt, a))[1]
        result = cosim.run(T)
        i_offset = np.asarray(cosim.regions[1].populations["cell"].get("i_offset", simplify=False),
                              dtype=float)
    (v,) = [s for s in result.spiking[1].segments[0].analogsignals
            if s.name == "v" and s.annotations["population"] == "cell"]
    # region 1's calls; the amplitudes sent are already weight * coupling (nA)
    return np.asarray(v, dtype=float), sent[1::2], i_offset


run = isolated(_run)


def expected_injected(sent, n_steps):
    """The injected current on each integration step (t_m, t_{m+1}], by NEST's timing.

    Value k of a window starting at t0 acts on the steps after
    ``t0 + (k + 1) dt + delay`` (the delay is one spiking step here).
    """
    current = np.zeros(n_steps)
    for t0, dt, amplitudes in sent:
        first = int(round((t0 + dt + DT) / DT))
        for k, a in enumerate(amplitudes):
            current[first + k:] = a  # later values overwrite the tail
    return current


@pytest.mark.parametrize("simulator", ["nest", "annarchy"])
def test_current_proxy_adds_to_each_neurons_own_offset_with_nests_timing(simulator):
    """Each cell's current is its own i_offset plus weight * coupling, step by step.

    The rule is NEST's (``step_current_generator`` through PyNN), checked on
    NEST here too.  (The coupling itself is not compared across simulators:
    ANNarchy's, like Brian2's, SpikeSourceArray reports a spike at t in the
    step ending at t + dt, NEST's in the one ending at t, so the counts TVB
    receives differ by one step; see test_brian2_backend.py's run_current.)

    The current of step m is C (V_{m+1} - V_m) / dt, up to the leak V / R
    (tau_m 1e9 ms, C 1 nF: under 1e-6 nA while |V| < 1000 mV) and round-off:
    within 1e-6 of the largest current, as in the NEST and Brian2 tests.  The
    amplitudes come from the proxy's own calls of ``set_currents``; the
    cells' own i_offset reads back unchanged after the run.
    """
    v, sent, i_offset = run(simulator)
    current = 1.0 * np.diff(v, axis=0) / DT                  # nA; row m covers (t_m, t_{m+1}]
    injected = expected_injected(sent, current.shape[0])
    expected = np.asarray(OFFSETS)[None, :] + injected[:, None]
    scale = np.abs(expected).max()
    assert np.abs(v).max() < 1000.0
    assert np.abs(current - expected).max() < 1e-6 * scale, np.abs(current - expected).max()
    assert np.count_nonzero(np.diff(injected)) > 20 and injected.max() > 1.0  # a varying signal
    np.testing.assert_allclose(i_offset, OFFSETS, rtol=0, atol=1e-12)


def example_rates(simulator, out):
    """Per-neuron rates (Hz) of both spiking regions from a run of examples/montbrio_qif.py."""
    import os
    import subprocess
    import sys

    import neo

    example = os.path.join(os.path.dirname(__file__), "..", "examples", "montbrio_qif.py")
    done = subprocess.run([sys.executable, example, "--simulator", simulator, "--duration", "100",
                           "--neurons", "200", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any(x.startswith(f"mean rates ({simulator}, 100 ms)") for x in done.stdout.splitlines())
    rates = {}
    for region in (31, 65):
        io = neo.NixIO(str(out / f"spiking_region_{region}.nix"), mode="ro")
        (train,) = io.read_block().segments[0].spiketrains
        io.close()
        index = np.asarray(train.array_annotations["source_index"], dtype=int)
        rates[region] = 1000.0 * np.bincount(index, minlength=200) / 100.0
    return rates


@pytest.mark.slow
def test_montbrio_qif_example_on_annarchy_gives_nests_rates(tmp_path):
    """The MPR pair (its QIF cells' own i_offset plus TVB's coupling as a current) on ANNarchy.

    The cross-simulator criterion (tests/crosssim/features.py): per region, the
    mean of the per-neuron rates within 3 standard errors of the difference
    from NEST's.  Both runs build the same networks (PyNN's rng, the same seed).
    """
    got = {s: example_rates(s, tmp_path / s) for s in ("nest", "annarchy")}
    for region in (31, 65):
        a, n = got["annarchy"][region], got["nest"][region]
        se = np.hypot(a.std(ddof=1), n.std(ddof=1)) / np.sqrt(a.size)
        assert n.mean() > 1.0 and se > 0
        assert abs(a.mean() - n.mean()) <= 3 * se, (region, a.mean(), n.mean(), se)

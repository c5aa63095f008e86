"""The Brian2 backend (``pynn_multiscale.backends.brian2``) against exactly known inputs.

Brian2 has no parrot neuron; input is counted with a *counting cell*: an
``IF_cond_exp`` whose excitatory conductance decays with tau = 1e9 ms and
which never fires, so ``ge / synapse_weight`` is the number of input spikes
it received (to 1e-6).  Time conventions are those of the backend's
docstring: a spike of Brian2 step j is reported at (j + 1) h, the end of
its step, as on NEST; PyNN's Brian2 ``SpikeSourceArray`` therefore reports a
spike given at t at t + h.
"""

import json

import numpy as np
import pytest
import pyNN.brian2 as sim

import pynn_multiscale as pm
from pynn_multiscale.backends.brian2 import TARGET_ENV, Brian2Backend, apply_codegen_target
from pynn_multiscale.models import red_wong_wang as rww
from tvb_helpers import held_rate_simulator, known_source_region

DT = 0.1  # TVB's and Brian2's step (ms)
apply_codegen_target()  # numpy in the suite (tests/conftest.py), for code built outside a backend


@pytest.fixture(params=["numpy", "cython"])
def codegen_target(request, monkeypatch):
    """Run a test on both of Brian2's targets (the suite's numpy and the default Cython).

    The backend's rings are written in place and read by the generated code:
    the two targets reach that buffer in different ways.
    """
    import brian2

    previous = brian2.prefs.codegen.target
    monkeypatch.setenv(TARGET_ENV, request.param)
    yield request.param
    brian2.prefs.codegen.target = previous


def backend():
    return Brian2Backend(sim)


def counting_cell(sim):
    return sim.IF_cond_exp(cm=1.0, tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=1e9,
                           tau_refrac=0.1, tau_syn_E=1e9, tau_syn_I=1e9, e_rev_E=0.0,
                           e_rev_I=-70.0, i_offset=0.0)


def received_counts(pop, synapse_weight):
    """Input spikes per neuron of a counting-cell population (ge in uS / weight in uS)."""
    return np.asarray(pop.brian2_group.ge_[:]) * 1e6 / synapse_weight


# --------------------------------------------------------------- TVB -> spiking
N_COUNT, WEIGHT, SYN_W = 40, 800.0, 0.001


def rate_proxy_counts(rate, duration, seed=1):
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 10], [10, 0]], [rate, 0.0])

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": sim.Population(N_COUNT, counting_cell(sim), label=label)})

    with pm.CoSimulation(tvb, backend(), max_rate=np.inf, spiking_regions=[1],
                         build_region=build,
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=WEIGHT,
                                                              synapse_weight=SYN_W)],
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")], seed=seed) as cosim:
        cosim.run(duration)
        return received_counts(cosim.regions[1].populations["E"], SYN_W)


@pytest.mark.parametrize("rate", [2.0, 5.0, 10.0])
def test_rate_proxy_delivers_rate_times_weight(rate):
    """Input count = N * weight * r * (T - h), within 3 SD of a Poisson count, and Poisson.

    The rate of TVB step (0, 0.1] acts from generator stamp 0.1 and reaches
    the cell 0.1 ms (the delay) later: Brian2 steps 1 .. T/h - 1 receive it.
    weight * r is 1.6-8 kHz per neuron (0.16-0.8 spikes per step), where a
    one-spike-per-step source would be visibly sub-Poisson: the Fano factor
    of the per-neuron counts would be 1 - r*w*dt (0.84-0.2); here it must be
    1 within 3 SE (SE = sqrt(2 / (N - 1)) = 0.23 for 40 neurons).
    """
    duration = 200.0
    counts = rate_proxy_counts(rate, duration)
    expected = N_COUNT * WEIGHT * rate * (duration - DT) / 1000.0
    sd = np.sqrt(expected)
    total = counts.sum()
    assert abs(total - expected) < 3 * sd, (total, expected, sd)
    assert 0.1 * expected > 3 * sd + abs(total - expected)  # a 10% error would fail
    fano = counts.var(ddof=1) / counts.mean()
    assert abs(fano - 1.0) < 3 * np.sqrt(2.0 / (N_COUNT - 1)), fano


def test_rate_step_latency_and_a_whole_run_schedule(codegen_target):
    """A 1000 ms schedule set at once (longer than the backend's ring) with a rate step.

    Rate value k covers (k h, (k+1) h]; its generator stamps start at
    (k+1) h and reach the target one delay (h) later, at the end of Brian2
    step k + 1: with a step at value k0 = 5000 (500 ms) the conductance is
    still 0 at 500.1 ms and has jumped at 500.2 ms (50 spikes per step per
    neuron expected: P(no jump) = exp(-50 N)).  After the step the count
    over the rest of the run matches the rate within 3 SD, and a 10% change
    of the rate would not.  This also fails if the TimedArray buffer stops
    being read in place by Brian2's generated code (the rates set after the
    first ring's worth would never reach the neurons).
    """
    be = backend()
    be.setup(timestep=DT, min_delay=DT, seed=5)
    try:
        pop = sim.Population(20, counting_cell(sim))
        handle = be.add_rate_source(pop, SYN_W, DT, "excitatory")
        be.start()
        rates = np.zeros(10000)
        rates[5000:] = 500000.0  # Hz: 50 spikes per step
        be.set_rates(handle, 0.0, DT, rates)
        be.advance(500.1)
        assert np.all(received_counts(pop, SYN_W) < 1e-6)
        be.advance(500.2)
        first = received_counts(pop, SYN_W)
        assert np.all(first > 10)
        be.run_windows(np.arange(502.5, 1000.0 + 1e-9, 2.5), lambda k: None)
        total = received_counts(pop, SYN_W).sum()
        expected = 20 * 50.0 * (1000.0 - 500.1) / DT
        sd = np.sqrt(expected)
        assert abs(total - expected) < 3 * sd, (total, expected)
        assert 0.1 * expected > 3 * sd + abs(total - expected)
    finally:
        be.finish()


def test_set_trains_delivers_every_spike_exactly():
    """Each neuron receives exactly its train's spikes (counted by the counting cell)."""
    be = backend()
    be.setup(timestep=DT, min_delay=DT, seed=1)
    try:
        pop = sim.Population(6, counting_cell(sim))
        handle = be.add_train_sources(pop, SYN_W, DT, "excitatory")
        be.start()
        rng = np.random.default_rng(0)
        trains = [np.sort(rng.uniform(0.0, 2.5, size=i * 3)) for i in range(6)]
        be.set_trains(handle, trains, 0.0, DT)
        be.advance(2.5 + 2 * DT)
        assert np.allclose(received_counts(pop, SYN_W), [len(t) for t in trains], atol=1e-6)
    finally:
        be.finish()


# --------------------------------------------------------------- spiking -> TVB
def source_array_region(trains):
    def build(sim, idx, label, rng):
        cells = sim.SpikeSourceArray(spike_times=[sim.Sequence(t) for t in trains])
        return pm.SpikingRegion({"E": sim.Population(len(trains), cells, label=label)})
    return build


@pytest.mark.parametrize("first", [30.0, 12.3])
def test_spike_rate_is_exact_per_tvb_step_across_run_calls(first):
    """Known spike trains give 1000 * count / (dt * N) Hz at every TVB step.

    ``run(first)`` then ``run(30 - first)``: 12.3 ms ends on a partial
    window (the interval is 5 ms) and the second run() continues from it.
    A SpikeSourceArray spike given at t is reported at t + h (see the module
    docstring), so it is counted in the TVB step that ends at t + h.
    """
    n, duration = 7, 30.0
    rng = np.random.default_rng(0)
    trains = [np.unique(np.round(rng.uniform(0.1, duration - DT, size=40), 1)) for _ in range(n)]
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [0.0, 0.0])
    with pm.CoSimulation(tvb, backend(), max_rate=np.inf, spiking_regions=[1],
                         build_region=source_array_region(trains),
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")], min_delay=DT) as cosim:
        cosim.run(first)
        if first < duration:
            cosim.run(round(duration - first, 10))
        result = cosim.result()
    received = result.tvb["Raw"].sel(Raw_variable="Rin", region="r1").values[:, 0]
    steps = int(round(duration / DT))
    counts = np.bincount(np.round(np.concatenate(trains) / DT).astype(int), minlength=steps)
    assert received.shape == (steps,)
    assert np.array_equal(received, 1000.0 * counts[:steps] / (DT * n))
    got = {st.annotations["source_index"]: np.asarray(st.rescale("ms"))
           for st in result.spiketrains(1, "E")}
    assert sorted(got) == list(range(n))
    for i, t in enumerate(trains):
        assert got[i].shape == t.shape and np.allclose(got[i], t + DT, rtol=0, atol=1e-9)


def test_spike_monitor_flush_loses_no_spike(monkeypatch):
    """With a tiny flush threshold the monitors are emptied many times: counts stay exact."""
    monkeypatch.setattr(Brian2Backend, "flush_events", 30)
    n, duration = 5, 20.0
    rng = np.random.default_rng(1)
    trains = [np.unique(np.round(rng.uniform(0.1, duration - DT, size=60), 1)) for _ in range(n)]
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 2], [2, 0]], [0.0, 0.0])
    with pm.CoSimulation(tvb, backend(), max_rate=np.inf, spiking_regions=[1],
                         build_region=source_array_region(trains),
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")], min_delay=DT) as cosim:
        result = cosim.run(duration)
    total = sum(len(st) for st in result.spiketrains(1, "E"))
    assert total == sum(len(t) for t in trains)


# ------------------------------------------------- currents, offsets, states
D, N_SRC, T_CUR = 2.0, 10, 30.0


TAU_INT = 1000.0  # ms


def integrator_cell(sim):
    """A leaky integrator without threshold: dV/dt = -V / tau + I / C, integrated exactly.

    (tau = 1e9 ms, as in the NEST test, makes Brian2's exact update lose
    1e-6 of relative precision to cancellation in tau * (1 - exp(-h / tau)).)
    """
    return sim.IF_curr_exp(cm=1.0, tau_m=TAU_INT, v_rest=0.0, v_reset=0.0, v_thresh=1e9,
                           tau_refrac=0.1, tau_syn_E=1.0, tau_syn_I=1.0, i_offset=0.0)


def run_current(proxy, record_v=False):
    """Region 0: known spike trains (rate R_0 known exactly); region 1 reads it with delay D."""
    rng = np.random.default_rng(3)
    times = [np.unique(np.round(rng.uniform(0.3, T_CUR - DT, size=60), 1)) for _ in range(N_SRC)]
    steps = int(round(T_CUR / DT))
    # reported at t + h: counted in the step ending at t + h (index round(t / dt))
    counts = np.bincount(np.round(np.concatenate(times) / DT).astype(int), minlength=steps)
    r0 = 1000.0 * counts[:steps] / (DT * N_SRC)
    lag = int(round(D / DT)) + 1
    c = np.concatenate([np.zeros(lag), r0[:-lag]])  # TVB's coupling into region 1
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, D], [D, 0]], [0.0, 0.0])

    build = known_source_region(times, integrator_cell, record_v)

    with pm.CoSimulation(tvb, backend(), spiking_regions=[0, 1], build_region=build,
                         max_rate=np.inf, to_spiking=[proxy],
                         to_tvb=[pm.proxies.SpikeRate("src", "R")], min_delay=DT) as cosim:
        offsets = []
        original = cosim.backend.set_offset
        cosim.backend.set_offset = lambda h, v: (offsets.append(v), original(h, v))[1]
        result = cosim.run(T_CUR)
        window = cosim.n_sync
        final_offset = cosim.regions[1].populations["cell"].get("i_offset")
    return result, c, offsets, window, final_offset


def test_injected_current_is_the_tvb_value_times_weight_step_by_step(codegen_target):
    """I(t) = weight * c(t) sample by sample, from V's exact update over each step.

    Brian2 integrates this linear cell exactly: V_{m} = a V_{m-1} + I tau (1 - a) / C
    with a = exp(-h / tau), so I = C (V_m - a V_{m-1}) / (tau (1 - a)).

    As on NEST: the amplitude of TVB step n (covering (t_{n-1}, t_n])
    drives the cell from t_n plus the delay (0.1 ms): V's increment over
    (t_{m-1}, t_m] carries step m - 2's value.
    """
    weight = 0.002  # nA per Hz
    result, c, _, _, _ = run_current(pm.proxies.CurrentFromCoupling("R", "cell", weight=weight),
                                     record_v=True)
    (v,) = [s for s in result.spiking[1].segments[0].analogsignals
            if s.name == "v" and s.annotations["population"] == "cell"]
    v = np.asarray(v)[:, 0]  # mV, sampled at 0, 0.1, ...
    a = np.exp(-DT / TAU_INT)
    # nA = nF * mV / ms; entry m-1 covers (t_{m-1}, t_m]
    current = 1.0 * (v[1:] - a * v[:-1]) / (TAU_INT * -np.expm1(-DT / TAU_INT))
    expected = weight * c
    m = np.arange(3, current.size + 1)
    assert np.abs(current[m - 1] - expected[m - 3]).max() < 1e-6 * max(1.0, expected.max())
    assert expected.max() > 0 and np.count_nonzero(np.diff(expected)) > 20  # a varying signal


def test_offset_current_is_set_to_the_exact_value():
    """i_offset = weight * the window's mean coupling, window by window, read back from PyNN."""
    weight = 0.003
    _, c, offsets, window, final = run_current(
        pm.proxies.OffsetFromCoupling("R", "cell", weight=weight))
    bounds = list(range(0, c.size, window)) + [c.size]
    expected = [weight * c[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])]
    assert np.allclose(offsets[1::2], expected, rtol=0, atol=1e-12)
    assert final == pytest.approx(expected[-1], rel=1e-12, abs=1e-15)  # nA, through PyNN
    assert max(expected) > 0


def test_mean_state_equals_the_population_mean_of_the_recorded_signal():
    """MeanState holds, over each window, the population mean at the window's end.

    The reference is PyNN's own recording of v (sampled every step, in the
    result's analog signals) and, for the conductance, 0 (no input).  V
    relaxes towards -64 mV; Brian2 integrates this cell with forward Euler
    (its equations are not linear), so V_n = v_inf + (v0 - v_inf)(1 - h/tau)^n.
    """
    n = 8
    v0s = np.linspace(-70.0, -66.0, n)

    def build(sim, idx, label, rng):
        pop = sim.Population(n, sim.IF_cond_alpha(**dict(rww.CELL_PARAMS, i_offset=0.1)),
                             label=label)
        pop.initialize(v=v0s)
        pop.record("v")
        return pm.SpikingRegion({"E": pop})

    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [0.0, 0.0])
    with pm.CoSimulation(tvb, backend(), spiking_regions=[1], build_region=build,
                         to_tvb=[pm.proxies.MeanState("E", "Rin", "v"),
                                 pm.proxies.MeanState("E", "R", "gsyn_exc")]) as cosim:
        window = cosim.n_sync
        result = cosim.run(40.0)
    got = result.tvb["Raw"].sel(Raw_variable="Rin", region="r1").values[:, 0]
    g = result.tvb["Raw"].sel(Raw_variable="R", region="r1").values[:, 0]
    (v,) = result.spiking[1].segments[0].analogsignals
    v = np.asarray(v)
    assert v.shape == (401, n)
    v_inf = -70.0 + 0.1 / (0.25 / 15.0)
    steps = np.arange(401)
    euler = v_inf + (v0s[None, :] - v_inf) * (1 - DT / 15.0) ** steps[:, None]
    assert np.abs(v - euler).max() < 1e-9
    for end in range(window, got.size + 1, window):
        assert np.allclose(got[end - window:end], v[end].mean(), rtol=0, atol=1e-12)
    assert np.all(g == 0.0)


# ------------------------------------------------------------------ seeding
def spikes_of_seeded_run(seed):
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 5], [5, 0]], [10.0, 0.0])

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": sim.Population(30, sim.IF_cond_exp(**rww.CELL_PARAMS),
                                                     label=label)})

    proxy = pm.proxies.RateToPoisson("R", "E", weight=400.0, synapse_weight=0.02,
                                     shared_fraction=0.2)
    with pm.CoSimulation(tvb, backend(), max_rate=np.inf, spiking_regions=[1],
                         build_region=build, to_spiking=[proxy],
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")], seed=seed) as cosim:
        trains = cosim.run(100.0).spiketrains(1, "E")
    return [np.asarray(st.magnitude) for st in trains]


def test_same_seed_same_spikes_different_seed_different_spikes():
    a, b, c = spikes_of_seeded_run(11), spikes_of_seeded_run(11), spikes_of_seeded_run(12)
    assert sum(t.size for t in a) > 100  # the neurons fire
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


# ------------------------------------------------------------ kernel guard
def test_second_open_backend_is_refused_until_the_first_finishes():
    first = backend()
    first.setup(timestep=DT, min_delay=DT, seed=1)
    second = backend()
    with pytest.raises(pm.KernelInUseError, match="Fix"):
        second.setup(timestep=DT, min_delay=DT, seed=1)
    first.finish()
    second.setup(timestep=DT, min_delay=DT, seed=1)
    second.finish()
    assert first.version() == __import__("brian2").__version__


def test_exception_in_between_stops_the_run_and_propagates():
    be = backend()
    be.setup(timestep=DT, min_delay=DT, seed=1)
    try:
        sim.Population(2, counting_cell(sim))
        be.start()
        seen = []

        def between(k):
            seen.append(k)
            if k == 2:
                raise KeyError("stop here")

        with pytest.raises(KeyError, match="stop here"):
            be.run_windows([1.0, 2.0, 3.0, 4.0, 5.0], between)
        assert seen == [0, 1, 2]
        assert sim.get_current_time() < 4.0
    finally:
        be.finish()


class _Cycle:
    """Garbage only a collection frees (it refers to itself)."""

    def __init__(self):
        self.me = self


def test_the_run_freezes_the_processs_objects_and_gives_them_back():
    """Network.run's full gc.collect() skips the objects that exist before it (0.15 s at W1).

    During the run they are frozen; after it, nothing is, and garbage made
    before the run is collected as usual.  A caller's own freeze is left as it
    is (nothing is frozen or unfrozen).
    """
    import gc
    import weakref

    be = backend()
    be.setup(timestep=DT, min_delay=DT, seed=1)
    try:
        sim.Population(2, counting_cell(sim))
        be.start()
        garbage = _Cycle()
        dead = weakref.ref(garbage)
        del garbage
        during = []
        be.run_windows([1.0, 2.0, 3.0], lambda k: during.append(gc.get_freeze_count()))
        # the last window's between() comes after Network.run has returned
        assert len(during) == 3 and during[0] > 1000 and during[1] > 1000 and during[2] == 0
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert dead() is None

        gc.freeze()  # the caller's
        try:
            mine = gc.get_freeze_count()
            during.clear()
            be.run_windows([4.0, 5.0], lambda k: during.append(gc.get_freeze_count()))
            # neither frozen more nor given back (frozen objects can still be freed)
            assert all(0.9 * mine < n <= mine for n in during + [gc.get_freeze_count()])
        finally:
            gc.unfreeze()
    finally:
        be.finish()


# --------------------------------------------------------- upstream defects
def poisson_source_count(rate_before, rate_after, duration=1000.0, n=20):
    """Spikes of n plain-PyNN SpikeSourcePoisson cells after ``set(rate=rate_after)``."""
    sim.setup(timestep=DT)
    import brian2

    brian2.seed(3)
    src = sim.Population(n, sim.SpikeSourcePoisson(rate=rate_before))
    src.record("spikes")
    src.set(rate=rate_after)
    sim.run(duration)
    count = sum(len(st) for st in src.get_data().segments[0].spiketrains)
    sim.end()
    return count


def test_codegen_target_comes_from_the_environment(monkeypatch):
    import brian2

    previous = brian2.prefs.codegen.target
    try:
        monkeypatch.setenv(TARGET_ENV, "numpy")
        assert apply_codegen_target() == "numpy" == brian2.prefs.codegen.target
        monkeypatch.setenv(TARGET_ENV, "cuda")
        with pytest.raises(pm.errors.ConfigurationError, match=f"{TARGET_ENV}='cuda'.*numpy, cython"):
            apply_codegen_target()
    finally:
        brian2.prefs.codegen.target = previous


def test_upstream_spike_source_poisson_set_rate_is_ignored():
    """Upstream defect (PyNN 0.13 on Brian2): ``SpikeSourcePoisson.set(rate=...)`` does nothing.

    The sources keep firing at the rate they were created with.  This test
    asserts that the defect EXISTS: it fails once PyNN fixes it, which is the
    signal to re-check the workaround note in backends/brian2.py (the backend
    does not rely on SpikeSourcePoisson either way).
    """
    count = poisson_source_count(10.0, 50.0)
    old, new = 20 * 10.0, 20 * 50.0  # expected counts at the old and the new rate
    assert abs(count - old) < 3 * np.sqrt(old), count
    assert abs(count - new) > 3 * np.sqrt(new) + 3 * np.sqrt(old)  # the two are distinguishable


def _build_and_read_synapses(monkeypatch, batched):
    """The use case's region (small) on plain PyNN; its synapses and the connect calls made."""
    import brian2
    from pyNN.random import NumpyRNG

    from pynn_multiscale.backends.brian2 import batch_projections

    calls = []
    original = brian2.Synapses.connect
    monkeypatch.setattr(brian2.Synapses, "connect",
                        lambda self, *a, **k: (calls.append(1), original(self, *a, **k))[1])
    sim.setup(timestep=0.1, min_delay=1.5)
    batch_projections(enabled=batched)
    try:
        region = rww.build_spiking_region(sim, 0, "r", NumpyRNG(seed=3), n_e=40, n_i=10)
        synapses = {p.label: [np.asarray(getattr(p._brian2_synapses[0][0], name)[:])
                              for name in ("i", "j", "weight", "delay")]
                    for p in region.projections}
    finally:
        batch_projections(enabled=True)
        sim.end()
    return synapses, len(calls), len(region.projections)


def test_upstream_connects_one_neuron_at_a_time(monkeypatch):
    """Upstream defect: PyNN calls ``Synapses.connect`` once per postsynaptic neuron.

    Each call generates a Brian2 code object (150 s for the use case's
    1000-neuron region).  This test fails once PyNN batches; then
    ``batch_projections`` can go.
    """
    synapses, calls, n_projections = _build_and_read_synapses(monkeypatch, batched=False)
    # one call per (projection, postsynaptic neuron with at least one connection)
    assert calls == sum(np.unique(j).size for _, j, _, _ in synapses.values())
    assert calls > 10 * n_projections


def test_batched_projections_make_the_same_synapses_in_one_call_each(monkeypatch):
    upstream, _, _ = _build_and_read_synapses(monkeypatch, batched=False)
    batched, calls, n_projections = _build_and_read_synapses(monkeypatch, batched=True)
    assert calls == n_projections
    assert upstream.keys() == batched.keys()
    for label in upstream:
        for a, b in zip(upstream[label], batched[label]):
            assert np.array_equal(a, b), label


def _hh_max_abs_v(dt):
    """max |v| (mV) of PyNN's Brian2 HH_cond_exp under 0.5 nA for 50 ms at step ``dt``."""
    import pyNN.brian2 as sim

    from pynn_multiscale.backends.brian2 import apply_codegen_target

    sim.setup(timestep=dt)
    apply_codegen_target()
    cell = sim.Population(1, sim.HH_cond_exp(i_offset=0.5))
    cell.record("v")
    sim.run(50.0)
    v = cell.get_data("v").segments[0].analogsignals[0].magnitude[:, 0]
    sim.end()
    return float(np.nanmax(np.abs(v))), bool(np.isnan(v).any())


def test_upstream_hh_cond_exp_diverges_at_0_1_ms():
    """Upstream defect (docs/backends.md): explicit Euler makes HH diverge at dt 0.1 ms.

    Fails once PyNN's Brian2 backend integrates HH stably at 0.1 ms; the control
    at 0.01 ms shows the cell itself is fine (spikes peak near +40 mV).
    """
    from isolation import isolated

    coarse, coarse_nan = isolated(_hh_max_abs_v)(0.1)
    fine, fine_nan = isolated(_hh_max_abs_v)(0.01)
    assert coarse_nan or coarse > 1e6
    assert not fine_nan and 40.0 < fine < 100.0


def _hh_spikes(dt):
    """Spike times (ms) PyNN's Brian2 HH_cond_exp reports under 0.5 nA for 50 ms at ``dt``."""
    import pyNN.brian2 as sim

    from pynn_multiscale.backends.brian2 import apply_codegen_target

    sim.setup(timestep=dt)
    apply_codegen_target()
    cell = sim.Population(1, sim.HH_cond_exp(i_offset=0.5))
    cell.record(["spikes", "v"])
    sim.run(50.0)
    block = cell.get_data()
    times = np.asarray(block.segments[0].spiketrains[0].magnitude)
    v = block.segments[0].analogsignals[0].magnitude[:, 0]
    sim.end()
    upward = int(np.sum((v[1:] > -40.0) & (v[:-1] <= -40.0)))  # action potentials
    return times.tolist(), upward


def test_upstream_hh_cond_exp_reports_a_spike_in_every_step_above_threshold():
    """Upstream defect (docs/backends.md): PyNN's Brian2 HH_cond_exp has the threshold
    ``v > -40 mV`` and no refractoriness, so each action potential is reported as a spike
    in every step V stays above -40 mV.  The Brian2 backend refuses HH_cond_exp for it.
    Fails once PyNN reports one spike per action potential.
    """
    from isolation import isolated

    times, upward = isolated(_hh_spikes)(0.01)
    assert upward >= 2
    assert len(times) > 10 * upward  # dozens of "spikes" per action potential
    assert np.min(np.diff(times)) <= 0.01 + 1e-9  # in consecutive steps


def test_the_backend_refuses_hh_cond_exp_naming_the_defect():
    from isolation import isolated

    message = isolated(_refused_hh)()
    assert "without refractoriness" in message and "Fix:" in message


def _refused_hh():
    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from pynn_multiscale.models import red_wong_wang as rww

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": sim.Population(4, sim.HH_cond_exp())})

    try:
        pm.CoSimulation(rww.tvb_simulator(), simulator_module("brian2"), spiking_regions=[31],
                        build_region=build, to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")])
    except pm.CapabilityError as exc:
        return str(exc)
    return None


# ------------------------------------------------ exact integration kept on disk
LINEAR = """dv/dt = (i_e - v) / tau : 1
di_e/dt = -i_e / tau_s : 1
tau : second (constant)
tau_s : second (constant)"""


@pytest.fixture
def exact_cache(monkeypatch, tmp_path):
    """:func:`cache_exact_integration` on an empty cache; Brian2's own updater afterwards."""
    from brian2.stateupdaters.base import StateUpdateMethod

    from pynn_multiscale.backends import brian2 as backend

    monkeypatch.setenv("PYNN_MULTISCALE_CACHE", str(tmp_path))
    saved = dict(StateUpdateMethod.stateupdaters), dict(backend._EXACT)
    backend.cache_exact_integration(False)
    backend.cache_exact_integration()
    yield tmp_path / "brian2" / "exact"
    StateUpdateMethod.stateupdaters.clear()
    StateUpdateMethod.stateupdaters.update(saved[0])
    backend._EXACT.clear()
    backend._EXACT.update(saved[1])


def _linear_trace(updates, dt=0.1):
    """v of a linear two-variable group (Brian2's ``exact``), counting derivations in ``updates``."""
    import brian2 as b2
    from brian2.stateupdaters.base import StateUpdateMethod

    from pynn_multiscale.backends import brian2 as backend

    derive = backend._EXACT["exact"]  # Brian2's own
    StateUpdateMethod.apply_stateupdater._cache.clear()  # Brian2's in-memory caches: as in a
    type(derive).__call__._cache.clear()                 # new process
    StateUpdateMethod.stateupdaters["exact"].updater = \
        lambda *args: (updates.append(1), derive(*args))[1]
    net = b2.Network()
    group = b2.NeuronGroup(2, LINEAR, method="exact", dt=dt * b2.ms)
    group.tau, group.tau_s, group.i_e = 10 * b2.ms, 3 * b2.ms, [1.0, 2.0]
    monitor = b2.StateMonitor(group, "v", record=True)
    net.add(group, monitor)
    net.run(5 * b2.ms)
    return np.asarray(monitor.v)


def test_exact_integration_is_derived_once_and_read_back(exact_cache):
    first, second = [], []
    derived = _linear_trace(first)
    entries = list(exact_cache.glob("*.json"))
    assert len(first) == 1 and len(entries) == 1
    assert "i_e" in json.loads(entries[0].read_text())["code"]
    assert np.array_equal(_linear_trace(second), derived)  # the same code, read back
    assert second == []  # ... without deriving it again
    assert np.ptp(derived) > 0.1


def test_an_entry_for_other_equations_is_not_used(exact_cache):
    _linear_trace([])
    entry, = exact_cache.glob("*.json")
    stored = json.loads(entry.read_text())
    entry.write_text(json.dumps(dict(stored, key=stored["key"] + " other", code="v = 0")))
    again = []
    trace = _linear_trace(again)
    assert again == [1] and np.ptp(trace) > 0.1  # derived again, not the stored "v = 0"


# ------------------------------------------------ PyNN's current sources, checked in floats
def _injected_v(quick, calls):
    """V of three cells under a DC, a step and an AC source (PyNN's own or the quick check)."""
    from pyNN.brian2.standardmodels.electrodes import Brian2CurrentSource

    from pynn_multiscale.backends.brian2 import quick_current_sources

    quick_current_sources(False)
    own = Brian2CurrentSource._update_current
    Brian2CurrentSource._update_current = lambda self: (calls.append(1), own(self))[1]
    try:
        quick_current_sources(quick)
        sim.setup(timestep=0.1)
        cells = sim.Population(3, sim.IF_curr_exp(v_thresh=1e6, tau_m=10.0))
        sim.DCSource(amplitude=0.5, start=5.0, stop=15.0).inject_into(cells[0:1])
        sim.StepCurrentSource(times=[3.0, 8.05, 12.0], amplitudes=[0.2, -0.3, 0.1]).inject_into(cells[1:2])
        sim.ACSource(start=2.0, stop=18.0, amplitude=0.3, offset=0.1, frequency=100.0,
                     phase=0.0).inject_into(cells[2:3])
        cells.record("v")
        sim.run(20.0)
        return np.asarray(cells.get_data().segments[0].analogsignals[0].magnitude)
    finally:
        sim.end()
        quick_current_sources(False)
        Brian2CurrentSource._update_current = own
        quick_current_sources()


def test_quick_current_sources_inject_what_pynns_own_inject():
    own_calls, quick_calls = [], []
    own, quick = _injected_v(False, own_calls), _injected_v(True, quick_calls)
    assert np.array_equal(own, quick)
    assert np.ptp(own, axis=0).min() > 1.0  # every cell felt its current
    # PyNN's own method ran at every step for every source, the quick check's only at the
    # DC and step sources' change times and for the streamed AC source
    assert len(own_calls) >= 3 * 200
    assert len(quick_calls) < 2 * 200


def test_another_time_step_is_another_entry(exact_cache):
    """The updater's checks depend on dt (a TimedArray must be constant over it): it is keyed."""
    _linear_trace([])
    again = []
    _linear_trace(again, dt=0.05)
    assert again == [1] and len(list(exact_cache.glob("*.json"))) == 2

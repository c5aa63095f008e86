"""The ANNarchy backend's rate proxy gives Poisson input, also at kHz rates per neuron.

ANNarchy's Poisson sources fire at most one spike per step (a spike when a
uniform number is below ``r dt``), so one source per neuron has the right
mean but a per-step variance ``p (1 - p)`` instead of ``p``: at 3000 Hz and
dt 0.1 ms (the AdEx pair's input at its upper level), 30% too little input
variance, which silenced that pair's fluctuation-driven E cells by a third.
Here 100 cells that never fire get a rate proxy's input at 3000 Hz through
the backend, and the mean and variance of their excitatory conductance must
be those of shot noise of Poisson spikes: mean ``r w tau``, variance
``r w**2 tau / 2`` (NEST, Brian2 and NEURON gave 0.99-1.00 of the variance,
the fixed backend 0.99).  The control, one source per neuron
(``poisson_sources_per_neuron = 1``, the old input), must fail the variance
criterion (it gave 0.695), and warn that it does, naming the fix.
"""

import numpy as np
import warnings

import pytest

from isolation import isolated

RATE, W, TAU, DT, T, N = 3000.0, 0.0015, 5.0, 0.1, 300.0, 100


def _conductance(sources_per_neuron):
    """Excitatory conductance (nS) of N non-firing cells after 30 ms, ANNarchy backend.

    Also returns the warnings the backend gave.
    """
    from pynn_multiscale.backends import get_backend, simulator_module
    from pynn_multiscale.backends.annarchy.cosim import AnnarchyBackend

    AnnarchyBackend.poisson_sources_per_neuron = sources_per_neuron
    sim = simulator_module("annarchy")
    backend = get_backend(sim)
    backend.setup(DT, DT, 7)
    try:
        pop = sim.Population(N, sim.IF_cond_exp(v_thresh=1e6, tau_syn_E=TAU), label="cells")
        pop.record("gsyn_exc")
        handle = backend.add_rate_source(pop, W, DT, "excitatory")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backend.set_rates(handle, 0.0, DT, np.full(int(T / DT), RATE))
        backend.start()
        backend.advance(T)
        signal = pop.get_data().segments[0].filter(name="gsyn_exc")[0]
        g = 1e3 * np.asarray(signal.magnitude)
        t = np.asarray(signal.times.rescale("ms").magnitude)[:g.shape[0]]
        return g[t > 30.0], [str(w.message) for w in caught if w.category is RuntimeWarning]
    finally:
        backend.finish()


conductance = isolated(_conductance)
MEAN = RATE * 1e-3 * W * 1e3 * TAU             # nS
VARIANCE = RATE * 1e-3 * (W * 1e3) ** 2 * TAU / 2  # nS**2


def test_annarchy_rate_proxy_input_has_poisson_mean_and_variance_at_khz_rates():
    g, warned = conductance(10)
    assert warned == []
    assert g.mean() == pytest.approx(MEAN, rel=0.03)
    assert g.var() == pytest.approx(VARIANCE, rel=0.1)


def test_annarchy_control_one_bernoulli_source_per_neuron_is_told_apart():
    g, warned = conductance(1)
    assert g.mean() == pytest.approx(MEAN, rel=0.03)  # the mean was right
    assert g.var() < 0.8 * VARIANCE                   # p (1 - p) = 0.7 p at p = 0.3
    message, = warned  # ... and the backend said so, with the fix
    assert "'cells'" in message and "3000 Hz" in message and "70%" in message
    assert "poisson_sources_per_neuron = 6 (or more)" in message


def _source_spike_steps(shared_fraction):
    """Steps at which each Poisson source population fires, over two windows of 30 steps.

    Rates that make a spike certain (p = r dt = 10) at TVB steps 10 and
    20-24 and 29 of the first window and at step 5 of the second; zero
    elsewhere.  Returns ``{source population size: {step: spikes}}``, from
    ANNarchy's own monitors on the sources.
    """
    from pynn_multiscale.backends import get_backend, simulator_module
    from pynn_multiscale.backends.annarchy._simulator import state

    sim = simulator_module("annarchy")
    backend = get_backend(sim)
    backend.setup(DT, DT, 3)
    try:
        pop = sim.Population(N, sim.IF_cond_exp(v_thresh=1e6), label="cells")
        handle = backend.add_rate_source(pop, W, DT, "excitatory",
                                         shared_fraction=shared_fraction)
        net = state.network()
        sources = [p for p in net.get_populations() if p.neuron_type.name == "Hybrid"]
        monitors = [net.monitor(p, ["spike"]) for p in sources]
        certain = 10.0 / (DT * 1e-3)
        # sure to fire in the smaller of the two parts (independent, shared)
        scale = 1.0 / min(1.0 - shared_fraction, shared_fraction) if shared_fraction else 1.0
        first, second = np.zeros(30), np.zeros(30)
        first[[10, 20, 21, 22, 23, 24, 29]] = certain * scale
        second[5] = certain * scale
        backend.set_rates(handle, 0.0, DT, first)  # before the network is compiled
        backend.start()
        backend.advance(30 * DT)
        backend.set_rates(handle, 30 * DT, DT, second)
        backend.advance(60 * DT)
        out = {}
        for p, m in zip(sources, monitors):
            data = m.get("spike")
            steps = [s for train in data.values() for s in train]
            out[p.size] = {s: steps.count(s) for s in sorted(set(steps))}
        return out
    finally:
        backend.finish()


source_spike_steps = isolated(_source_spike_steps)


@pytest.mark.parametrize("shared_fraction", [0.0, 0.5])
def test_annarchy_rate_of_tvb_step_k_drives_the_sources_step_k_plus_1(shared_fraction):
    """As NEST's inhomogeneous_poisson_generator: TVB step k of a window from t0 drives
    the sources' step starting at t0 + (k + 1) dt; a window's last value drives the next
    window's first step.  A step early or late, or a value lost between windows, fails."""
    expected = [11, 21, 22, 23, 24, 25, 30, 36]
    by_size = source_spike_steps(shared_fraction)
    assert sorted(by_size) == ([1, N] if shared_fraction else [N])
    for size, counts in by_size.items():
        assert sorted(counts) == expected, (size, counts)
        assert set(counts.values()) == {size}  # every source, every one of those steps


def _refused_windows():
    """The errors of rates sent for a window after the next one, and for one already run."""
    from pynn_multiscale.backends import get_backend, simulator_module
    from pynn_multiscale.errors import ConfigurationError

    sim = simulator_module("annarchy")
    backend = get_backend(sim)
    backend.setup(DT, DT, 3)
    errors = []
    try:
        pop = sim.Population(N, sim.IF_cond_exp(v_thresh=1e6), label="cells")
        handle = backend.add_rate_source(pop, W, DT, "excitatory")
        backend.set_rates(handle, 0.0, DT, np.full(30, 100.0))
        backend.start()
        backend.advance(30 * DT)
        for t0 in (60 * DT, 0.0):  # a window ahead of the next, the window just run
            try:
                backend.set_rates(handle, t0, DT, np.full(30, 100.0))
            except ConfigurationError as exc:
                errors.append(str(exc))
        backend.set_rates(handle, 30 * DT, DT, np.full(30, 100.0))  # the next one: taken
        backend.advance(60 * DT)
        return errors
    finally:
        backend.finish()


refused_windows = isolated(_refused_windows)


def test_annarchy_rates_for_any_window_but_the_next_are_refused():
    """The drive holds one window's schedule: rates for a later window would replace the
    next one's, and rates for a window already run would act in the past, both silently."""
    errors = refused_windows()
    assert len(errors) == 2, errors
    for error, t0 in zip(errors, ("6.0", "0.0")):
        assert error.startswith(f"set_rates t0={t0}"), error
        assert "the start of the next window (3 ms)" in error, error
        assert "just before running it" in error, error

"""A co-simulation nobody holds any more does not block a new one; one still held does.

NEST's kernel (and Brian2's, NEURON's and the ANNarchy adapter's state) is
global, so a process holds at most one open co-simulation per simulator
(docs/reliability.md, "One process, one kernel").
"""

import gc
import warnings

import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from pynn_multiscale.backends.base import GlobalStateGuard
from tvb_helpers import held_rate_simulator


def build(sim, idx, label, rng):
    return pm.SpikingRegion({"E": sim.Population(20, sim.IF_cond_alpha(), label=label)})


def stale(record):
    """The StaleCoSimulationWarning among the warnings recorded (there may be others)."""
    (found,) = [w for w in record if issubclass(w.category, pm.StaleCoSimulationWarning)]
    return found


def small(seed=1, **kwargs):
    """Two HeldRate regions, region 1 a 20-cell NEST population driven at 2000 Hz."""
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 2.0], [2.0, 0]], [2000.0, 0.0])
    return pm.CoSimulation(tvb, sim, spiking_regions=[1], build_region=build, seed=seed,
                           to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=1.0,
                                                                synapse_weight=0.002)],
                           to_tvb=[pm.proxies.SpikeRate("E", "Rin")], **kwargs)


def network_size():
    import nest

    return nest.network_size


@pytest.fixture(autouse=True)
def nothing_left_open():
    """Each test starts and ends without an open co-simulation on NEST."""
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pm.StaleCoSimulationWarning)
        sim_guard().make_room()
    yield
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pm.StaleCoSimulationWarning)
        sim_guard().make_room()


def sim_guard():
    from pynn_multiscale.backends.nest import NestBackend

    return NestBackend.guard


def test_a_dropped_cosimulation_is_closed_with_a_warning_and_the_new_one_runs():
    first = small()
    first.run(5.0)
    alone = network_size()
    backend = first.backend
    del first
    with pytest.warns(pm.StaleCoSimulationWarning) as record:
        second = small(seed=2)
    text = str(stale(record).message)
    for part in ("earlier CoSimulation on NEST", "no longer referenced", "closed",
                 "with CoSimulation(...)", "close()"):
        assert part in text, (part, text)
    assert stale(record).filename == __file__  # it points at the line that made the new one
    assert backend._finished
    assert network_size() == alone  # the kernel holds the new network only
    with second:
        assert second.run(10.0).metadata["duration_ms"] == 10.0


def test_a_dropped_cosimulation_in_a_reference_cycle_is_found_too():
    first = small()
    first.me = first  # only the cycle collector frees it
    del first
    with pytest.warns(pm.StaleCoSimulationWarning, match="no longer referenced"):
        with small(seed=2) as second:
            second.run(5.0)


def test_two_held_cosimulations_are_refused_and_the_first_runs_on():
    with small() as first:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pm.StaleCoSimulationWarning)  # none: nothing closed
            with pytest.raises(pm.KernelInUseError) as excinfo:
                small(seed=2)
        text = str(excinfo.value)
        for part in ("NEST's kernel", "still open", "close it first", "replace=True",
                     "notebook cell", "Fix:"):
            assert part in text, (part, text)
        first.run(5.0)
        assert not first.backend._finished


def test_replace_closes_a_held_cosimulation_which_then_refuses_to_run():
    first = small()
    first.run(5.0)
    with pytest.warns(pm.StaleCoSimulationWarning, match="replace=True") as record:
        second = small(seed=2, replace=True)
    assert "refuses run()" in str(stale(record).message)
    with pytest.raises(pm.ConfigurationError, match="closed CoSimulation"):
        first.run(5.0)
    with second:
        second.run(5.0)


def test_rerunning_a_notebook_cell():
    """``cosim = CoSimulation(...)`` run twice: the name still holds the first object while
    the second is built, so the default refuses and ``replace=True`` lets the cell run again."""
    cosim = small()
    cosim.run(5.0)
    with pytest.raises(pm.KernelInUseError, match="replace=True"):
        cosim = small()
    cosim.run(5.0)  # the failed cell left the first one intact
    for _ in range(2):  # the cell with replace=True, run twice
        with pytest.warns(pm.StaleCoSimulationWarning):
            cosim = small(replace=True)
        assert cosim.run(5.0).metadata["duration_ms"] == 5.0
    cosim.close()


def test_replace_without_an_earlier_one_changes_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error", pm.StaleCoSimulationWarning)
        with small(replace=True) as cosim:
            cosim.run(5.0)


def test_replace_must_be_a_bool():
    with pytest.raises(pm.ConfigurationTypeError) as excinfo:
        small(replace="yes")
    assert "replace='yes'" in str(excinfo.value) and "Fix:" in str(excinfo.value)


# ------------------------------------------------ the guard itself, every backend
class FakeBackend:
    def __init__(self, guard):
        self.guard, self._finished = guard, False

    def setup(self):
        self.guard.check()
        self._finished = False
        self.guard.claim(self)

    def finish(self):
        self._finished = True
        self.guard.release(self)


class FakeCoSimulation:
    def __init__(self, guard, replace=False):
        self.backend = FakeBackend(guard)
        guard.make_room(replace=replace)
        self.backend.setup()
        guard.attach(self.backend, self)
        self.closed = False

    def close(self):
        self.closed = True
        self.backend.finish()


def test_guard_rules():
    guard = GlobalStateGuard("X's state", "X")
    first = FakeCoSimulation(guard)
    with pytest.raises(pm.KernelInUseError, match="replace=True"):
        FakeCoSimulation(guard)
    earlier_backend = first.backend
    del first
    with pytest.warns(pm.StaleCoSimulationWarning, match="on X was still open but no longer"):
        second = FakeCoSimulation(guard)
    assert earlier_backend._finished and guard.owner is second.backend
    with pytest.warns(pm.StaleCoSimulationWarning, match="replace=True"):
        third = FakeCoSimulation(guard, replace=True)
    assert second.closed and guard.owner is third.backend
    third.close()
    assert guard.owner is None
    # a backend set up outside any co-simulation counts as held: refused, or replaced
    lone = FakeBackend(guard)
    lone.setup()
    with pytest.raises(pm.KernelInUseError):
        FakeCoSimulation(guard)
    with pytest.warns(pm.StaleCoSimulationWarning):
        FakeCoSimulation(guard, replace=True).close()
    assert lone._finished


@pytest.mark.parametrize("module, cls", [
    ("pynn_multiscale.backends.nest", "NestBackend"),
    ("pynn_multiscale.backends.brian2", "Brian2Backend"),
    ("pynn_multiscale.backends.neuron", "NeuronBackend"),
    ("pynn_multiscale.backends.annarchy.cosim", "AnnarchyBackend")])
def test_every_backend_with_global_state_exposes_its_guard(module, cls):
    import importlib
    import inspect

    mod = importlib.import_module(module)
    backend = getattr(mod, cls)
    assert backend.guard is mod._GUARD
    for method in ("setup", "finish"):  # the guard is the one the backend checks and releases
        assert "_GUARD" in inspect.getsource(getattr(backend, method))
    assert isinstance(backend.guard, GlobalStateGuard)

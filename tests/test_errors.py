"""Bad input gets a clear error naming the parameter, the value and the fix."""

import numpy as np
import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend
from pynn_multiscale.models import red_wong_wang as rww
from tvb_helpers import held_rate_simulator


def small_region(sim, idx, label, rng):
    return pm.SpikingRegion({"E": sim.Population(10, sim.IF_cond_alpha(**rww.CELL_PARAMS),
                                                 label=f"{label}_E")})


def assert_message(excinfo, *parts):
    text = str(excinfo.value)
    for part in parts:
        assert part in text, (part, text)
    assert "Fix:" in text


def test_region_index_out_of_range():
    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31, 68],
                        build_region=small_region, to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")])
    assert_message(excinfo, "spiking_regions", "68", "0..67")


@pytest.mark.parametrize("regions, error", [([31, 31], pm.ConfigurationError),
                                            ([31.0], pm.ConfigurationTypeError)])
def test_region_index_duplicated_or_float(regions, error):
    with pytest.raises(error) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=regions,
                        build_region=small_region, to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")])
    assert_message(excinfo, "spiking_regions", str(regions[-1]))


def test_population_the_builder_did_not_create():
    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31], build_region=small_region,
                        to_tvb=[pm.proxies.SpikeRate("Exc", "Rin_e")])
    assert_message(excinfo, "to_tvb[0].population", "'Exc'", "['E']")
    # the kernel was released: a correct co-simulation can be built next
    with pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31], build_region=small_region,
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")]):
        pass


@pytest.mark.parametrize("kind", ["to_tvb", "to_spiking"])
def test_tvb_variable_the_model_does_not_have(kind):
    proxies = {"to_tvb": [pm.proxies.SpikeRate("E", "R_exc")],
               "to_spiking": [pm.proxies.RateToPoisson("S_i", "E", weight=1.0)]}
    kwargs = {"to_tvb": [pm.proxies.SpikeRate("E", "Rin_e")]}
    kwargs.update({kind: proxies[kind]})
    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31], build_region=small_region,
                        **kwargs)
    assert_message(excinfo, f"{kind}[0].tvb_variable", "R_exc" if kind == "to_tvb" else "S_i")


def test_sync_interval_longer_than_the_shortest_delay():
    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31, 65],
                        build_region=small_region, to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")],
                        sync_interval=2.7)
    assert_message(excinfo, "sync_interval=2.7", "2.68", "sync_interval=None", "2.6 ms")


@pytest.mark.parametrize("pipeline, interval", [(False, 2.6), (None, 1.3), (True, 1.3)])
def test_default_sync_interval_is_the_floored_shortest_coupled_delay(pipeline, interval):
    """Halved for the pipelined loop, and by default (pipeline=None) whichever loop runs."""
    with pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31, 65],
                         build_region=small_region, pipeline=pipeline,
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")]) as cosim:
        assert cosim.n_sync * cosim.dt == pytest.approx(interval)


def test_nan_arriving_from_tvb():
    """A NaN in the coupling TVB sends stops the run, naming region, variable and time."""
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 1.0], [1.0, 0]], [np.nan, 0.0])
    backend = ReplayBackend({"Rin": np.zeros((100, 1))})
    with pm.CoSimulation(tvb, backend, spiking_regions=[1],
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=1.0)],
                         to_tvb=[pm.proxies.Replay("Rin")]) as cosim:
        with pytest.raises(pm.NumericalError) as excinfo:
            cosim.run(5.0)
    text = str(excinfo.value)
    # caught where it appears: in the state of the TVB region that sends it
    for part in ("TVB state R of region 0 (r0)", "nan", "t = 0.1 ms", "Likely cause"):
        assert part in text, (part, text)


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf")])
def test_negative_or_nan_weight(weight):
    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.proxies.RateToPoisson("R_e", "E", weight=weight)
    assert_message(excinfo, "RateToPoisson.weight", str(weight))


def test_wrong_type_for_sim():
    with pytest.raises(pm.ConfigurationTypeError) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), "nest")
    assert_message(excinfo, "sim", "str", "import pyNN.nest as sim")


@pytest.mark.parametrize("duration", [0.0, -5.0, 10.05, float("nan")])
def test_bad_duration(duration):
    with pm.CoSimulation(rww.tvb_simulator(), ReplayBackend()) as cosim:
        with pytest.raises(pm.ConfigurationError) as excinfo:
            cosim.run(duration)
    assert_message(excinfo, "duration", str(duration))


def test_spiking_timestep_must_divide_tvb_dt():
    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), ReplayBackend(), spiking_timestep=0.03)
    assert_message(excinfo, "spiking_timestep", "0.03", "divisor")


def test_builder_returning_something_else():
    with pytest.raises(pm.ConfigurationTypeError) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31],
                        build_region=lambda sim, i, label, rng: {"E": None},
                        to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")])
    assert_message(excinfo, "build_region", "region 31", "dict", "SpikingRegion")


@pytest.mark.parametrize("kwargs, name", [({"G": -1.0}, "G"), ({"lamda": 1.5}, "lamda"),
                                          ({"nsig": float("nan")}, "nsig"), ({"dt": 0.0}, "dt")])
def test_use_case_simulator_checks_its_parameters(kwargs, name):
    with pytest.raises(pm.ConfigurationError) as excinfo:
        rww.tvb_simulator(**kwargs)
    assert_message(excinfo, f"{name}=")


def test_use_case_builder_checks_its_parameters():
    with pytest.raises(pm.ConfigurationError) as excinfo:
        rww.build_spiking_region(sim, 0, "x", None, params={"w_EE": 0.1})
    assert_message(excinfo, "params", "w_EE", "w_ee")


def test_network_delay_below_min_delay():
    """The builder's synapses are shorter than min_delay: name min_delay, not PyNN's mishap."""
    def region_with_short_synapses(sim, idx, label, rng):
        pop = sim.Population(10, sim.IF_cond_alpha(**rww.CELL_PARAMS), label=f"{label}_E")
        sim.Projection(pop, pop, sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=0.001, delay=1.0))
        return pm.SpikingRegion({"E": pop})

    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31],
                        build_region=region_with_short_synapses, min_delay=2.0,
                        to_spiking=[pm.proxies.RateToPoisson("R_e", "E", weight=1.0, delay=2.0)],
                        to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")])
    assert_message(excinfo, "min_delay", "2.0", "region 31", "min_delay=")


def test_proxy_kind_the_backend_lacks():
    """The error names the proxy, the missing capability and the backends that have it."""
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [0.0, 0.0])
    with pytest.raises(pm.CapabilityError) as excinfo:
        pm.CoSimulation(tvb, ReplayBackend(), spiking_regions=[1],
                        to_spiking=[pm.proxies.CurrentFromCoupling("R", "E")],
                        to_tvb=[pm.proxies.Replay("Rin")])
    text = str(excinfo.value)
    for part in ("CurrentFromCoupling", "'step_current'", "pyNN.brian2, pyNN.nest, pyNN.neuron",
                 "Fix:"):
        assert part in text, (part, text)


def _background_region(receptor_type, onto_assembly):
    """A region whose background projection may leave its receptor type to PyNN."""
    def build(sim, idx, label, rng):
        cell = sim.IF_cond_alpha(**rww.CELL_PARAMS)
        e = sim.Population(8, cell, label=f"{label}_E")
        i = sim.Population(2, cell, label=f"{label}_I")
        target = e + i if onto_assembly else e
        noise = sim.Population(target.size, sim.SpikeSourcePoisson(rate=100.0))
        extra = {} if receptor_type is None else {"receptor_type": receptor_type}
        sim.Projection(noise, target, sim.OneToOneConnector(),
                       sim.StaticSynapse(weight=0.001, delay=1.5), label="background", **extra)
        return pm.SpikingRegion({"E": e, "I": i})
    return build


def _build_with(simulator_name, receptor_type, onto_assembly):
    """Build one region on ``simulator_name``; the error message or None, and the warnings."""
    import warnings

    from pynn_multiscale.backends import simulator_module

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with pm.CoSimulation(rww.tvb_simulator(), simulator_module(simulator_name),
                                 spiking_regions=[31], to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")],
                                 build_region=_background_region(receptor_type, onto_assembly)):
                error = None
        except pm.ConfigurationError as exc:
            error = str(exc)
    return error, [str(w.message) for w in caught if "receptor_type" in str(w.message)]


@pytest.mark.parametrize("simulator", ["nest", "annarchy"])
def test_default_receptor_onto_an_assembly_is_refused(simulator):
    """PyNN picks an Assembly's default receptor from a set (PYTHONHASHSEED decides): refused."""
    from isolation import isolated

    error, _ = isolated(_build_with)(simulator, None, True)
    assert error is not None
    for part in ("'background'", "region 31", "PYTHONHASHSEED", "receptor_type='excitatory'",
                 "Fix:"):
        assert part in error, (part, error)
    assert isolated(_build_with)(simulator, "excitatory", True) == (None, [])


@pytest.mark.parametrize("simulator", ["nest", "annarchy"])
def test_default_receptor_onto_a_population_warns(simulator):
    """Onto a population PyNN's choice is deterministic, but silent: a warning names the fix."""
    from isolation import isolated

    error, warned = isolated(_build_with)(simulator, None, False)
    assert error is None and len(warned) == 1
    assert "'background'" in warned[0] and "'excitatory'" in warned[0] and "Fix:" in warned[0]


@pytest.mark.parametrize("simulator,package", [("brian2", "brian2"), ("annarchy", "ANNarchy")])
def test_a_simulator_that_is_not_installed_names_its_extra(simulator, package):
    """In a fresh process where the simulator's package cannot be imported (as on a Python
    for which it has no release), choosing it by name says which extra installs it (ANNarchy,
    which the adapter imports at ``setup``, says it there)."""
    import subprocess
    import sys

    code = (f"import sys; sys.modules[{package!r}] = None\n"
            "from pynn_multiscale.backends import simulator_module\n"
            "try:\n"
            f"    simulator_module({simulator!r}).setup(timestep=0.1)\n"
            "except pm_errors.MissingDependency as e:\n"
            "    print(type(e).__name__, isinstance(e, ImportError), e)\n")
    code = "import pynn_multiscale.errors as pm_errors\n" + code
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("MissingDependency True"), done.stdout
    for part in (f"simulator={simulator!r}", f"{package} is not installed",
                 f"Fix: pip install 'pynn-multiscale[{simulator}]'"):
        assert part in done.stdout, (part, done.stdout)


def test_a_simulator_that_fails_to_import_keeps_its_own_error():
    """Only a missing package is turned into MissingDependency: a simulator that is
    installed but fails on import (here: one of PyNN's own modules is broken) shows why."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['lazyarray'] = None\n"
            "from pynn_multiscale.backends import simulator_module\n"
            "simulator_module('nest')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr and "lazyarray" in done.stderr, done.stderr[-2000:]

"""Property test: any interface configuration either runs or raises the package's error.

Hypothesis draws configurations, valid and invalid.  An oracle written here,
independently of the package, says which parameters are invalid.  Then:

* with no invalid parameter, building and running must succeed;
* otherwise it must raise a :class:`pynn_multiscale.PynnMultiscaleError`
  whose message names one of the invalid parameters; any other exception
  fails the test.
"""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend
from tvb_helpers import held_rate_simulator

DT = 0.1
DELAYS = np.array([[0.0, 2.0, 3.0], [2.0, 0.0, 4.0], [3.0, 4.0, 0.0]])
WEIGHTS = np.ones((3, 3)) - np.eye(3)
N_MAX = 400  # steps of replayed values

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.sampled_from([0.1, 0.2, 0.5, 1.0, 2.0, 2.5, 3.0, 0.05, 0.15, -1.0]))
region_items = st.one_of(st.integers(-1, 4), st.sampled_from([1.0, True]))


def valid_number(x, positive=True):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and \
        (x > 0 if positive else x >= 0)


def multiple_of(x, step):
    """Whole multiples, to the package's documented tolerance of 1e-6 of a step
    (float32 values such as 0.10000000149 count as 0.1)."""
    return abs(round(x / step) * step - x) <= 1e-6 * step and round(x / step) >= 1


def mostly(valid, anything):
    """Valid values seven times out of eight, so that valid configurations are common."""
    return st.one_of(*[valid] * 7, anything)


@st.composite
def configs(draw):
    return dict(
        regions=draw(mostly(st.lists(st.integers(0, 2), unique=True, max_size=3),
                            st.lists(region_items, max_size=3))),
        to_spiking=draw(st.lists(st.tuples(mostly(st.just("R"), st.sampled_from(["Rin", "X"])),
                                           mostly(st.sampled_from([0.0, 1.0, 800.0]), numbers)),
                                 max_size=2)),
        to_tvb=draw(st.lists(mostly(st.sampled_from(["R", "Rin"]), st.just("Y")),
                             min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=2)),
        sync_interval=draw(mostly(st.sampled_from([None, 0.5, 1.0, 2.0]), numbers)),
        spiking_timestep=draw(mostly(st.sampled_from([None, 0.1, 0.05]),
                                     st.sampled_from([0.03, 0.0, -0.1, float("nan")]))),
        duration=draw(mostly(st.sampled_from([5.0, 7.3, 10.0, 2.6]), numbers)),
    )


def invalid_parameters(c):
    """The oracle: the names an error may cite for this configuration."""
    bad = set()
    regions = c["regions"]
    ints = [r for r in regions if isinstance(r, int) and not isinstance(r, bool)]
    regions_ok = len(ints) == len(regions) and all(0 <= r < 3 for r in ints) and \
        len(set(ints)) == len(ints)
    if not regions_ok:
        bad.add("spiking_regions")
    for i, (var, weight) in enumerate(c["to_spiking"]):
        if not valid_number(weight, positive=False):
            bad.add("RateToPoisson.weight")
        if var != "R":
            bad.add(f"to_spiking[{i}].tvb_variable")
    for i, var in enumerate(c["to_tvb"]):
        if var not in ("R", "Rin"):
            bad.add(f"to_tvb[{i}].tvb_variable")
    if regions and not c["to_tvb"]:
        bad.add("to_tvb")
    ts = c["spiking_timestep"]
    if ts is not None and not (valid_number(ts) and multiple_of(DT, ts)):
        bad.add("spiking_timestep")
    si = c["sync_interval"]
    if si is not None:
        coupled = None
        if regions_ok and regions:
            mask = np.zeros((3, 3), bool)
            mask[regions, :] = mask[:, regions] = True
            np.fill_diagonal(mask, False)
            coupled = DELAYS[mask].min()
        if not (valid_number(si) and multiple_of(si, DT)) or (coupled is not None and si > coupled):
            bad.add("sync_interval")
    d = c["duration"]
    if not (valid_number(d) and multiple_of(d, DT)):
        bad.add("duration")
    return bad


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_configuration_runs_or_raises_a_named_package_error(c):
    bad = invalid_parameters(c)
    values = {"R": np.ones((N_MAX, 3)), "Rin": np.ones((N_MAX, 3))}
    try:
        to_spiking = [pm.proxies.RateToPoisson(var, "E", weight=w) for var, w in c["to_spiking"]]
        to_tvb = [pm.proxies.Replay(var) for var in c["to_tvb"]]
        tvb = held_rate_simulator(WEIGHTS, DELAYS, [1.0, 2.0, 3.0])
        with pm.CoSimulation(tvb, ReplayBackend(values), spiking_regions=c["regions"],
                             to_spiking=to_spiking, to_tvb=to_tvb,
                             sync_interval=c["sync_interval"],
                             spiking_timestep=c["spiking_timestep"]) as cosim:
            if valid_number(c["duration"]) and c["duration"] > N_MAX * DT:
                return  # longer than the replayed values; not a configuration question
            cosim.run(c["duration"])
    except pm.PynnMultiscaleError as exc:
        assert bad, f"valid configuration {c} raised {exc!r}"
        assert any(name in str(exc) for name in bad), (bad, str(exc))
        assert isinstance(exc, (ValueError, TypeError, NotImplementedError))
        return
    assert not bad, f"invalid {sorted(bad)} in {c} ran without an error"

"""The seams: a plan with no simulator, proxies that bind themselves, capabilities derived."""

import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

import pynn_multiscale as pm
from pynn_multiscale.backends import capabilities_of
from pynn_multiscale.backends.replay import ReplayBackend
from pynn_multiscale.proxies.binding import (ToSpikingBinding, ToSpikingProxy, ToTVBBinding,
                                             ToTVBProxy)
from tvb_helpers import held_rate_simulator

PLAN_W1 = """
import json, sys
import pynn_multiscale as pm
from pynn_multiscale.models import red_wong_wang as rww
from pynn_multiscale.plan import derive_seeds, make_plan
from pynn_multiscale.tvb import TVBEngine

out = {}
for pipeline in (False, True):
    engine = TVBEngine(rww.tvb_simulator(), [31, 65])
    plan = make_plan(engine, rww.default_to_spiking(), rww.default_to_tvb(), derive_seeds(42, 2),
                     pipeline=pipeline)
    out[str(pipeline)] = [plan.sync_interval, plan.min_delay, plan.max_delay, plan.seeds["regions"]]
out["simulators"] = sorted(m for m in ("nest", "brian2", "neuron", "ANNarchy", "pyNN.nest")
                           if m in sys.modules)
print(json.dumps(out))
"""


def test_the_plan_of_w1_is_derived_without_any_simulator():
    """W1's interval (2.6 ms; 1.3 pipelined), min_delay and seeds, in a process with no simulator."""
    proc = subprocess.run([sys.executable, "-c", PLAN_W1], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["simulators"] == []
    interval, min_delay, max_delay, seeds = out["False"]
    assert interval == pytest.approx(2.6) and min_delay == pytest.approx(1.3)
    assert max_delay == 10.0 and seeds == pm.derive_seeds(42, 2)["regions"]
    assert out["True"][0] == pytest.approx(1.3) and out["True"][1] == pytest.approx(1.3)


@dataclass(frozen=True)
class DoubledReplay(ToTVBProxy):
    """A to_tvb kind written outside the package: twice what the replay backend gives."""

    tvb_variable: str
    population: str = "replay"
    capability = "replay"
    needs_population = False

    def bind(self, ctx):
        def value(slot, window, spikes, t0, n_steps):
            return 2.0 * ctx.backend.replay(self.tvb_variable, slot,
                                            window.first_step - ctx.engine.step0, n_steps)
        return ToTVBBinding(self, ctx, value)


@dataclass(frozen=True)
class SquareRootRate(ToSpikingProxy):
    """A to_spiking kind written outside the package: the square root of the coupling, as rates."""

    tvb_variable: str
    population: str
    weight: float = 1.0
    delay: float = 1.0
    transform: object = None
    capability = "poisson_rate"

    def bind(self, ctx):
        handles = [ctx.backend.add_rate_source(None, 0.0, self.delay, "excitatory")
                   for _ in ctx.spiking_regions]

        def send(handle, values, t0, slot):
            ctx.backend.set_rates(handle, t0, ctx.dt, np.sqrt(values))
        return ToSpikingBinding(self, ctx, handles, send_one=send, require_nonneg=True)


def test_new_interface_kinds_plug_in_without_touching_the_loop():
    """Region 0 holds R = 9, so region 1's coupling is 9; the replay sends Rin = 5 for region 1."""
    n_steps = 60
    backend = ReplayBackend({"Rin": np.full((n_steps, 1), 5.0)})
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [9.0, 7.0])
    with pm.CoSimulation(tvb, backend, spiking_regions=[1], to_spiking=[SquareRootRate("R", "E")],
                         to_tvb=[DoubledReplay("Rin")]) as cosim:
        result = cosim.run(n_steps * cosim.dt)
    assert np.array_equal(backend.rates_received(0, 0.1), np.full(n_steps, 3.0))
    rin = result.tvb["Raw"].sel(Raw_variable="Rin", region="r1").values[:, 0]
    assert np.array_equal(rin, np.full(n_steps, 10.0))
    assert result.metadata["to_tvb"][0]["kind"] == "DoubledReplay"


def test_what_is_not_a_proxy_is_refused_naming_the_kinds():
    with pytest.raises(pm.ConfigurationTypeError) as excinfo:
        pm.CoSimulation(held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [1.0, 1.0]),
                        ReplayBackend(), spiking_regions=[1], to_tvb=[object()])
    text = str(excinfo.value)
    assert "to_tvb[0]" in text and "SpikeRate" in text and "DoubledReplay" in text


class NoRates(ReplayBackend):
    """The replay backend without the second method of the Poisson protocol."""

    set_rates = None


def test_capabilities_are_the_protocols_a_backend_implements():
    assert capabilities_of(ReplayBackend()) == {"poisson_rate", "replay"}
    assert capabilities_of(NoRates()) == {"replay"}
    with pytest.raises(pm.CapabilityError) as excinfo:
        pm.CoSimulation(held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [1.0, 1.0]),
                        NoRates(), spiking_regions=[1], to_spiking=[SquareRootRate("R", "E")],
                        to_tvb=[DoubledReplay("Rin")])
    assert "poisson_rate" in str(excinfo.value) and "pyNN.nest" in str(excinfo.value)


def test_a_views_and_an_assemblys_spikes_come_from_their_whole_populations():
    """region.piece_lookup / spikes_of: names take their cells' spikes, in their own order."""
    from pynn_multiscale.region import piece_lookup, spikes_of

    spikes = {"e": (np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 3, 2, 4])),
              "i": (np.array([1.5, 2.5]), np.array([1, 0]))}
    sizes = {"e": 5, "i": 2}
    whole = piece_lookup([("e", None)], sizes)
    assert spikes_of(whole, spikes) is spikes["e"]  # a whole population: untouched
    view = piece_lookup([("e", np.array([4, 2]))], sizes)  # e[[4, 2]]
    t, i = spikes_of(view, spikes)
    assert t.tolist() == [3.0, 4.0] and i.tolist() == [1, 0]
    both = piece_lookup([("e", np.array([3])), ("i", None)], sizes)  # e[3:4] + i
    t, i = spikes_of(both, spikes)
    assert t.tolist() == [2.0, 1.5, 2.5] and i.tolist() == [0, 2, 1]

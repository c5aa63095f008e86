"""Small TVB models and connectivities for tests: exact, deterministic inputs."""

from __future__ import annotations

import numpy as np
from tvb.basic.neotraits.api import Final, List, NArray
from tvb.datatypes.connectivity import Connectivity
from tvb.simulator import coupling, integrators, monitors, simulator
from tvb.simulator.models.base import Model


class HeldRate(Model):
    """Two variables that TVB never changes: ``R`` (coupled, Hz) and ``Rin``.

    A region keeps its initial ``R`` for ever, so the coupling it sends is
    known exactly; a spiking region overwrites both.
    """

    state_variable_range = Final(default={"R": np.array([0.0, 10.0]),
                                          "Rin": np.array([0.0, 10.0])},
                                 label="ranges", doc="initial ranges")
    variables_of_interest = List(of=str, label="voi", choices=("R", "Rin"),
                                 default=("R", "Rin"), doc="recorded")
    state_variables = ("R", "Rin")
    _nvar = 2
    cvar = np.array([0], dtype=np.int32)

    def dfun(self, state_variables, coupling, local_coupling=0.0):
        return np.zeros_like(state_variables)


def small_connectivity(weights, delays_ms, speed=1.0):
    """A connectivity with given weights (to, from) and delays in ms."""
    weights = np.asarray(weights, dtype=float)
    n = weights.shape[0]
    conn = Connectivity(
        weights=weights, tract_lengths=np.asarray(delays_ms, dtype=float) * speed,
        region_labels=np.array([f"r{i}" for i in range(n)]),
        centres=np.zeros((n, 3)), speed=np.array([speed]))
    conn.configure()
    return conn


def held_rate_simulator(weights, delays_ms, initial_R, dt=0.1):
    """A deterministic TVB simulator of :class:`HeldRate` regions."""
    conn = small_connectivity(weights, delays_ms)
    conn.set_idelays(dt)
    n, horizon = len(initial_R), int(conn.idelays.max()) + 1
    initial = np.zeros((horizon, 2, n, 1))  # the whole horizon: TVB pads with random values
    initial[:, 0, :, 0] = initial_R
    initial[:, 1, :, 0] = initial_R
    return simulator.Simulator(
        model=HeldRate(), connectivity=conn,
        coupling=coupling.Linear(a=np.array([1.0])),
        integrator=integrators.HeunDeterministic(dt=dt),
        monitors=[monitors.Raw()], initial_conditions=initial)


class StepRate(Model):
    """``R`` jumps from 0 to ``rate`` at ``t_step`` (ms) and is held; ``C`` is the clock.

    Integrate it with Euler: ``C`` advances by dt per step, and ``R`` gets the
    whole jump in the one step whose start is ``t_step``.
    """

    t_step = NArray(default=np.array([20.0]), label="t_step", doc="ms")
    rate = NArray(default=np.array([100.0]), label="rate", doc="Hz")
    dt = NArray(default=np.array([0.1]), label="dt", doc="the integrator's step (ms)")
    state_variable_range = Final(default={"R": np.array([0.0, 10.0]),
                                          "Rin": np.array([0.0, 10.0]),
                                          "C": np.array([0.0, 1.0])},
                                 label="ranges", doc="initial ranges")
    variables_of_interest = List(of=str, label="voi", choices=("R", "Rin", "C"),
                                 default=("R", "Rin", "C"), doc="recorded")
    state_variables = ("R", "Rin", "C")
    _nvar = 3
    cvar = np.array([0], dtype=np.int32)

    def dfun(self, state_variables, coupling, local_coupling=0.0):
        d = np.zeros_like(state_variables)
        clock = state_variables[2]
        d[0] = np.where(np.abs(clock - self.t_step) < self.dt / 2, self.rate / self.dt, 0.0)
        d[2] = 1.0
        return d


def step_rate_simulator(weights, delays_ms, t_step, rate, dt=0.1):
    """A deterministic TVB simulator of :class:`StepRate` regions (all step together)."""
    conn = small_connectivity(weights, delays_ms)
    conn.set_idelays(dt)
    n, horizon = len(weights), int(conn.idelays.max()) + 1
    initial = np.zeros((horizon, 3, n, 1))
    initial[:, 2, :, 0] = dt * np.arange(-horizon + 1, 1)[:, None]  # the clock reads t
    return simulator.Simulator(
        model=StepRate(t_step=np.array([t_step]), rate=np.array([rate]), dt=np.array([dt])),
        connectivity=conn, coupling=coupling.Linear(a=np.array([1.0])),
        integrator=integrators.EulerDeterministic(dt=dt),
        monitors=[monitors.Raw()], initial_conditions=initial)


def known_source_region(times, cell, record_v=False):
    """A region builder: region 0's "src" fires ``times`` (one train per cell, silent in
    other regions), and every region has one "cell" made by ``cell(sim)``, V starting at 0."""
    n = len(times)

    def build(sim, idx, label, rng):
        trains = times if idx == 0 else [[]] * n
        src = sim.SpikeSourceArray(spike_times=[sim.Sequence(t) for t in trains])
        target = sim.Population(1, cell(sim), label=f"{label}_cell")
        target.initialize(v=0.0)
        if record_v:
            target.record("v")
        from pynn_multiscale.region import SpikingRegion

        return SpikingRegion({"src": sim.Population(n, src, label=f"{label}_src"),
                              "cell": target})
    return build

"""Small TVB models and connectivities for tests: exact, deterministic inputs."""

from __future__ import annotations

import numpy as np
from tvb.basic.neotraits.api import Final, List
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

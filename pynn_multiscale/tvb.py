"""The TVB side of the loop: the only module that touches TVB internals.

:class:`TVBEngine` steps a configured ``tvb.simulator.simulator.Simulator`` one
synchronisation window at a time.  It reproduces ``Simulator.__call__`` step
for step (same integrator call, same history update, same coupling and monitor
calls, same noise stream), with two additions:

* it keeps the window's states and the node coupling that each step was
  integrated with, so that the coupling towards spiking regions can be sent to
  the spiking side;
* after the spiking side has run the window, :meth:`TVBEngine.commit` replaces
  the state of the proxy regions (the regions that spiking networks replace)
  for every step of the window, rewrites TVB's history for those steps, and
  only then feeds the monitors.  Monitors therefore see the spiking side's
  values, never TVB's own stand-in values.

Why a thin engine and not ``tvb-contrib``'s ``CoSimulator``: see
``docs/design.md`` ("The TVB engine").  In short, its minimum delay counts
self-connections (0 on ``connectivity_76``), it delays every monitor by one
synchronisation interval, and it updates the proxies' history but not their
state.

Exactness argument.  Window k covers TVB steps ``n_k+1 .. n_k+W``.  Every
connection that touches a proxy region has a delay of at least ``W`` steps, so
the coupling that any step of the window reads from a proxy column comes from
steps ``<= n_k``, which were committed in earlier windows.  Connections among
TVB's own regions may be shorter; their columns are written by TVB during the
window, as in a plain run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import CapabilityError, ConfigurationError, ConfigurationTypeError, bad_value


@dataclass
class Window:
    """What TVB computed for one window, before the spiking side's update."""

    first_step: int
    initial_state: np.ndarray  #: (n_var, n_node, n_mode), the committed state before the window
    states: np.ndarray  #: (n_steps, n_var, n_node, n_mode), TVB's own values
    coupling: np.ndarray  #: (n_steps, n_cvar, n_node, n_mode), coupling used at each step

    @property
    def n_steps(self) -> int:
        return self.states.shape[0]


class TVBEngine:
    """Step a TVB simulator window by window, with proxy regions.

    Parameters
    ----------
    simulator : tvb.simulator.simulator.Simulator
        Configured or not; it is (re)configured here after the self-connections
        of the proxy regions have been set to zero.
    proxy_inds : sequence of int
        Region indices whose state comes from the spiking side.
    """

    def __init__(self, simulator, proxy_inds=()):
        from tvb.simulator.simulator import Simulator

        if not isinstance(simulator, Simulator):
            raise ConfigurationTypeError(bad_value(
                "tvb", type(simulator).__name__, "a tvb.simulator.simulator.Simulator",
                "build one with tvb.simulator.simulator.Simulator(...) or a helper "
                "such as pynn_multiscale.models.red_wong_wang.tvb_simulator()"))
        if simulator.stimulus is not None:
            raise CapabilityError(
                "tvb.stimulus is set, but windowed stepping cannot reproduce TVB's stimulus time "
                "grid (TVB restarts it on every call). Fix: drive the regions through the model's "
                "parameters, or run without a stimulus.")
        if simulator.surface is not None:
            raise CapabilityError("tvb.surface is set: surface simulations are not supported. "
                                  "Fix: use a region-level simulator (surface=None).")
        self.sim = simulator
        self.proxy_inds = np.asarray(proxy_inds, dtype=int)
        conn = simulator.connectivity
        if self.proxy_inds.size:
            # A spiking region's recurrence replaces its TVB self-connection.
            conn.weights[self.proxy_inds, self.proxy_inds] = 0.0
        simulator.configure()
        self.dt = float(simulator.integrator.dt)
        self.current_step = int(simulator.current_step)
        #: TVB counts the steps of a given initial history; co-simulation time starts after them.
        self.step0 = self.current_step
        model = simulator.model
        self.state_variables = tuple(model.state_variables)
        self.cvar_names = tuple(self.state_variables[i] for i in model.cvar)
        self.region_labels = [str(x) for x in conn.region_labels]
        self.n_regions = int(conn.number_of_regions)
        #: (state, step) the next window starts from, when TVB has integrated ahead of
        #: the last commit (pipelined loop); None: from the committed state.
        self._head = None

    # ------------------------------------------------------------------ delays
    def _coupled_mask(self) -> np.ndarray:
        """Non-zero-weight connections that touch a proxy, self-connections excluded."""
        conn = self.sim.connectivity
        mask = np.zeros_like(conn.weights, dtype=bool)
        mask[self.proxy_inds, :] = True
        mask[:, self.proxy_inds] = True
        mask &= conn.weights != 0
        np.fill_diagonal(mask, False)
        return mask

    def min_coupled_delay(self) -> float | None:
        """Shortest delay (ms) over non-zero-weight connections touching a proxy.

        Self-connections are excluded.  Returns None without proxy regions or
        when no such connection exists.
        """
        mask = self._coupled_mask()
        return float(self.sim.connectivity.delays[mask].min()) if mask.any() else None

    def min_coupled_idelay(self) -> int | None:
        """The same as :meth:`min_coupled_delay`, in TVB's integer history steps."""
        mask = self._coupled_mask()
        return int(self.sim.connectivity.idelays[mask].min()) if mask.any() else None

    def min_proxy_pair_idelay(self) -> int | None:
        """Shortest integer delay over non-zero-weight connections between two proxies."""
        conn = self.sim.connectivity
        inds = np.asarray(self.proxy_inds)
        sub = conn.idelays[np.ix_(inds, inds)]
        mask = conn.weights[np.ix_(inds, inds)] != 0
        np.fill_diagonal(mask, False)
        return int(sub[mask].min()) if mask.any() else None

    # --------------------------------------------------------------- stepping
    @property
    def time(self) -> float:
        """Co-simulation time (ms) of the last committed step."""
        return (self.current_step - self.step0) * self.dt

    def integrate(self, n_steps: int) -> Window:
        """Integrate ``n_steps`` TVB steps, as ``Simulator.__call__`` does.

        The monitors are not fed here; :meth:`commit` feeds them.  A window
        starts from the committed state of the previous one, or, if that one
        is not committed yet (the pipelined loop, :mod:`pynn_multiscale.pipeline`),
        from TVB's own state at its end.
        """
        sim = self.sim
        head_state, head_step = self._head or (sim.current_state, sim.current_step)
        initial_state = head_state.copy()
        state = head_state.copy()  # TVB's integrators write into their input
        start = head_step + 1
        states = np.empty((n_steps,) + state.shape)
        coupling = None
        node_coupling = sim._loop_compute_node_coupling(start)
        for k, step in enumerate(range(start, start + n_steps)):
            if coupling is None:
                coupling = np.empty((n_steps,) + node_coupling.shape)
            coupling[k] = node_coupling
            state = sim.integrate_next_step(state, sim.model, node_coupling, 0.0, 0.0)
            sim._loop_update_history(step, state)
            states[k] = state
            node_coupling = sim._loop_compute_node_coupling(step + 1)
        self._head = (state.copy(), start + n_steps - 1)
        return Window(first_step=start, initial_state=initial_state, states=states,
                      coupling=coupling)

    def _rewrite_history(self, window: Window, proxy_states: np.ndarray) -> None:
        """Put the proxies' coupling variables of the window into TVB's history.

        Equivalent to ``Simulator._loop_update_history(step, state)`` for each
        step (TVB's history keeps ``state[cvar]`` at ``step % n_time``), done
        for the proxy columns of the whole window at once.
        """
        history = self.sim.history
        steps = np.arange(window.first_step, window.first_step + window.n_steps) % history.n_time
        cvars = np.asarray(self.sim.model.cvar)
        values = proxy_states[:, cvars]  # (n_steps, n_cvar, n_proxy, n_mode)
        slots = np.arange(cvars.size)  # the buffer's second axis counts coupling variables
        history.buffer[steps[:, None, None], slots[None, :, None], self.proxy_inds[None, None, :]] \
            = values

    def commit(self, window: Window, proxy_states: np.ndarray | None = None) -> list:
        """Write the proxies' states for the window, then feed the monitors.

        Parameters
        ----------
        window : Window
            As returned by :meth:`integrate`.
        proxy_states : ndarray, optional
            ``(n_steps, n_var, n_proxy, n_mode)``: the states of the proxy
            regions for each step of the window.  None keeps TVB's values.

        Returns
        -------
        list
            For each monitor, a list of ``(time, data)`` samples produced in
            this window, with TVB's own times (which count the steps of a
            given initial history: subtract ``step0 * dt``).
        """
        sim = self.sim
        states = window.states
        if proxy_states is not None and self.proxy_inds.size:
            states[:, :, self.proxy_inds, :] = proxy_states
            self._rewrite_history(window, proxy_states)
        samples = [[] for _ in sim.monitors]
        needs_coupling = any(type(m).__name__ == "AfferentCoupling" for m in sim.monitors)
        for k in range(window.n_steps):
            step = window.first_step + k
            if needs_coupling:
                node_coupling = sim._loop_compute_node_coupling(step + 1)
            else:
                node_coupling = None
            output = sim._loop_monitor_output(step, states[k], node_coupling)
            if output is not None:
                for i, out in enumerate(output):
                    if out is not None:
                        samples[i].append(out)
        sim.current_state = states[-1].copy()
        sim.current_step = window.first_step + window.n_steps - 1
        self.current_step = sim.current_step
        if self._head is not None and self._head[1] == sim.current_step:
            self._head = None  # the next window starts from the committed state
        return samples


def validate_region_indices(indices, n_regions: int, parameter: str = "spiking_regions") -> list[int]:
    """Check region indices against a connectivity of ``n_regions`` regions."""
    if isinstance(indices, (str, bytes)) or not hasattr(indices, "__iter__"):
        raise ConfigurationTypeError(bad_value(
            parameter, indices, "a list of integer region indices", "pass e.g. [31, 65]"))
    indices = list(indices)
    seen = set()
    for idx in indices:
        if isinstance(idx, (bool, np.bool_)) or not isinstance(idx, (int, np.integer)):
            raise ConfigurationTypeError(bad_value(
                parameter, indices, f"integer region indices in 0..{n_regions - 1}",
                "pass a list of ints, e.g. [31, 65]"))
        if not 0 <= idx < n_regions:
            raise ConfigurationError(bad_value(
                parameter, indices, f"region indices in 0..{n_regions - 1} "
                f"(the connectivity has {n_regions} regions)",
                "use an index of tvb.connectivity.region_labels"))
        if int(idx) in seen:
            raise ConfigurationError(bad_value(
                parameter, indices, "each region at most once", f"remove the duplicate {idx}"))
        seen.add(int(idx))
    return [int(i) for i in indices]

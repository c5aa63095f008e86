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

A region stimulus (``tvb.stimulus``, a ``StimuliRegion``) is applied at every
step as ``Simulator._loop_update_stimulus`` does, on the time grid of the
co-simulation (:meth:`TVBEngine.horizon`); it may not touch a spiking region.
For a model with non-integrated state variables (TVB's own ``run()`` then
fails to broadcast the stimulus) it enters the integrated variables only.

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
        Configured or not.  An unconfigured one is configured here, after the
        self-connections of the proxy regions have been set to zero.  A
        configured one is not configured again (that would draw another
        initial history and, with ``initial_conditions``, count its steps
        twice): its history is rebuilt on the same buffer to see the changed
        weights (:func:`rebuild_history`), and its initial state, step count
        and noise stream are kept.
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
        if simulator.surface is not None:
            raise CapabilityError("tvb.surface is set: surface simulations are not supported. "
                                  "Fix: use a region-level simulator (surface=None).")
        self.sim = simulator
        self.proxy_inds = np.asarray(proxy_inds, dtype=int)
        conn = simulator.connectivity
        if self.proxy_inds.size:
            # A spiking region's recurrence replaces its TVB self-connection.
            conn.weights[self.proxy_inds, self.proxy_inds] = 0.0
        #: True when the simulator came configured: its initial history, initial state and
        #: step count are kept exactly (configuring again would draw another history).
        self.was_configured = is_configured(simulator)
        if self.was_configured:
            rebuild_history(simulator)
        else:
            simulator.configure()
        self.dt = float(simulator.integrator.dt)
        self.current_step = int(simulator.current_step)
        #: TVB counts the steps of a given initial history; co-simulation time starts after them.
        self.step0 = self.current_step
        model = simulator.model
        self.state_variables = tuple(model.state_variables)
        self._proxy_previous = None  # the proxy regions' committed state before a window
        self.cvar_names = tuple(self.state_variables[i] for i in model.cvar)
        self.region_labels = [str(x) for x in conn.region_labels]
        self.n_regions = int(conn.number_of_regions)
        #: (state, step) the next window starts from, when TVB has integrated ahead of
        #: the last commit (pipelined loop); None: from the committed state.
        self._head = None
        #: TVB steps (from ``step0``) that the stimulus's time grid covers (:meth:`horizon`).
        self._stimulus_steps = 0
        self._check_stimulus()

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
        stimulus = self._stimulus_array(start + n_steps - 1)
        # TVB adds a stimulus of every state variable to the integrated ones only, which
        # fails for a model with non-integrated variables; here they are left out.
        integrated = sim.model.state_variable_mask if sim.stimulus is not None and \
            sim.model.has_nonint_vars else None
        node_coupling = sim._loop_compute_node_coupling(start)
        for k, step in enumerate(range(start, start + n_steps)):
            if coupling is None:
                coupling = np.empty((n_steps,) + node_coupling.shape)
            coupling[k] = node_coupling
            if sim.stimulus is not None:  # as Simulator._loop_update_stimulus, in run time
                stimulus[sim.model.stvar, :, :] = \
                    sim.stimulus(step - (self.step0 + 1)).reshape((1, -1, 1))
            state = sim.integrate_next_step(state, sim.model, node_coupling, 0.0,
                                            stimulus[integrated] if integrated is not None
                                            else stimulus)
            sim._loop_update_history(step, state)
            states[k] = state
            node_coupling = sim._loop_compute_node_coupling(step + 1)
        self._head = (state.copy(), start + n_steps - 1)
        return Window(first_step=start, initial_state=initial_state, states=states,
                      coupling=coupling)

    # --------------------------------------------------------------- stimulus
    def _check_stimulus(self) -> None:
        """A stimulus must leave the spiking regions alone; surface stimuli are not supported."""
        stimulus = self.sim.stimulus
        if stimulus is None:
            return
        from tvb.datatypes.patterns import StimuliRegion

        if not isinstance(stimulus, StimuliRegion):
            raise CapabilityError(
                f"tvb.stimulus is a {type(stimulus).__name__}: only region stimuli "
                "(tvb.datatypes.patterns.StimuliRegion) are supported. Fix: use a StimuliRegion "
                "with one weight per region.")
        if stimulus.spatial_pattern is None:  # a configured simulator configured it
            stimulus.configure_space()
        weights = np.asarray(stimulus.spatial_pattern)[:, 0]
        hit = [int(i) for i in self.proxy_inds if weights[i] != 0]
        if hit:
            names = ", ".join(f"{i} ({self.region_labels[i]})" for i in hit)
            raise ConfigurationError(bad_value(
                "tvb.stimulus.weight", [float(weights[i]) for i in hit],
                f"0 for every spiking region (the spiking network replaces TVB's state there, "
                f"so TVB's stimulus would reach nothing); region(s) {names} are spiking",
                "set their weights to 0 and stimulate the spiking side instead: a current "
                "proxy in to_spiking (e.g. pynn_multiscale.proxies.CurrentFromCoupling) or a "
                "current source the builder adds (sim.StepCurrentSource, sim.DCSource)"))

    def horizon(self, n_steps: int) -> None:
        """The current ``run()`` ends ``n_steps`` TVB steps after the co-simulation's start.

        A stimulus's temporal pattern is evaluated on TVB's time grid from the
        co-simulation's start to the end of the current ``run()`` call, as
        ``Simulator.run`` does for one call; a later call extends the grid
        instead of restarting it (TVB restarts it on every call).
        """
        stimulus = self.sim.stimulus
        if stimulus is None or n_steps <= self._stimulus_steps:
            return
        # Simulator._prepare_stimulus's grid, for a simulation_length of n_steps * dt
        time = np.r_[0.0: n_steps * self.dt: self.dt]
        stimulus.configure_time(time.reshape((1, -1)))
        self._stimulus_steps = n_steps

    def _stimulus_array(self, last_step: int):
        """The array TVB's integrators add the stimulus from (0.0 without one)."""
        sim = self.sim
        if sim.stimulus is None:
            return 0.0
        if last_step - self.step0 > self._stimulus_steps:
            raise RuntimeError(f"the stimulus's time grid ends at step {self._stimulus_steps}; "
                               f"call horizon() before integrating up to {last_step - self.step0}")
        return np.zeros((sim.model.nvar, sim.number_of_nodes, 1))

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

    def proxy_states(self, window: Window, inputs: dict) -> np.ndarray | None:
        """The proxy regions' states over the window, from what the spiking side sent.

        ``inputs``: ``{TVB variable: (n_steps, n_proxy) values}``.  A model with
        a ``spiking_update`` for those variables computes the whole state from
        them and the state committed before the window; otherwise TVB's own
        values are kept, with the variables sent replaced.
        """
        if not self.proxy_inds.size:
            return None
        model, inds = self.sim.model, self.proxy_inds
        if self._proxy_previous is None:  # the first window: TVB's initial state
            self._proxy_previous = window.initial_state[:, inds, :]
        if hasattr(model, "spiking_update") and set(inputs) <= set(model.spiking_inputs):
            states = model.spiking_update(self._proxy_previous, inputs, self.dt)
        else:
            states = window.states[:, :, inds, :].copy()
            for name, values in inputs.items():
                states[:, self.state_variables.index(name), :, :] = values[:, :, None]
        self._proxy_previous = states[-1]
        return states

    def commit_inputs(self, window: Window, inputs: dict) -> list:
        """:meth:`commit` with the proxy states computed from ``inputs`` (:meth:`proxy_states`)."""
        return self.commit(window, self.proxy_states(window, inputs))

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


def is_configured(simulator) -> bool:
    """Whether ``simulator.configure()`` has run (it creates the history)."""
    return getattr(simulator, "history", None) is not None


def rebuild_history(simulator) -> None:
    """Make a configured simulator's history see its connectivity's current weights.

    TVB's history keeps the non-zero weights it was built with.  The
    co-simulation zeroes some weights after the user configured (a spiking
    region's self-connection, the pairs that links wire in the spiking
    simulator), so the history is rebuilt on the same buffer: the initial
    history, state and step count that configure() drew are kept.
    """
    old = simulator.history
    conn = simulator.connectivity
    new = type(old)(conn.weights, conn.idelays, simulator.model.cvar,
                    simulator.model.number_of_modes)
    if old.buffer.shape[0] != new.n_time:
        raise ConfigurationError(
            f"the TVB simulator was configured with a history of {old.buffer.shape[0]} steps, "
            f"but its connectivity's delays now need {new.n_time}. Fix: configure it again "
            "after changing the connectivity or dt, or pass it unconfigured.")
    new.initialize(old.buffer)
    simulator.history = new

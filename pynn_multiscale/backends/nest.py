"""NEST through PyNN, with a native window loop.

Region builders use plain PyNN (``pyNN.nest``).  The loop itself bypasses
PyNN's ``run()``, which calls ``nest.Simulate`` (Prepare + Run + Cleanup)
every time: here ``nest.Prepare()`` is called once, each window is one
``nest.Run(window)``, and ``nest.Cleanup()`` is called at the end.

Mechanisms, and why:

* **TVB rates -> Poisson trains.** One native ``inhomogeneous_poisson_generator``
  per proxy and region, connected to every target neuron; NEST's generators
  send an independent train to each target.  A window's rates are set in one
  call.  NEST refuses rate times that are not strictly in the future and
  replaces the whole schedule on every set, which would drop the value pending
  at a window's end; two generators therefore take turns, one per window,
  each ending its schedule with a zero rate.  The rate of TVB step n
  ``(t_{n-1}, t_n]`` starts at ``t_n``: a latency of one spiking step, plus the
  proxy's synaptic delay, on top of the connectome delay.
* **Spikes -> counts.** One native ``spike_recorder`` per population.  After
  each window all recorders are read in one kernel call, and only the new
  events are kept.  Reading copies every event a recorder stores, and NEST
  refuses to clear a recorder inside Prepare/Run, so once a recorder holds
  ``flush_events`` events the backend leaves the Run context (Cleanup),
  clears the recorders and re-enters it (Prepare).  That costs about 0.1 ms,
  less than copying a few hundred events, so the recorders are kept small:
  the per-window cost and the memory stay bounded on long runs.
* **Low-level calls.** ``NodeCollection.set`` reads the node's whole status
  before every write (0.1 ms); the kernel API call it ends in takes 0.02 ms,
  so the hot path calls it directly.  Reading ``nest.biological_time`` or
  ``nest.resolution`` fetches the whole kernel status (0.1 ms each), so the
  backend keeps the kernel time itself, in steps.
* **Time.** PyNN runs NEST one ``min_delay`` ahead of its own clock (a NEST 2
  legacy); NEST 3 recorders see a spike at the end of ``Run`` already, so the
  native loop keeps kernel time equal to co-simulation time.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CapabilityError, ConfigurationError
from .base import (GlobalStateGuard, Trains, WindowLoop, recorded_signal_names,
                   setup_arguments, step_of)

#: The kernel is global: at most one live backend per process.
_GUARD = GlobalStateGuard("NEST's kernel", "NEST")


@dataclass
class Alternating:
    """Two generators (and, for a shared part, two more) that take turns, one per window."""

    generators: Any
    shared: Any = None
    shared_fraction: float = 0.0
    turn: int = 0


@dataclass
class Nodes:
    """Native nodes set in one call: spike generators, or a population for its ``I_e``."""

    nodes: Any


@dataclass
class StateReader:
    """A population's nodes and a NEST state variable, with its factor to PyNN's units."""

    nodes: Any
    name: str
    factor: float


@dataclass
class SpikeCounter:
    """A population's ``spike_recorder``, the events read so far and those not yet handed out."""

    recorder: Any
    ids: np.ndarray
    first_id: int
    contiguous: bool
    read: int = 0
    new: list = field(default_factory=list)


class NestBackend(WindowLoop):
    """The NEST backend (see the module docstring)."""

    name = "nest"
    #: The process-wide guard of the simulator's global state (CoSimulation asks it to make room).
    guard = _GUARD

    #: NEST refuses a delay below min_delay when a projection is made, so the build
    #: skips its own check (reading every delay back through PyNN costs 1.3 s a W1 region).
    refuses_short_delays = True

    #: Recorder size (events) at which recorders are cleared between windows.
    flush_events = 256

    def __init__(self, sim):
        import nest

        self.sim = sim
        self.nest = nest
        try:
            from nest import nestkernel_api

            self._set_status = lambda nc, params: nestkernel_api.llapi_set_nc_status(
                nc._datum, [params])
            self._get_status = lambda nc, key: nestkernel_api.llapi_get_nc_status(nc._datum, key)
        except (ImportError, AttributeError):  # other NEST versions: the public API
            self._set_status = lambda nc, params: nc.set(params)
            self._get_status = lambda nc, key: nc.get(key)
        self._flush_pending = False
        self._sources = []
        self._recorders = []
        self._all_recorders = None  # one NodeCollection of every recorder, in handle order
        self._collected_step = None  # kernel step at which the recorders were last read
        self._step = 0  # kernel time in steps of the resolution
        self._dt = None  # NEST's resolution (ms), read at start
        self._recorder_order = []  # each handle's position among all recorders
        self._prepared = False
        self._finished = False

    def version(self) -> str:
        return str(self.nest.__version__) if hasattr(self.nest, "__version__") else \
            self.nest.GetKernelStatus("build_info")["version"]

    # ----------------------------------------------------------- lifecycle
    #: ``sim.setup`` options passed through (CoSimulation(setup_options=...)), as PyNN names them.
    setup_options = {
        "spike_precision": "'off_grid' (PyNN's default) or 'on_grid'",
        "recording_precision": "decimal places of recorded values",
        "rng_type": "NEST's random generator, e.g. 'mt19937_64'",
    }
    #: NEST runs the network on threads (``CoSimulation(threads=...)``).
    max_threads = 1024

    def setup(self, timestep, min_delay, seed, max_delay=None, threads=1, options=None):
        _GUARD.check()
        # a backend may be set up again once finished (a derived max_delay that grows)
        self._finished = False
        self._sources, self._recorders, self._all_recorders = [], [], None
        self.sim.setup(**setup_arguments(timestep, min_delay, max_delay, rng_seed=seed),
                       **({"threads": int(threads)} if threads != 1 else {}), **(options or {}))
        self.nest.set_verbosity("M_ERROR")
        _GUARD.claim(self)

    def start(self):
        _warn_unscaled_initial_values(self.sim)
        # Let PyNN make the connections it defers to its first run (parrot
        # neurons of spike sources, its own recorders), without simulating.
        self.sim.simulator.state.run(0.0)
        self._dt = float(self.nest.resolution)
        self._step = int(round(self.nest.biological_time / self._dt))
        self.nest.Prepare()
        self._prepared = True
        self._patch_get_data(True)

    def _patch_get_data(self, on):
        """PyNN's ``get_data`` reads with PyNN's clock set right while the loop runs.

        The native loop does not advance PyNN's clock, and PyNN's own read then
        fails with an IndexError; a builder's ``pop.get_data()`` inside the
        ``with`` block gets what it recorded up to now, as on the other backends.
        """
        for cls in (self.sim.Population, self.sim.PopulationView, self.sim.Assembly):
            if on and "get_data" not in vars(cls):
                original = cls.get_data

                @functools.wraps(original)
                def get_data(pop, *args, _original=original, **kwargs):
                    with self._pynn_now():
                        return _original(pop, *args, **kwargs)
                cls.get_data = get_data
            elif not on and "get_data" in vars(cls) and hasattr(cls.get_data, "__wrapped__"):
                del cls.get_data

    @contextlib.contextmanager
    def _pynn_now(self):
        """PyNN believes it is running and that its clock is NEST's (co-simulation time).

        PyNN's own clock stands one ``min_delay`` behind NEST's and is not
        moved by the native loop; its time offset stays 0, so spike times
        are NEST's, unshifted.
        """
        state = self.sim.simulator.state
        cls, running = type(state), state.running
        clock = vars(cls)["t"]
        cls.t = property(lambda s: float(np.around(s.t_kernel, decimals=12)))
        state.running = True
        try:
            yield
        finally:
            cls.t, state.running = clock, running

    @contextlib.contextmanager
    def _pynn_clock(self):
        """PyNN believes it is running, with its clock at co-simulation time."""
        state = self.sim.simulator.state
        saved = state.running, state._time_offset
        state.running, state._time_offset = True, -state.min_delay
        try:
            yield
        finally:
            state.running, state._time_offset = saved

    def advance(self, t_stop):
        if self._flush_pending:
            self._flush_recorders()
        n = int(round(t_stop / self._dt)) - self._step
        if n > 0:
            self.nest.Run(n * self._dt)
            self._step += n

    def _flush_recorders(self):
        """Clear every recorder (outside Prepare/Run), keeping any event not yet handed out."""
        self._collect()
        nest = self.nest
        nest.Cleanup()
        self._set_status(self._all_recorders, {"n_events": 0})
        for handle in self._recorders:
            handle.read = 0
        nest.Prepare()
        self._flush_pending = False

    def finish(self):
        self._patch_get_data(False)
        if self._prepared:
            self.nest.Cleanup()
            self._prepared = False
        if not self._finished:
            self._finished = True
            self.sim.end()
        _GUARD.release(self)

    # ------------------------------------------------------------- proxies
    #: Proxies may target a cell type's own receptors by name (a NESTML model's ports).
    named_receptors = True

    def _synapse(self, population, weight, delay, receptor_type):
        celltype = population.celltype
        # PyNN's uS (conductance) and nA (current) become NEST's nS and pA; a cell type
        # whose weights are voltage jumps (Izhikevich: mV) or dimensionless (a NESTML
        # model's) undoes that, as PyNN's Projection does (receptor_scale)
        scale = 1000.0 * getattr(celltype, "receptor_scale", 1.0)
        if receptor_type not in ("excitatory", "inhibitory"):
            # a named receptor of a custom cell type (checked against celltype.receptor_types
            # when the proxy bound): NEST's receptor port, weights as given
            return {"weight": scale * weight, "delay": float(delay),
                    "receptor_type": celltype.get_receptor_type(receptor_type)}
        name = type(celltype).__name__
        if "multisynapse" in name.lower() or "cond_beta" in name.lower():
            raise CapabilityError(
                f"Poisson proxies onto {name} are not supported by the nest backend: "
                "use a cell type with one excitatory and one inhibitory receptor "
                "(IF_cond_alpha, IF_cond_exp, IF_curr_alpha, IF_curr_exp, EIF_cond_exp_isfa_ista)")
        sign = -1.0 if receptor_type == "inhibitory" else 1.0
        return {"weight": sign * scale * weight, "delay": float(delay)}

    def add_rate_source(self, population, synapse_weight, delay, receptor_type,
                        shared_fraction=0.0):
        """Independent Poisson input to every neuron, optionally with a shared part.

        With ``shared_fraction`` f, each neuron gets an independent train at
        (1 - f) r and one train at f r common to all of them (a generator
        relayed by a parrot neuron, which adds one ``min_delay`` to that
        part's latency), so the input counts of any two neurons correlate
        with coefficient f.
        """
        nest = self.nest
        syn = self._synapse(population, synapse_weight, delay, receptor_type)
        handle = Alternating(nest.Create("inhomogeneous_poisson_generator", 2,
                                         params={"allow_offgrid_times": False}),
                             shared_fraction=float(shared_fraction))
        nest.Connect(handle.generators, population.node_collection, "all_to_all", syn_spec=syn)
        if shared_fraction > 0:
            handle.shared = nest.Create("inhomogeneous_poisson_generator", 2,
                                        params={"allow_offgrid_times": False})
            relay = nest.Create("parrot_neuron")
            nest.Connect(handle.shared, relay, "all_to_all",
                         syn_spec={"delay": max(nest.min_delay, nest.resolution)})
            nest.Connect(relay, population.node_collection, "all_to_all", syn_spec=syn)
        self._sources.append(handle)
        return handle

    def set_rates(self, handle, t0, dt, rates):
        rates = np.asarray(rates, dtype=float)
        n = rates.size
        times = np.round(t0 + dt * np.arange(1, n + 2), 10)
        values = np.empty(n + 1)
        values[n] = 0.0
        f, turn = handle.shared_fraction, handle.turn
        values[:n] = (1.0 - f) * rates
        self._set_status(handle.generators[turn], {"rate_times": times, "rate_values": values})
        if f > 0:
            values[:n] = f * rates
            self._set_status(handle.shared[turn], {"rate_times": times, "rate_values": values})
        handle.turn = 1 - turn

    def add_train_sources(self, population, synapse_weight, delay, receptor_type):
        """One ``spike_generator`` per target neuron, one to one."""
        nest = self.nest
        generators = nest.Create("spike_generator", population.size,
                                 params={"allow_offgrid_times": False})
        syn = self._synapse(population, synapse_weight, delay, receptor_type)
        nest.Connect(generators, population.node_collection, "one_to_one", syn_spec=syn)
        return Nodes(generators)

    def set_trains(self, handle, trains, t0, dt):
        """Each neuron's spikes of the next window, stamped at the end of their step.

        All generators are set in one kernel call.  Spikes falling in the same
        step become one time with a multiplicity.
        """
        from nest import nestkernel_api

        if isinstance(trains, Trains):
            # flat: every spike stamped at the end of its step (a repeated time is one more
            # spike, as a multiplicity would be; a handle fed this way never gets
            # multiplicities, which NEST would keep), and only the generators that spike now
            # are set (the others hold past times only, which emit nothing more)
            if not trains.times.size:
                return
            steps = np.maximum(step_of(trains.times, t0, dt), 1)
            # Python lists: NEST converts them about 3x faster than numpy arrays
            times = np.round(t0 + steps * dt, 10).tolist()
            bounds = trains.bounds
            spiking = np.flatnonzero(np.diff(bounds))
            starts, stops = bounds[spiking].tolist(), bounds[spiking + 1].tolist()
            params = [{"spike_times": times[a:b]} for a, b in zip(starts, stops)]
            nodes = handle.nodes if spiking.size == len(handle.nodes) \
                else handle.nodes[spiking.tolist()]
            nestkernel_api.llapi_set_nc_status(nodes._datum, params)
            return
        params = []
        for times in trains:
            steps, multiplicity = np.unique(np.maximum(step_of(times, t0, dt), 1),
                                            return_counts=True)
            params.append({"spike_times": np.round(t0 + steps * dt, 10),
                           "spike_multiplicities": multiplicity.astype(int)})
        nestkernel_api.llapi_set_nc_status(handle.nodes._datum, params)

    def add_current_source(self, population, delay=None):
        """Two ``step_current_generator`` devices taking turns, as the Poisson generators do."""
        nest = self.nest
        generators = nest.Create("step_current_generator", 2, params={"allow_offgrid_times": False})
        delay = max(nest.min_delay, nest.resolution) if delay is None else float(delay)
        nest.Connect(generators, population.node_collection, "all_to_all",
                     syn_spec={"delay": delay})
        return Alternating(generators)

    def set_currents(self, handle, t0, dt, amplitudes):
        """Amplitudes in nA (PyNN), one per TVB step; NEST takes pA."""
        amplitudes = np.asarray(amplitudes, dtype=float)
        n = amplitudes.size
        times = t0 + dt * np.arange(1, n + 2)
        values = np.empty(n + 1)
        values[:n] = 1000.0 * amplitudes
        values[n] = 0.0
        gen = handle.generators[handle.turn]
        self._set_status(gen, {"amplitude_times": np.round(times, 10), "amplitude_values": values})
        handle.turn = 1 - handle.turn

    def add_offset(self, population):
        return Nodes(population.node_collection)

    def set_offset(self, handle, value):
        """PyNN's ``i_offset`` (nA) is NEST's ``I_e`` (pA)."""
        self._set_status(handle.nodes, {"I_e": 1000.0 * float(value)})

    #: PyNN state variable -> (NEST's name, factor to PyNN's units)
    _STATE_NAMES = {"v": ("V_m", 1.0), "gsyn_exc": ("g_ex", 1e-3), "gsyn_inh": ("g_in", 1e-3)}

    def add_state_reader(self, population, variable):
        name, factor = self._STATE_NAMES[variable]
        nodes = population.node_collection
        if name not in nodes[0].get():
            raise CapabilityError(
                f"MeanState({variable!r}) is not supported by the nest backend for "
                f"{type(population.celltype).__name__}: NEST's model has no {name!r}. Use a "
                "conductance-based cell type (IF_cond_alpha, IF_cond_exp) for conductances.")
        return StateReader(nodes, name, factor)

    def read_state_mean(self, handle):
        """The population mean of a state variable, now, in PyNN's units."""
        from nest import nestkernel_api

        values = nestkernel_api.llapi_get_nc_status(handle.nodes._datum, handle.name)
        return float(np.mean(values)) * handle.factor

    def add_spike_counter(self, population):
        nest = self.nest
        recorder = nest.Create("spike_recorder")
        nodes = population.node_collection
        # a recorder's delay does not shift its times, but must respect min_delay
        nest.Connect(nodes, recorder, syn_spec={"delay": max(nest.min_delay, nest.resolution)})
        ids = np.asarray(nodes.tolist())
        handle = SpikeCounter(recorder, ids, int(ids[0]), bool(np.all(np.diff(ids) == 1)))
        self._recorders.append(handle)
        self._all_recorders = None
        return handle

    def _collect(self):
        """Read every recorder in one kernel call; queue each one's new events."""
        if self._collected_step == self._step or not self._recorders:
            return
        if self._all_recorders is None:
            all_recorders = self._recorders[0].recorder
            for handle in self._recorders[1:]:
                all_recorders = all_recorders + handle.recorder
            order = {node_id: k for k, node_id in enumerate(all_recorders.tolist())}
            self._recorder_order = [order[h.recorder.tolist()[0]] for h in self._recorders]
            self._all_recorders = all_recorders
        events = self._get_status(self._all_recorders, "events")
        if isinstance(events, dict):
            events = (events,)
        for handle, k in zip(self._recorders, self._recorder_order):
            times = np.asarray(events[k]["times"])
            start = handle.read
            if times.size > start:
                # copies: a view would keep every event read so far alive
                handle.new.append((times[start:].copy(),
                                   np.asarray(events[k]["senders"])[start:].copy()))
            handle.read = times.size
            if times.size >= self.flush_events:
                self._flush_pending = True
        self._collected_step = self._step

    def window_spikes(self, handle):
        self._collect()
        chunks, handle.new = handle.new, []
        if not chunks:
            return np.empty(0), np.empty(0, dtype=int)
        times = np.concatenate([c[0] for c in chunks]) if len(chunks) > 1 else chunks[0][0]
        senders = np.concatenate([c[1] for c in chunks]) if len(chunks) > 1 else chunks[0][1]
        if handle.contiguous:
            index = senders - handle.first_id
        else:
            index = np.searchsorted(handle.ids, senders)
        return times, index

    def recorded_signals(self, population) -> list:
        """Analog signals (``v``, ``gsyn_exc``, ...) that the builder asked PyNN to record.

        PyNN only returns its current segment while it believes it is
        running, and clips it at its own clock, one ``min_delay`` behind
        NEST's (see the module docstring).  Both are set for the call and
        restored after it.
        """
        names = recorded_signal_names(population)
        if not names:
            return []
        with self._pynn_clock():
            block = population.get_data(names)
        return list(block.segments[-1].analogsignals)


def _warn_unscaled_initial_values(sim) -> None:
    """Warn about initial values PyNN wrote to NEST in the wrong unit (``backends.set_state``)."""
    import warnings

    for population in sim.simulator.state.populations:
        scales = getattr(population.celltype, "scale_factors", {})
        corrected = getattr(population, "_pynn_multiscale_set_state", ())
        for name, value in population.initial_values.items():
            if scales.get(name, 1) == 1 or name in corrected:
                continue
            base = value.base_value if hasattr(value, "base_value") else value
            if np.isscalar(base) and base == 0:
                continue
            warnings.warn(
                f"{population.label}: initialize({name}=...) on NEST: PyNN sets NEST's value "
                f"without its unit factor ({scales[name]:g}), so {name} starts "
                f"{1 / scales[name]:g} times too small. Fix: pynn_multiscale.backends.set_state("
                f"population, {name}=...)", RuntimeWarning, stacklevel=3)


def set_state(population, values: dict) -> None:
    """``initialize`` with PyNN's units (see :func:`pynn_multiscale.backends.set_state`)."""
    scales = getattr(population.celltype, "scale_factors", {})
    parent = getattr(population, "parent", population)  # a view's values go to its parent
    parent._pynn_multiscale_set_state = set(getattr(parent, "_pynn_multiscale_set_state", ()))
    parent._pynn_multiscale_set_state.update(values)
    fixed = {}
    for name, value in values.items():
        scale = scales.get(name, 1)
        if scale == 1:
            fixed[name] = value
            continue
        try:
            rescaled = np.asarray(value, dtype=float) / scale
            fixed[name] = rescaled.item() if rescaled.ndim == 0 else rescaled
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"set_state: {name}={value!r} cannot be rescaled to NEST's unit (factor "
                f"{scale:g}). Fix: pass a number or an array of one value per neuron.") from None
    population.initialize(**fixed)


def make_backend(sim):
    if sim.__name__ != "pyNN.nest":
        raise ConfigurationError(f"make_backend expects pyNN.nest, got {sim.__name__}")
    return NestBackend(sim)

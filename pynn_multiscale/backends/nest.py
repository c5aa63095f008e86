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
  each window all recorders (and the multimeters of recorded analog signals)
  are read in one kernel call, and only the new events are kept.  Reading
  copies every event the devices hold, and NEST refuses to clear a device
  inside Prepare/Run, so once they hold enough events the backend leaves the
  Run context (Cleanup), clears them and re-enters it (Prepare).  Clearing
  costs time in proportion to the network (0.01 ms at 1000 neurons, 0.59 ms
  at 16 000, 2.36 ms at 64 000: about 37 ns a node), holding events costs
  their copy at every read (about 0.15 us an event): the backend clears when
  the held events reach ``sqrt(2 C e / c)`` (C a clearing, estimated from the
  network's size, e the new events per window, c an event's read; at least
  ``flush_events``), which minimises their sum per window.  The estimate is
  not timed: timings vary, and with several threads NEST's spikes depend on
  where the clearings fall, so a timed threshold made two runs with the same
  seed differ.  The per-window cost and the memory stay bounded on long runs.
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
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CapabilityError, ConfigurationError
from .base import (GlobalStateGuard, Trains, WindowLoop, join_samples,
                   recorded_signal_names, sample_positions,
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


@dataclass
class SignalReader:
    """PyNN's ``multimeter`` of a population, read by the backend window by window.

    ``chunks`` holds every event read so far as ``(times, senders, values)``,
    ``values`` by PyNN variable name in PyNN's units; PyNN's ``get_data`` reads
    its analog signals from here (:func:`_signals_from_reader`).
    """

    population: Any
    device: Any
    variables: dict  # PyNN name -> (NEST name, factor to PyNN's units)
    read: int = 0
    chunks: list = field(default_factory=list)
    handed: int = 0  # chunks already handed out by window_signals
    pending: Any = None  # samples read but not yet shown by PyNN (window_signals)
    ids: np.ndarray = None  # the cells the multimeter records, sorted
    initial: dict = None  # PyNN name -> each recorded cell's value at t = 0, read from NEST


class NestBackend(WindowLoop):
    """The NEST backend (see the module docstring)."""

    name = "nest"
    #: The process-wide guard of the simulator's global state (CoSimulation asks it to make room).
    guard = _GUARD

    #: NEST refuses a delay below min_delay when a projection is made, so the build
    #: skips its own check (reading every delay back through PyNN costs 1.3 s a W1 region).
    refuses_short_delays = True

    #: The fewest events the devices hold before they are cleared between windows (the
    #: threshold grows from there with the measured costs; see the module docstring).
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
        self._flush_cost = None  # seconds a clearing takes, estimated at start
        self._new_events = 0.0  # new events per read (running mean)
        self._sources = []
        self._recorders = []
        self._readers = []  # SignalReader of every population recording analog signals
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
        self._readers = []
        self._flush_cost, self._new_events = None, 0.0  # the network may be built again
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
        for reader in self._readers:
            self._read_initial_values(reader)
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
        for handle in self._recorders + self._readers:
            handle.read = 0
        nest.Prepare()
        self._flush_pending = False

    #: Seconds a Cleanup/Prepare takes per node of the network, and to read one held event
    #: (measured on NEST 3.10: 2.36 ms for 64 000 neurons; 40-90 ns a value, two or three
    #: values an event).
    clear_cost_per_node = 3.7e-8
    read_cost_per_event = 1.5e-7

    def _flush_threshold(self) -> float:
        """Held events at which clearing is due: ``sqrt(2 C e / c)``, at least ``flush_events``.

        Clearing every F windows costs C / F a window; holding costs the
        re-read of e F / 2 events on average, c each.  The sum is least at
        e F = sqrt(2 C e / c).  C comes from the network's size, e from the
        events read so far: the same in every run with the same seed.
        """
        if self._flush_cost is None:
            self._flush_cost = self.clear_cost_per_node * float(
                self.nest.GetKernelStatus("network_size"))
        return max(self.flush_events,
                   math.sqrt(2.0 * self._flush_cost * max(self._new_events, 1.0)
                             / self.read_cost_per_event))

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
            # indexed by an array: NEST checks a list's items one by one in Python
            nodes = handle.nodes if spiking.size == len(handle.nodes) else handle.nodes[spiking]
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
        """Read every recorder and multimeter in one kernel call; queue each one's new events."""
        handles = self._recorders + self._readers
        if self._collected_step == self._step or not handles:
            return
        if self._all_recorders is None:
            devices = [h.recorder if isinstance(h, SpikeCounter) else h.device for h in handles]
            all_recorders = devices[0]
            for device in devices[1:]:
                all_recorders = all_recorders + device
            order = {node_id: k for k, node_id in enumerate(all_recorders.tolist())}
            self._recorder_order = [order[d.tolist()[0]] for d in devices]
            self._all_recorders = all_recorders
        events = self._get_status(self._all_recorders, "events")
        if isinstance(events, dict):
            events = (events,)
        held = new = 0
        for handle, k in zip(handles, self._recorder_order):
            times = np.asarray(events[k]["times"])
            start = handle.read
            if isinstance(handle, SignalReader):
                if times.size > start:
                    handle.chunks.append((
                        times[start:].copy(), np.asarray(events[k]["senders"])[start:].copy(),
                        # PyNN's own conversion (pyNN.nest.recording), the same floats
                        {name: np.asarray(events[k][nest_name])[start:] * factor
                         for name, (nest_name, factor) in handle.variables.items()}))
            elif times.size > start:
                # copies: a view would keep every event read so far alive
                handle.new.append((times[start:].copy(),
                                   np.asarray(events[k]["senders"])[start:].copy()))
            held += times.size
            new += times.size - start
            handle.read = times.size
        self._new_events = 0.8 * self._new_events + 0.2 * new
        if held >= self._flush_threshold():
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
        restored after it.  The samples come from the backend's own reads of
        the multimeter (:meth:`add_signal_reader`), not from PyNN's.
        """
        names = recorded_signal_names(population)
        if not names:
            return []
        with self._pynn_clock():
            block = population.get_data(names)
        return list(block.segments[-1].analogsignals)

    # ------------------------------------------------------ analog signals
    def add_signal_reader(self, population):
        """Read PyNN's multimeter of ``population`` window by window; None if it records none.

        NEST delivers a multimeter's samples one ``min_delay`` late, so after
        a window ending at t the samples up to t - ``min_delay`` are there.
        The backend reads them after every window with the spike recorders
        (one kernel call) and clears the multimeter with them, so a read
        copies one window's samples, not the whole run's.  PyNN's
        ``get_data`` then assembles its signals from the backend's arrays
        (:func:`_signals_from_reader`): the same values as PyNN's own read,
        without its loop over every sample.
        """
        names = recorded_signal_names(population)
        if not names:
            return None
        recorder = population.recorder
        celltype = population.celltype
        variable_map = getattr(celltype, "variable_map", {})
        scales = getattr(celltype, "scale_factors", {})
        reader = SignalReader(population, recorder._multimeter.device,
                              {name: (variable_map.get(name, name), scales.get(name, 1))
                               for name in names})
        recorder._get_all_signals = functools.partial(_signals_from_reader, self, reader)
        self._readers.append(reader)
        self._all_recorders = None
        return reader

    def _read_initial_values(self, reader):
        """Each recorded cell's values at t = 0, as NEST holds them before the first window.

        PyNN puts a value at t = 0 that it evaluates again from the
        population's initial values at every read: for a random distribution,
        a new draw each time, not the value the cell started from (see the
        upstream defects in docs/backends.md).
        """
        if reader.initial is not None:
            return
        reader.ids = np.asarray(sorted(int(i) for i in
                                       reader.population.recorder._multimeter._all_ids),
                                dtype=np.int64)
        nodes = self.nest.NodeCollection(reader.ids.tolist())
        reader.initial = {}
        for name, (nest_name, factor) in reader.variables.items():
            values = self._get_status(nodes, nest_name)
            values = np.asarray(values if isinstance(values, (tuple, list)) else [values],
                                dtype=float)
            reader.initial[name] = values * factor

    def window_signals(self, handle):
        """The samples read since the previous call: ``(times, senders, {variable: values})``.

        Only those that PyNN's ``get_data`` would show now (up to its clock,
        one ``min_delay`` behind the window's end); the later ones come with
        the next call.  So what a ``run()`` hands out ends where its result's
        signals end, and the next ``run()``'s first call continues from there.
        """
        self._collect()
        fresh, handle.handed = handle.chunks[handle.handed:], len(handle.chunks)
        if handle.pending is not None:
            fresh = [handle.pending] + fresh
        times, senders, values = join_samples(fresh, handle.variables)
        state = self.sim.simulator.state
        with self._pynn_clock():
            now, offset = state.t, state._time_offset
        shown = (times - offset) <= now
        later = ~shown
        handle.pending = (times[later], senders[later],
                          {name: v[later] for name, v in values.items()}) if later.any() else None
        return times[shown], senders[shown], {name: v[shown] for name, v in values.items()}

    def signal_layout(self, handle) -> dict:
        """What a reader's samples become: each variable's signal as PyNN would build it."""
        population, recorder = handle.population, handle.population.recorder
        ids = sorted(recorder.filter_recorded(_variable(recorder, next(iter(handle.variables))),
                                              None))
        return {"population": population.label, "size": int(population.size),
                "ids": [int(i) for i in ids],
                "channel_index": [int(population.id_to_index(i)) for i in ids],
                "sampling_period": float(recorder.sampling_interval),
                "t_start": float(recorder._recording_start_time.rescale("ms").magnitude),
                "variables": {name: {"units": str(_units(population, _variable(recorder, name))),
                                     "initial": _initial_values(self, handle, ids, name).tolist()}
                              for name in handle.variables}}


def _variable(recorder, name):
    for variable in recorder.recorded:
        if variable.name == name:
            return variable
    raise KeyError(name)


def _units(population, variable):
    units = population.find_units(variable)
    return "dimensionless" if units == "unknown" else units


def _initial_values(backend, reader, ids, name) -> np.ndarray:
    """The cells' values at t = 0 (NEST records no sample there), read before the first window."""
    backend._read_initial_values(reader)
    wanted = np.asarray([int(i) for i in ids], dtype=np.int64)
    return reader.initial[name][np.searchsorted(reader.ids, wanted)]


def _on_grid(backend, reader, name, ids, state, interval):
    """The signal array placed sample by sample: row = time / interval, column = cell.

    NEST's multimeter samples every cell at t = k * interval, k = 1, 2, ...;
    each sample goes to row k (row 0 is the initial value), in one pass over
    the chunks, without sorting.  None when the samples do not fill that grid
    exactly once (then the samples are grouped by sorting, as PyNN groups them).
    """
    wanted = np.asarray([int(i) for i in ids], dtype=np.int64)
    now, offset = state.t, state._time_offset  # each a kernel status read
    placed = []
    for times, senders, values in reader.chunks:
        keep = (times - offset) <= now
        times, senders, values = times[keep], senders[keep], values[name][keep]
        rows, columns, on_grid, mine = sample_positions(times, senders, wanted, interval)
        if times.size and (not on_grid.all() or rows.min() < 1):
            return None
        placed.append((rows[mine], columns[mine], values[mine]))
    n_rows = 1 + max((int(r.max()) for r, _, _ in placed if r.size), default=0)
    if sum(r.size for r, _, _ in placed) != (n_rows - 1) * wanted.size:
        return None
    out = np.empty((n_rows, wanted.size))
    hit = np.zeros((n_rows, wanted.size), dtype=bool)
    out[0] = _initial_values(backend, reader, ids, name)
    for rows, columns, values in placed:
        out[rows, columns] = values
        hit[rows, columns] = True
    # as many samples as cells, and every cell and time has one: each exactly once
    return out if hit[1:].all() else None


def _signals_from_reader(backend, reader, variable, ids, clear=False):
    """PyNN's ``Recorder._get_all_signals`` on NEST, from the backend's reads of the multimeter.

    The same array as ``pyNN.nest.recording`` builds (each cell's initial
    value, then its samples up to PyNN's clock), grouped with numpy instead
    of a Python loop over every sample.
    """
    if clear:
        raise ConfigurationError(
            f"{reader.population.label}: get_data(clear=True) while a co-simulation runs on "
            "NEST: the backend reads the multimeter after every window and clears it itself, "
            "so PyNN cannot clear what it no longer holds. Fix: call get_data() without clear "
            "(the co-simulation's result holds every sample too).")
    backend._collect()
    state = backend.sim.simulator.state
    recorder = reader.population.recorder
    if recorder._multimeter._clean and len(ids):
        grid = _on_grid(backend, reader, variable.name, ids, state,
                        float(recorder.sampling_interval))
        if grid is not None:
            return grid, None
    times, senders, values = join_samples(reader.chunks, reader.variables)
    valid = (times - state._time_offset) <= state.t
    senders, values = senders[valid], values[variable.name][valid]
    order = np.argsort(senders, kind="stable")  # each cell's samples in the order recorded
    senders, values = senders[order], values[order]
    wanted = np.asarray([int(i) for i in ids], dtype=np.int64)
    first = np.searchsorted(senders, wanted, side="left")
    counts = np.searchsorted(senders, wanted, side="right") - first
    initial = _initial_values(backend, reader, ids, variable.name).tolist()
    clean = reader.population.recorder._multimeter._clean
    if len(ids) and np.all(counts == counts[0]):
        columns = values[first[:, None] + np.arange(counts[0])[None, :]].T
        if clean:  # NEST records nothing at t = 0: PyNN puts the initial value there
            return np.vstack([np.asarray(initial, dtype=float)[None, :], columns]), None
        if len(columns):  # after a clear, the first sample is replaced, as PyNN does
            columns[0] = initial
        return columns, None
    # cells with different numbers of samples: PyNN's own layout, whatever numpy makes of it
    data = [([v] if clean else []) + values[f:f + n].tolist()
            for v, f, n in zip(initial, first, counts)]
    if not clean:
        for v, column in zip(initial, data):
            if column:
                column[0] = v
    return (np.array(data).T if len(ids) else np.array([])), None


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

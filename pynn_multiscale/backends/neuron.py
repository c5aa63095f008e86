"""NEURON through PyNN, with the whole co-simulation inside one NEURON run.

Region builders use plain PyNN (``pyNN.neuron``).  The loop itself bypasses
PyNN's ``run()`` (about 250 ms of overhead per call, see FINDINGS): the
windows of one :meth:`NeuronBackend.run_windows` call are one
``ParallelContext.psolve``, and the loop's Python code runs in timed
callbacks (``CVode.event``) at the window ends.

Mechanisms, and why:

* **Window ends.** NEURON delivers an event due at a grid time ``T`` (a
  spike source's spike at ``T``, the self-event that stamps a threshold
  crossing at ``T``) at the *start* of the step that begins at ``T``, and
  whether a callback at ``T`` runs before or after it depends on the sign
  of the round-off in ``h.t`` (measured: 55 % of the window ends).  The
  callback of window end ``T`` therefore runs at ``T + h/2`` (``h`` the
  spiking step), when NEURON has integrated one more step: every spike
  stamped ``<= T`` has been recorded, and spikes stamped after ``T`` are
  kept for the next window (spikes are assigned to windows by their time
  stamp, never by when NEURON delivered them).  Population means of state
  variables are sampled by a second callback at ``T - h/2``, which runs when
  NEURON stands at ``T``.  Between windows and between ``run`` calls,
  NEURON's clock therefore stands one spiking step after co-simulation time.
* **TVB rates -> Poisson trains.** The Poisson spikes are drawn in numpy
  (seeded by ``setup``) when the rates are set: per spiking step, the total
  count over the N targets is Poisson(N r h) and each spike goes to a
  uniformly drawn target, which is exactly N independent Poisson trains,
  at a cost proportional to the number of spikes (not to N x steps).  They
  reach the cells through NEURON's built-in ``PatternStim``, which sends a
  whole (time, gid) table through ``NetCon``s in C: one table per window and
  source, not one Python call per spike.  Each target neuron has its own
  input gid (never a cell on this host) and one ``NetCon`` onto the cell's
  ``esyn``/``isyn`` (PyNN's weight units: uS, or nA with the sign of the
  receptor for current synapses).  Rate value k of a window starting at t0
  gives spikes stamped at the ends of the spiking steps of
  ``(t0 + (k+1) dt, t0 + (k+2) dt]``, delivered ``delay`` later: NEST's
  one-spiking-step latency.  ``shared_fraction`` f sends (1 - f) r
  independently and f r through one train common to all targets, which
  (as on NEST, where a parrot relays it) arrives one ``min_delay`` later.
* **PatternStim's constraints, worked around.** (a) PatternStim restarts
  only at initialisation: a new table is installed with ``play()``,
  ``initps()`` and a fake self-event (``NetCon.event(t, 1)``); two stims per
  source take turns so that a table is never replaced while it is being
  sent.  (b) NEURON 9's ``nrn_fake_fire`` reaches only *input* gids, and a
  NetCon from an input gid must have a delay above the time step
  (``psolve`` fails with "mindelay is 0 (or less than dt for fixed step
  method)" at a delay of exactly dt); the spikes are therefore sent one
  spiking step early through NetCons one step longer, which delivers them
  at the same time.
* **Spike times per neuron (``set_trains``).** The same path, stamped at
  the end of their TVB step as on NEST.
* **Currents.** One ``IClamp`` per target neuron, its ``amp`` played by
  ``Vector.play`` from one (times, values) pair shared by the handle's
  clamps.  The times are the TVB grid (value k of a window starting at t0
  holds from ``t0 + (k+1) dt + delay``, as on NEST); the vectors are extended
  ahead of the run at every window so that the play never runs dry, and a
  window's values are written in place before they are due.
* **Offsets.** ``i_offset`` is the ``amp`` of the ``IClamp`` PyNN puts in
  every cell; it is set at the callback, i.e. it takes effect one spiking
  step after the window's end (NEST: at the window's end).
* **Spikes -> counts.** ``ParallelContext.spike_record`` of every cell of a
  population into one pair of vectors, emptied at each read: the cost per
  window is the window's spikes.  A cell's spike recording is a single
  slot in NEURON (``spike_record`` and PyNN's ``NetCon.record`` replace each
  other): cells whose spikes the builder asked PyNN to record are read from
  PyNN's own vectors instead, so that ``get_data()`` keeps working.

Upstream defect not worked around: PyNN never frees a NEURON network.
Its cells are ``nrn.Section`` subclasses holding references to
themselves, which Python's garbage collector cannot break, and
``pyNN.neuron.projections`` keeps every Projection in a module-level list.
The cells of a finished co-simulation therefore stay alive and are
integrated by every later run in the process: correct, but slower.
:meth:`NeuronBackend.setup` warns when it finds such cells;
``tests/test_neuron_backend.py::test_upstream_cells_outlive_end`` fails
once PyNN frees them.

Upstream defect worked around: on pyNN.neuron, setting a
``SpikeSourcePoisson`` rate before the first run raises
``nrn_thread_not_initialized_for_nc_target`` (PyNN sends an event before
NEURON has initialised the cells).  The rate proxies here do not use
PyNN's Poisson sources; ``tests/test_neuron_backend.py::
test_upstream_poisson_rate_before_first_run_crashes`` fails once PyNN is fixed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CapabilityError, ConfigurationError
from .base import GlobalStateGuard, recorded_signal_names, setup_arguments, step_of

#: NEURON's state is global: at most one live backend per process.
_GUARD = GlobalStateGuard("NEURON's state", "NEURON")

#: First gid of the input gids (PyNN numbers cells from 0, gap junctions from 1e6).
_GID_BASE = 1 << 30


class NeuronBackend:
    """The NEURON backend (see the module docstring)."""

    name = "neuron"
    threads_note = ("PyNN's NEURON backend does not set up NEURON's threads "
                    "(ParallelContext.nthread)")
    #: The process-wide guard of the simulator's global state (CoSimulation asks it to make room).
    guard = _GUARD

    def __init__(self, sim):
        from neuron import h

        self.sim = sim
        self.h = h
        self._finished = False
        self._set_up = False
        # set by setup: PyNN's state and NEURON's solver objects, the steps and the handles
        self._state = self._pc = self._cvode = None
        self._dt = self._min_delay = None
        self._rng = None
        self._next_gid = _GID_BASE
        self._sources, self._currents, self._counters, self._readers = [], [], [], []
        self._time = 0.0     # co-simulation time reached
        self._initialised = False

    def version(self) -> str:
        import neuron

        return str(neuron.__version__)

    # ----------------------------------------------------------- lifecycle
    def setup(self, timestep, min_delay, seed, max_delay=None):
        _GUARD.check()
        leftover = _cells_alive(self.h)
        if leftover:
            warnings.warn(
                f"{leftover} NEURON sections of an earlier network in this process are still "
                "alive and will be integrated in every run of this one: PyNN never frees its "
                "NEURON cells (see the module docstring). Results are unaffected, speed is "
                "not. Fix: run each co-simulation on NEURON in its own process.",
                RuntimeWarning, stacklevel=3)
        self.sim.setup(**setup_arguments(timestep, min_delay, max_delay,
                                         native_rng_baseseed=seed))
        self._state = self.sim.simulator.state
        self._pc = self._state.parallel_context
        self._cvode = self._state.cvode
        self._dt = float(self.h.dt)
        self._min_delay = float(min_delay)
        self._rng = np.random.default_rng(seed)
        self._next_gid = _GID_BASE
        self._sources = []   # Poisson and train handles
        self._currents = []
        self._counters = []
        self._readers = []
        self._time = 0.0     # co-simulation time reached
        self._initialised = False
        self._set_up = True
        _GUARD.claim(self)

    def start(self):
        """Nothing to do: NEURON is initialised by the first run (see :meth:`_init`)."""

    def finish(self):
        if not self._finished:
            self._finished = True
            if self._set_up:
                self.sim.end()
                # drop our NetCons and stims before the next setup clears the gids
                for handle in self._sources:
                    handle.clear()
                self._sources, self._currents, self._readers, self._counters = [], [], [], []
        _GUARD.release(self)

    # --------------------------------------------------------------- time
    def _init(self):
        """PyNN's first-run initialisation (``finitialize``), once every object exists."""
        if self._initialised:
            return
        for handle in self._currents:
            self._extend_grid(handle, self._dt)  # a play needs its first values at init
        _mechanisms_start_from_initial_values(self.sim)
        self._state._pre_run()
        self._initialised = True

    def advance(self, t_stop):
        """Run to ``t_stop`` (one window); nothing to do if it is reached already."""
        if float(t_stop) > self._time + 1e-9 * self._dt:
            self.run_windows([t_stop], lambda k: None)

    def run_windows(self, t_stops, between):
        """One ``psolve`` through every window end; ``between(k)`` runs at each (see the docstring)."""
        h, dt = self.h, self._dt
        t_stops = [float(t) for t in t_stops]
        if not t_stops:
            return
        if t_stops[0] <= self._time + 1e-9 * dt or np.any(np.diff(t_stops) <= 0):
            raise ConfigurationError(f"run_windows needs increasing window ends after the time "
                                     f"reached ({self._time:g} ms), got {t_stops[:3]}...")
        self._init()
        n = len(t_stops)
        run = {"k": 0, "error": None}
        cvode = self._cvode

        def sample():
            for reader in self._readers:
                reader.value = self._gather_mean(reader)
                reader.time = run["T"]

        def schedule(k):
            T = t_stops[k]
            run["T"] = T
            if self._readers:
                if T - 0.5 * dt <= h.t:
                    sample()  # NEURON stands at T already (a one-step window)
                else:
                    cvode.event(T - 0.5 * dt, sample)
            cvode.event(T + 0.5 * dt, end_of_window)

        def end_of_window():
            k = run["k"]
            try:
                self._time = t_stops[k]
                between(k)
                if k + 1 < n:
                    self._feed(t_stops[k + 1])
                    schedule(k + 1)
            except BaseException as exc:  # NEURON would turn it into a hoc error
                run["error"] = exc
                h.stoprun = 1
            run["k"] = k + 1

        self._state._update_current_sources(t_stops[-1] + dt)  # PyNN's own current sources
        self._feed(t_stops[0])
        schedule(0)
        self._state.tstop = t_stops[-1] + dt
        h.stoprun = 0
        # NEURON's watchdog aborts the process (nrn_timeout, then a segfault) when
        # simulated time stands still for 20 s: a window's Python work (e.g.
        # Elephant's SIP trains on a busy machine) can take that long
        timeout = self._pc.timeout(0)
        try:
            self._pc.psolve(t_stops[-1] + dt)
        finally:
            self._pc.timeout(timeout)
        h.stoprun = 0
        if run["error"] is not None:
            raise run["error"]
        if run["k"] != n:
            raise RuntimeError(f"NEURON stopped at t = {h.t} ms after {run['k']} of {n} windows")

    # ------------------------------------------------------------- proxies
    def _synapse(self, population, weight, receptor_type):
        """(synapse objects, NEURON weight) for a proxy onto ``population``."""
        celltype = population.celltype
        cells = [c._cell for c in population]
        if receptor_type not in ("excitatory", "inhibitory"):
            raise CapabilityError(f"receptor_type {receptor_type!r}: the neuron backend supports "
                                  "'excitatory' and 'inhibitory'")
        # PyNN's Projection takes the cell's attribute named by the receptor type
        # (IF cells alias it to esyn/isyn; Izhikevich's is its voltage-jump process)
        synapses = [getattr(c, receptor_type, None) for c in cells]
        if not cells or any(s is None for s in synapses):
            raise CapabilityError(
                f"proxies onto {type(celltype).__name__} are not supported by the neuron backend: "
                "use a cell type with one excitatory and one inhibitory receptor "
                "(IF_cond_alpha, IF_cond_exp, IF_curr_alpha, IF_curr_exp, EIF_cond_exp_isfa_ista, "
                "HH_cond_exp, Izhikevich)")
        conductance = getattr(celltype, "conductance_based", True)
        sign = -1.0 if (receptor_type == "inhibitory" and not conductance) else 1.0
        return synapses, sign * float(weight)

    def _gids(self, n):
        first = self._next_gid
        self._next_gid += n
        return np.arange(first, first + n)

    def _connect(self, gid, synapse, weight, delay):
        nc = self._pc.gid_connect(int(gid), synapse)
        nc.weight[0] = weight
        nc.delay = delay
        return nc

    def _new_source(self, population, synapse_weight, delay, receptor_type):
        dt = self._dt
        if delay < dt - 1e-9:
            raise ConfigurationError(f"proxy delay {delay} ms is below the spiking step ({dt} ms)")
        synapses, weight = self._synapse(population, synapse_weight, receptor_type)
        gids = self._gids(len(synapses))
        # one step longer: spikes are sent one step early (see the module docstring)
        netcons = [self._connect(g, s, weight, delay + dt) for g, s in zip(gids, synapses)]
        stims = []
        for _ in range(2):
            ps = self.h.PatternStim()
            stims.append((ps, self.h.NetCon(None, ps)))
        handle = _Source(gids, netcons, stims)
        handle.synapses, handle.weight, handle.delay = synapses, weight, delay
        self._sources.append(handle)
        return handle

    def add_rate_source(self, population, synapse_weight, delay, receptor_type,
                        shared_fraction=0.0):
        """Independent Poisson input to every neuron, optionally with a shared part.

        With ``shared_fraction`` f, each neuron gets an independent train at
        (1 - f) r and one train at f r common to all of them, delivered one
        ``min_delay`` later (as NEST's parrot relay does), so the input counts
        of any two neurons correlate with coefficient f.
        """
        if self._initialised:
            raise ConfigurationError("add_rate_source after the first run")
        handle = self._new_source(population, synapse_weight, delay, receptor_type)
        handle.shared_fraction = float(shared_fraction)
        if shared_fraction > 0:
            (gid,) = self._gids(1)
            extra = max(self._min_delay, self._dt)
            handle.netcons += [self._connect(gid, s, handle.weight, delay + self._dt + extra)
                               for s in handle.synapses]
            handle.shared_gid = gid
        return handle

    def set_rates(self, handle, t0, dt, rates):
        """Draw the Poisson spikes of the steps ``(t0 + k dt, t0 + (k+1) dt]`` (see the docstring)."""
        rates = np.asarray(rates, dtype=float)
        h = self._dt
        m = int(round(dt / h))
        if m < 1 or abs(m * h - dt) > 1e-6 * h:
            raise ConfigurationError(f"the TVB step ({dt} ms) must be a multiple of the spiking "
                                     f"step ({h} ms)")
        n = rates.size
        # spike times: ends of the spiking steps of (t0 + (k+1) dt, t0 + (k+2) dt]
        times = t0 + dt * np.repeat(np.arange(1, n + 1), m) + h * np.tile(np.arange(1, m + 1), n)
        lam = np.repeat(rates, m) * (h / 1000.0)  # expected spikes per target and step
        f = handle.shared_fraction
        size = handle.gids.size
        counts = self._rng.poisson((1.0 - f) * size * lam)
        spikes = np.repeat(times, counts)
        gids = handle.gids[self._rng.integers(0, size, spikes.size)]
        if f > 0:
            shared = self._rng.poisson(f * lam)
            spikes = np.concatenate([spikes, np.repeat(times, shared)])
            gids = np.concatenate([gids, np.full(int(shared.sum()), handle.shared_gid)])
        self._queue(handle, spikes, gids)

    def add_train_sources(self, population, synapse_weight, delay, receptor_type):
        """One input gid per target neuron, one to one."""
        if self._initialised:
            raise ConfigurationError("add_train_sources after the first run")
        return self._new_source(population, synapse_weight, delay, receptor_type)

    def set_trains(self, handle, trains, t0, dt):
        """Each neuron's spikes of the next window, stamped at the end of their TVB step."""
        spikes, gids = [], []
        for gid, times in zip(handle.gids, trains):
            steps = step_of(times, t0, dt)
            spikes.append(t0 + np.maximum(steps, 1) * dt)
            gids.append(np.full(steps.size, gid))
        if spikes:
            self._queue(handle, np.concatenate(spikes), np.concatenate(gids))

    def _queue(self, handle, spikes, gids):
        """Keep spikes (stamps) until their window is fed; they are sent one step early."""
        if spikes.size == 0:
            return
        spikes = np.round(spikes, 9)
        if self._initialised and spikes.min() + handle.delay < self.h.t + 1e-9 * self._dt:
            raise ConfigurationError(
                f"spikes at {spikes.min():g} ms were scheduled after they were due "
                "(set a window's input before running it)")
        send = spikes - self._dt
        order = np.argsort(send, kind="stable")
        handle.pending.append((send[order], gids[order].astype(float)))

    def _feed(self, horizon):
        """Give every source the spikes it sends until NEURON stands at ``horizon + h``."""
        h = self.h
        until = horizon + self._dt
        for handle in self._currents:  # keep every play ahead of the run
            self._extend_grid(handle, self._dt, until + handle.delay + 2 * handle.step)
        for handle in self._sources:
            times, gids, rest = [], [], []
            for t, g in handle.pending:
                cut = np.searchsorted(t, until + 1e-9 * self._dt, side="right")
                if cut:
                    times.append(t[:cut])
                    gids.append(g[:cut])
                if cut < t.size:
                    rest.append((t[cut:], g[cut:]))
            handle.pending = rest
            if not times:
                continue
            t = np.concatenate(times)
            g = np.concatenate(gids)
            if len(times) > 1:
                order = np.argsort(t, kind="stable")
                t, g = t[order], g[order]
            ps, kick = handle.stims[handle.turn]
            handle.turn = 1 - handle.turn
            ps.play(h.Vector(t), h.Vector(g))
            ps.initps()
            kick.event(h.t, 1)

    def add_current_source(self, population, delay=None):
        """One ``IClamp`` per neuron, all played from one pair of vectors."""
        if self._initialised:
            raise ConfigurationError("add_current_source after the first run")
        h = self.h
        delay = max(self._min_delay, self._dt) if delay is None else float(delay)
        clamps = []
        for cell in population:
            ic = h.IClamp(cell._cell(0.5))
            ic.delay, ic.dur, ic.amp = 0.0, 1e12, 0.0
            clamps.append(ic)
        handle = CurrentSource(clamps, delay, h.Vector(), h.Vector())
        for ic in clamps:
            handle.values.play(ic._ref_amp, handle.times)
        self._currents.append(handle)
        return handle

    def _extend_grid(self, handle, step, until=None):
        """Grid times ``delay + j * step`` (values 0) up to ``until``, at least two of them."""
        if handle.step is None:
            handle.step = step
        step = handle.step
        times, values = handle.times, handle.values
        n = times.size()
        j_max = int(np.ceil(((until if until is not None else 0.0) - handle.delay) / step)) + 1
        j_max = max(j_max, 2)
        if j_max > n:
            j = np.arange(n + 1, j_max + 1)
            times.append(self.h.Vector(np.round(handle.delay + j * step, 9)))
            values.append(self.h.Vector(np.zeros(j.size)))

    def set_currents(self, handle, t0, dt, amplitudes):
        """Amplitudes in nA, one per TVB step: value k holds from ``t0 + (k+1) dt + delay``."""
        amplitudes = np.asarray(amplitudes, dtype=float)
        if handle.step is None:
            handle.step = float(dt)
        step = handle.step
        ratio = int(round(dt / step))
        first = (t0 + dt) / step
        if ratio < 1 or abs(ratio * step - dt) > 1e-6 * step or abs(first - round(first)) > 1e-6:
            raise ConfigurationError(f"set_currents: steps of {dt} ms from {t0} ms do not fall on "
                                     f"the current source's grid ({step} ms)")
        j0 = int(round(first))  # grid index (1-based) of value 0's start
        n = amplitudes.size * ratio
        self._extend_grid(handle, step, handle.delay + (j0 + n) * step)
        if self._initialised and handle.delay + j0 * step < self.h.t - 1e-9:
            raise ConfigurationError(f"set_currents for t = {t0 + dt:g} ms after it had started")
        view = handle.values.as_numpy()
        view[j0 - 1:j0 - 1 + n] = np.repeat(amplitudes, ratio)
        # values after the schedule: 0, as on NEST
        if j0 - 1 + n < view.size:
            view[j0 - 1 + n] = 0.0

    def add_offset(self, population):
        return Cells([c._cell for c in population])

    def set_offset(self, handle, value):
        """PyNN's ``i_offset`` (nA): the ``amp`` of the IClamp in every PyNN cell."""
        value = float(value)
        for cell in handle.cells:
            cell.stim.amp = value

    #: PyNN state variable -> the cell attribute holding it
    _STATE_REFS = {"v": lambda c: c.source_section(0.5)._ref_v,
                   "gsyn_exc": lambda c: c.esyn._ref_g, "gsyn_inh": lambda c: c.isyn._ref_g}

    def add_state_reader(self, population, variable):
        if variable not in self._STATE_REFS:
            raise CapabilityError(f"MeanState({variable!r}) is not supported by the neuron backend: "
                                  f"use one of {sorted(self._STATE_REFS)}")
        if variable != "v" and not getattr(population.celltype, "conductance_based", False):
            raise CapabilityError(
                f"MeanState({variable!r}) is not supported by the neuron backend for "
                f"{type(population.celltype).__name__}: it has no synaptic conductance. Use a "
                "conductance-based cell type (IF_cond_alpha, IF_cond_exp) for conductances.")
        cells = [c._cell for c in population]
        pointers = self.h.PtrVector(len(cells))
        for i, cell in enumerate(cells):
            pointers.pset(i, self._STATE_REFS[variable](cell))
        reader = StateReader(pointers, self.h.Vector(len(cells)))
        self._readers.append(reader)
        return reader

    def _gather_mean(self, reader):
        reader.pointers.gather(reader.buffer)
        return float(reader.buffer.as_numpy().mean())

    def read_state_mean(self, handle):
        """The population mean of a state variable at the window's end, in PyNN's units.

        Sampled when NEURON stood at the window's end (see the module
        docstring); outside a window loop (before any run), the state now.
        """
        if handle.time is not None and abs(handle.time - self._time) < 1e-9 * self._dt:
            return handle.value
        return self._gather_mean(handle)  # before any run: the state now

    def add_spike_counter(self, population):
        h = self.h
        times, ids = h.Vector(), h.Vector()
        recorded = set()
        for variable, cells in population.recorder.recorded.items():
            if variable.name == "spikes":
                recorded |= {int(c) for c in cells}
        gids = np.array([int(c) for c in population], dtype=np.int64)
        own, pynn = [], []
        for i, cell in enumerate(population):
            if int(cell) in recorded and cell._cell.rec is not None:
                pynn.append((i, cell._cell))  # PyNN records it: read PyNN's vector
            else:
                self._pc.spike_record(int(cell), times, ids)
                own.append(i)
        order = np.argsort(gids)
        handle = SpikeCounter(times, ids, gids[order], order, [(i, cell, 0) for i, cell in pynn])
        self._counters.append(handle)
        return handle

    def window_spikes(self, handle):
        """Spikes stamped up to the last window end, since the previous call."""
        times = handle.times.as_numpy().copy()
        ids = handle.ids.as_numpy().astype(np.int64)
        handle.times.resize(0)
        handle.ids.resize(0)
        index = handle.index[np.searchsorted(handle.gids, ids)]
        parts_t, parts_i = [handle.carry[0], times], [handle.carry[1], index]
        if handle.pynn:
            updated = []
            for i, cell, read in handle.pynn:
                new = cell.spike_times.as_numpy()[read:]
                parts_t.append(new.copy())
                parts_i.append(np.full(new.size, i, dtype=np.int64))
                updated.append((i, cell, read + new.size))
            handle.pynn = updated
        times = np.concatenate(parts_t)
        index = np.concatenate(parts_i)
        now = times <= self._time + 1e-6 * self._dt
        handle.carry = (times[~now], index[~now])
        times, index = times[now], index[now]
        if len(parts_t) > 2:
            order = np.argsort(times, kind="stable")
            times, index = times[order], index[order]
        return np.round(times, 9), index

    def recorded_signals(self, population) -> list:
        """Analog signals (``v``, ``gsyn_exc``, ...) that the builder asked PyNN to record.

        NEURON's clock stands one spiking step after co-simulation time (see
        the module docstring): the signals are cut at co-simulation time.
        """
        names = recorded_signal_names(population)
        if not names:
            return []
        block = population.get_data(names)
        out = []
        for signal in block.segments[-1].analogsignals:
            t = signal.times.rescale("ms").magnitude
            out.append(signal[:int(np.count_nonzero(t <= self._time + 1e-6 * self._dt))])
        return out


@dataclass
class CurrentSource:
    """One ``IClamp`` per neuron, all playing one pair of (times, values) vectors."""

    clamps: list
    delay: float
    times: Any
    values: Any
    step: float | None = None  # the grid of the vectors, fixed by the first schedule


@dataclass
class Cells:
    """The NEURON cells of a population (for their ``i_offset``)."""

    cells: list


@dataclass
class StateReader:
    """Pointers to a state variable of every cell; the mean sampled at the last window end."""

    pointers: Any
    buffer: Any
    value: float | None = None
    time: float | None = None


@dataclass
class SpikeCounter:
    """NEURON's spike record of a population, and PyNN's vectors of the cells PyNN records."""

    times: Any
    ids: Any
    gids: np.ndarray
    index: np.ndarray
    pynn: list  # (index, cell, spikes read) of the cells whose spikes PyNN records
    carry: tuple = field(default_factory=lambda: (np.empty(0), np.empty(0, dtype=np.int64)))


class _Source:
    """Input gids, their NetCons, two PatternStims and the spikes not yet fed."""

    def __init__(self, gids, netcons, stims):
        self.synapses, self.weight, self.delay = [], None, None  # set by the backend
        self.gids = gids
        self.netcons = netcons
        self.stims = stims
        self.turn = 0
        self.pending = []
        self.shared_fraction = 0.0

    def clear(self):
        for ps, _ in self.stims:
            ps.play()
        self.netcons = []
        self.stims = []
        self.pending = []
        self.synapses = []  # the cells can go once the co-simulation is closed


#: PyNN NEURON mechanism -> (state variable, the parameter its INITIAL block copies into it)
_INITIAL_PARAMETERS = {"izh": ("u", "uinit"), "adexp": ("w", "winit")}


def _mechanisms_start_from_initial_values(sim) -> None:
    """Make PyNN's NEURON ``Izhikevich`` and AdEx cells start from the values given to ``initialize``.

    Upstream defect (PyNN 0.13): PyNN writes the initial ``u`` (Izhikevich)
    or ``w`` (``EIF_cond_*_isfa_ista``) before NEURON runs the mechanism's
    INITIAL block, which then sets ``u = uinit`` (-14) or ``w = winit`` (0),
    so ``initialize(u=...)`` and ``initialize(w=...)`` are lost.  With
    ``a = 0`` (a QIF neuron) that u is a constant current of 14 mV/ms for
    the whole run; the AdEx pair's E cells started without adaptation and
    fired twice the rate.  Setting ``uinit``/``winit`` to the initial value,
    cell by cell, before the first run fixes it.
    """
    for population in sim.simulator.initializer.population_list:
        _start_from_initial_values(population)


def _start_from_initial_values(population) -> None:
    """Copy each local cell's initial ``u``/``w`` into the parameter its mechanism starts from."""
    for cell in population:
        for mechanism_name, (variable, parameter) in _INITIAL_PARAMETERS.items():
            mechanism = getattr(cell._cell, mechanism_name, None)
            value = cell._cell.initial_values.get(variable) if mechanism is not None else None
            if value is not None and hasattr(mechanism, parameter):
                setattr(mechanism, parameter, float(value))


def _cells_alive(h) -> int:
    """Sections that exist now, besides the one PyNN creates at import."""
    import gc

    gc.collect()
    return max(0, sum(1 for _ in h.allsec()) - 1)


def set_state(population, values: dict) -> None:
    """``initialize`` that reaches AdEx's ``w``, and state changes after a run.

    See :func:`pynn_multiscale.backends.set_state`.  Before the first run:
    PyNN's ``initialize``, plus the mechanisms' ``winit``/``uinit``, which
    their initialisation copies into ``w``/``u``.  After a run (``initialize`` would wait
    for NEURON's next initialisation): ``v`` of every segment and AdEx's
    ``w`` are set directly; other variables are refused.
    """
    if not population._simulator.state.running:
        population.initialize(**values)
        _start_from_initial_values(population)
        return
    cells = list(population)
    for name, value in values.items():
        try:
            per_cell = np.broadcast_to(np.asarray(value, dtype=float), (len(cells),))
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"set_state: {name}={value!r} after a run on NEURON. Fix: pass a number or an "
                "array of one value per neuron.") from None
        for cell, x in zip(cells, per_cell):
            c = cell._cell
            if name == "w" and hasattr(c, "adexp"):
                c.adexp.w = c.adexp.winit = float(x)
            elif name == "v":
                for segment in c:
                    segment.v = float(x)
            else:
                raise CapabilityError(
                    f"set_state: {name} of {population.celltype.__class__.__name__} after a run "
                    "is not supported on NEURON (v and the AdEx w are). Fix: set it before the "
                    "first run.")


def make_backend(sim):
    if sim.__name__ != "pyNN.neuron":
        raise ConfigurationError(f"make_backend expects pyNN.neuron, got {sim.__name__}")
    return NeuronBackend(sim)

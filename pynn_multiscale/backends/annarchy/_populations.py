"""Population, PopulationView and Assembly over ANNarchy populations, and their recordings."""

from __future__ import annotations

import itertools

import neo
import numpy as np
import quantities as pq

from ...errors import ConfigurationError, bad_value
from . import _cells
from ._simulator import annarchy, evaluate, state

_UNITS = {"v": "mV", "gsyn_exc": "uS", "gsyn_inh": "uS", "w": "nA", "u": "mV"}


def _outside(kind, name):
    return NotImplementedError(
        f"{kind}.{name} is outside the ANNarchy adapter's PyNN subset (see "
        "pynn_multiscale.backends.annarchy); use pyNN.nest, pyNN.brian2 or pyNN.neuron for it")


def _pynn_names(cls_name):
    import pyNN.common

    return set(dir(getattr(pyNN.common, cls_name)))


class _Subset:
    """Raises NotImplementedError for PyNN attributes the adapter does not provide."""

    _pynn_class = "Population"

    @property
    def receptor_types(self) -> list:
        """Every adapter cell type has PyNN's two standard receptors."""
        return ["excitatory", "inhibitory"]

    def __getattr__(self, name):
        if not name.startswith("_") and name in _pynn_names(self._pynn_class):
            raise _outside(self._pynn_class, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _celltype(cellclass, cellparams):
    if isinstance(cellclass, type) and issubclass(cellclass, _cells.StandardCellType):
        return cellclass(**(cellparams or {}))
    if isinstance(cellclass, _cells.StandardCellType):
        if cellparams:
            raise ConfigurationError(bad_value("cellparams", cellparams, "None with a cell type "
                                               "instance", "give the parameters to the cell type"))
        return cellclass
    name = getattr(cellclass, "__name__", type(cellclass).__name__)
    raise NotImplementedError(
        f"cell type {name} is outside the ANNarchy adapter's PyNN subset: use one of "
        f"{', '.join(c.__name__ for c in _cells.CELL_TYPES)} from "
        "pynn_multiscale.backends.annarchy")


class Population(_Subset):
    """A PyNN ``Population`` of ``size`` neurons of one standard cell type."""

    _pynn_class = "Population"

    def __init__(self, size, cellclass, cellparams=None, structure=None, initial_values=None,
                 label=None):
        net = state.network()
        state.require_not_compiled("Population()")
        if structure is not None:
            raise _outside("Population", "structure")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ConfigurationError(bad_value("size", size, "a positive number of neurons",
                                               "pass e.g. Population(100, ...)"))
        self.size = int(size)
        self.celltype = _celltype(cellclass, cellparams)
        index = len(state.populations)
        self.label = label or f"population{index}"
        ann = annarchy()
        ct = self.celltype
        self.split = 1  # ANNarchy neurons per PyNN neuron (Poisson sources, see _before_compile)
        if isinstance(ct, _cells.SpikeSourcePoisson):
            self._ann = None  # created at compile time, once the highest rate is known
        elif isinstance(ct, _cells.SpikeSourceArray):
            self._ann = net.create(ann.SpikeSourceArray(
                spike_times=self._spike_times(ct.parameters["spike_times"])))
        else:
            # no ANNarchy name: names enter the generated code, labels would force recompiles.
            # One neuron model per cell type and network: ANNarchy analyses a model's
            # equations (with sympy) once per model object, 0.5 s each
            models = state.neuron_models
            if type(ct) not in models:
                models[type(ct)] = ct.annarchy_neuron()
            self._ann = net.create(geometry=self.size, neuron=models[type(ct)])
        self._values = {}
        self._injected = np.zeros(self.size)
        for key, value in getattr(ct, "fixed", {}).items():
            setattr(self._ann, key, np.full(self.size, value))
        self._monitors = {}   # PyNN variable -> ANNarchy monitor
        self._spikes = []     # chunks of (steps, neuron index)
        self._signals = {}    # PyNN variable -> list of (n, size) chunks
        self._initial = {}    # PyNN variable -> values at the start of recording
        self._record_start = {}
        self._every = {}  # PyNN variable -> sampling interval in steps
        state.populations.append(self)
        params = {k: v for k, v in ct.parameters.items()
                  if not isinstance(ct, (_cells.SpikeSourcePoisson, _cells.SpikeSourceArray))
                  or k == "rate"}
        self.set(**params)
        defaults = {k: v for k, v in ct.default_initial_values.items() if k in ct.state_variables}
        self.initialize(**dict(defaults, **(initial_values or {})))

    def _spike_times(self, value):
        from pyNN.parameters import Sequence

        items = value if isinstance(value, (list, np.ndarray)) and len(value) and \
            isinstance(value[0], (Sequence, list, np.ndarray)) else [value] * self.size
        if len(items) != self.size:
            raise ConfigurationError(bad_value("spike_times", f"{len(items)} sequences",
                                               f"one sequence, or {self.size} (one per neuron)",
                                               "pass one list of times per neuron"))
        return [sorted(float(t) for t in np.asarray(getattr(s, "value", s), dtype=float))
                for s in items]

    def __repr__(self):
        return f"Population({self.size}, {type(self.celltype).__name__}, label={self.label!r})"

    def __len__(self):
        return self.size

    @property
    def local_size(self):
        return self.size

    def _code_key(self):
        # "inj": the models carry g_inj (a cache entry of an older adapter lacks it)
        return [type(self.celltype).__name__, self.size, self.split,
                sorted(self.celltype.renamed.items()), "inj"]

    # ------------------------------------------------------------ parameters
    def _write(self, name, pynn_values, mask=None):
        """Store PyNN-level values (for ``mask``, default all) and write them to ANNarchy."""
        full = self._values.get(name, np.zeros(self.size)).copy()
        if mask is None:
            full[:] = pynn_values
        else:
            full[mask] = pynn_values
        self._values[name] = full
        ct = self.celltype
        if isinstance(ct, _cells.SpikeSourcePoisson):
            if self._ann is not None:
                self._set_rates(full)
            return
        if isinstance(ct, _cells.SpikeSourceArray):
            raise _outside("Population.set", "spike_times")
        if name == "i_offset":
            full = full + self._injected
        setattr(self._ann, name, ct.to_annarchy(name, full, state.dt))

    def set(self, _mask=None, **parameters):
        """Set parameters (PyNN names and units): a number, an array or a RandomDistribution."""
        size = self.size if _mask is None else len(_mask)
        for name, value in parameters.items():
            if name not in self.celltype.parameters:
                raise ConfigurationError(bad_value(
                    "parameter", name, f"a parameter of {type(self.celltype).__name__}: "
                    f"{sorted(self.celltype.parameters)}", "check the PyNN name"))
            if name == "spike_times":
                raise _outside("Population.set", "spike_times")
            self._write(name, evaluate(value, size, name), _mask)

    def get(self, parameter_names, gather=True, simplify=True, _mask=None):
        """Read parameters back from ANNarchy, in PyNN's names and units."""
        names = [parameter_names] if isinstance(parameter_names, str) else list(parameter_names)
        out = []
        for name in names:
            if name not in self.celltype.parameters or name == "spike_times":
                raise ConfigurationError(bad_value("parameter_names", name, "a parameter of "
                                                   f"{type(self.celltype).__name__}",
                                                   "check the PyNN name"))
            if isinstance(self.celltype, _cells.SpikeSourcePoisson):
                values = self._values["rate"] if self._ann is None else \
                    np.asarray(self._ann.rates, dtype=float).reshape(self.size, self.split).sum(1)
            else:
                values = self.celltype.from_annarchy(
                    name, np.asarray(getattr(self._ann, name), dtype=float), state.dt)
                if name == "i_offset":
                    values = values - self.celltype.from_annarchy(name, self._injected, state.dt)
            values = np.broadcast_to(values, (self.size,))
            if _mask is not None:
                values = values[_mask]
            if simplify and values.size and np.all(values == values[0]):
                out.append(np.float64(values[0]))
            else:
                out.append(np.array(values))
        return out[0] if isinstance(parameter_names, str) else out

    def initialize(self, _mask=None, **initial_values):
        """Set state variables (``v``, and ``w`` or ``u`` where the model has them)."""
        size = self.size if _mask is None else len(_mask)
        for name, value in initial_values.items():
            if name not in self.celltype.state_variables:
                if name in ("isyn_exc", "isyn_inh", "gsyn_exc", "gsyn_inh"):
                    if np.all(np.asarray(value) == 0):  # ANNarchy's synaptic variables start at 0
                        continue
                    raise _outside("Population.initialize", name)
                raise ConfigurationError(bad_value("initial value", name,
                                                   f"one of {self.celltype.state_variables}",
                                                   "check the PyNN name"))
            values = evaluate(value, size, name)
            ann_name = self.celltype.recordables.get(name, (name, 1))[0]
            current = np.array(getattr(self._ann, ann_name), dtype=float).reshape(-1)
            current = np.broadcast_to(current, (self.size,)).copy()
            if _mask is None:
                current[:] = values
            else:
                current[_mask] = values
            setattr(self._ann, ann_name, current)

    def _set_injected(self, mask, delta):
        self._injected[mask] += delta
        if "i_offset" in self._values:
            self._write("i_offset", self._values["i_offset"])

    # ------------------------------------------------------------- recording
    def record(self, variables, to_file=None, sampling_interval=None):
        """Record ``"spikes"`` and/or state variables (``"v"``, ``"gsyn_exc"``...)."""
        if to_file is not None:
            raise _outside("Population.record", "to_file")
        every = 1
        if sampling_interval is not None:
            every = int(round(sampling_interval / state.dt))
            if every < 1 or abs(every * state.dt - sampling_interval) > 1e-9 * state.dt:
                raise ConfigurationError(bad_value(
                    "sampling_interval", sampling_interval,
                    f"a whole number of time steps ({state.dt} ms)",
                    f"pass a multiple of {state.dt} ms"))
        if variables is None:
            return
        if variables == "all":
            variables = ["spikes"] + list(self.celltype.recordables)
        names = [variables] if isinstance(variables, str) else list(variables)
        for name in names:
            if name in self._monitors:
                continue
            if name == "spikes":
                self._monitors[name] = None if self._ann is None else \
                    state.network().monitor(self._ann, ["spike"])
                continue
            if name not in self.celltype.recordables:
                raise ConfigurationError(bad_value(
                    "variables", name, f"'spikes' or one of {sorted(self.celltype.recordables)} "
                    f"for {type(self.celltype).__name__}", "check the PyNN name"))
            ann_name, _ = self.celltype.recordables[name]
            self._monitors[name] = state.network().monitor(self._ann, [ann_name])
            self._signals[name] = []
            self._every[name] = every
            self._record_start[name] = state.steps(state.t)
            self._initial[name] = np.array(np.broadcast_to(
                np.asarray(getattr(self._ann, ann_name), dtype=float), (self.size,)))

    def signal_intervals(self):
        """``{variable: sampling interval (ms)}`` of the analog signals recorded.

        PyNN keeps one interval per population in ``recorder.sampling_interval``;
        the adapter has no recorder and keeps one per variable.
        """
        return {name: every * state.dt for name, every in self._every.items()}

    #: Largest spike probability per step of one ANNarchy Poisson neuron.
    max_step_probability = 0.01

    def _before_compile(self):
        """Create a Poisson source population: ``split`` ANNarchy neurons per PyNN neuron.

        ANNarchy's Poisson neurons fire at most once per step (a Bernoulli draw
        with p = rate dt), which makes the count per step sub-Poisson: at the use
        case's 800 Hz background and dt 0.1 ms, p = 0.08 and the count variance
        is 8% too low, enough to lower a fluctuation-driven network's rates.
        Each PyNN source is therefore ``split`` ANNarchy neurons at rate / split,
        with ``split`` chosen so that p <= 0.01: the count per step is binomial,
        with a variance within 1% of Poisson's.  Projections and recordings
        see one source per PyNN neuron.
        """
        if not isinstance(self.celltype, _cells.SpikeSourcePoisson) or self._ann is not None:
            return
        rates = self._values["rate"]
        highest = float(rates.max()) * state.dt / 1000.0
        self.split = max(1, int(np.ceil(highest / self.max_step_probability)))
        self._ann = state.network().create(annarchy().PoissonPopulation(
            self.size * self.split, rates=np.repeat(rates / self.split, self.split)))
        if "spikes" in self._monitors:
            self._monitors["spikes"] = state.network().monitor(self._ann, ["spike"])

    def _set_rates(self, rates):
        if float(rates.max()) * state.dt / 1000.0 / self.split > 5 * self.max_step_probability:
            raise ConfigurationError(bad_value(
                "rate", float(rates.max()), f"at most {5 * self.max_step_probability * 1000 * self.split / state.dt:g} Hz after the first run "
                "(the sources were sized for the rates set before it)",
                "set the highest rate before the first run()"))
        self._ann.rates = np.repeat(rates / self.split, self.split)

    def _collect(self):
        """Move what ANNarchy's monitors hold into this population's buffers."""
        for name, monitor in self._monitors.items():
            if name == "spikes":
                # {rank: [steps]} of the neurons that spiked since the last read.  ANNarchy's
                # Monitor.get('spike') empties each neuron's list but keeps the entry, so
                # every read converts a list for every neuron (3.65 ms a read for 12 800
                # neurons, spiking or not); emptying the monitor's map itself (its C++
                # std::map, bound read-write) makes a read cost what the spikes in it cost.
                cy = monitor.cyInstance
                data = cy.spike
                cy.spike = {}
                lengths = np.fromiter(map(len, data.values()), np.int64, len(data))
                total = int(lengths.sum())
                if total:
                    steps = np.fromiter(itertools.chain.from_iterable(data.values()), np.int64,
                                        total)
                    ranks = np.fromiter(data.keys(), np.int64, len(data)) // self.split
                    self._spikes.append((steps, np.repeat(ranks, lengths)))
            else:
                ann_name, _ = self.celltype.recordables[name]
                values = np.asarray(monitor.get(ann_name), dtype=float)
                if values.size:
                    self._signals[name].append(values.reshape(-1, self.size))

    def spike_data(self, first_chunk=0):
        """Recorded spikes: times (ms, at the end of their step, as NEST) and neuron indices.

        ``first_chunk``: leave out the chunks collected before (a reader's position).
        """
        chunks = self._spikes[first_chunk:]
        if not chunks:
            return np.empty(0), np.empty(0, np.int64)
        steps = np.concatenate([s for s, _ in chunks])
        index = np.concatenate([i for _, i in chunks])
        return (steps + 1) * state.dt, index

    def get_data(self, variables="all", gather=True, clear=False, _mask=None):
        """The recorded data as a ``neo.Block`` laid out as PyNN's."""
        if variables == "all":
            variables = list(self._monitors)
        names = [variables] if isinstance(variables, str) else list(variables)
        mask = np.arange(self.size) if _mask is None else np.asarray(_mask)
        t_stop = state.t
        block = neo.Block(name=self.label, size=len(mask), first_index=int(mask[0]),
                          last_index=int(mask[-1]) + 1, label=self.label, simulator="ANNarchy",
                          dt=state.dt, mpi_processes=1)
        segment = neo.Segment(name="segment000")
        block.segments.append(segment)
        if "spikes" in names:
            if "spikes" not in self._monitors:
                raise ConfigurationError(bad_value("variables", "spikes", "a recorded variable",
                                                   "call record('spikes') before running"))
            times, index = self.spike_data()
            for i in mask:
                segment.spiketrains.append(neo.SpikeTrain(
                    np.sort(times[index == i]), units="ms", t_start=0.0, t_stop=t_stop,
                    source_population=self.label, source_index=int(i), channel_id=int(i)))
        for name in names:
            if name == "spikes":
                continue
            if name not in self._signals:
                raise ConfigurationError(bad_value("variables", name, "a recorded variable",
                                                   f"call record({name!r}) before running"))
            _, lag = self.celltype.recordables[name]
            chunks = self._signals[name]
            data = np.concatenate(chunks) if chunks else np.empty((0, self.size))
            if lag:  # sample k is the state at (k + 1) dt: the initial state comes first
                data = np.concatenate([self._initial[name][None, :], data])
            start = self._record_start[name] * state.dt
            every = self._every[name]  # recorded every step, sampled as PyNN would
            signal = neo.AnalogSignal(
                data[::every, mask], units=_UNITS.get(name, "dimensionless"),
                t_start=start * pq.ms, sampling_period=every * state.dt * pq.ms, name=name, source_population=self.label,
                channel_ids=mask.copy(), array_annotations={"channel_index": np.arange(len(mask))})
            segment.analogsignals.append(signal)
        if clear:
            self._spikes = []
            for name in self._signals:
                self._signals[name] = []
        return block

    # ------------------------------------------------------------ composition
    def __getitem__(self, index):
        return PopulationView(self, index)

    def __add__(self, other):
        return Assembly(self, other)

    def _parts(self):
        """(population, parent indices) pieces, in order."""
        return [(self, np.arange(self.size))]


class PopulationView(_Subset):
    """A subset of a population's neurons (by slice, index array or boolean mask)."""

    _pynn_class = "PopulationView"

    def __init__(self, parent, selector, label=None):
        if isinstance(parent, PopulationView):
            mask = parent.mask[selector]
            parent = parent.parent
        else:
            mask = np.arange(parent.size)[selector]
        mask = np.atleast_1d(np.asarray(mask, dtype=np.int64))
        if mask.size == 0:
            raise ConfigurationError(bad_value("selector", selector, "at least one neuron",
                                               "select a non-empty part of the population"))
        self.parent, self.mask = parent, mask
        self.size = int(mask.size)
        self.celltype = parent.celltype
        self.label = label or f"view of {parent.label!r} with size {self.size}"

    def __len__(self):
        return self.size

    def set(self, **parameters):
        self.parent.set(_mask=self.mask, **parameters)

    def get(self, parameter_names, gather=True, simplify=True):
        return self.parent.get(parameter_names, gather, simplify, _mask=self.mask)

    def initialize(self, **initial_values):
        self.parent.initialize(_mask=self.mask, **initial_values)

    def record(self, variables, to_file=None, sampling_interval=None):
        self.parent.record(variables, to_file, sampling_interval)

    def get_data(self, variables="all", gather=True, clear=False):
        return self.parent.get_data(variables, gather, clear, _mask=self.mask)

    def __getitem__(self, index):
        return PopulationView(self, index)

    def __add__(self, other):
        return Assembly(self, other)

    @property
    def grandparent(self):
        """The whole population the view selects from (PyNN's name for it)."""
        return self.parent

    def index_in_grandparent(self, indices):
        """The view's neurons ``indices``, as indices in :attr:`grandparent` (as PyNN)."""
        return self.mask[indices]

    def _parts(self):
        return [(self.parent, self.mask)]


class Assembly(_Subset):
    """Several populations (or views) taken together, e.g. ``e + i``."""

    _pynn_class = "Assembly"

    def __init__(self, *populations, label=None):
        parts = []
        for p in populations:
            if not isinstance(p, (Population, PopulationView, Assembly)):
                raise ConfigurationError(bad_value("populations", type(p).__name__,
                                                   "Populations, PopulationViews or Assemblies",
                                                   "add populations together: e + i"))
            parts.append(p)
        self.populations = parts
        self.size = sum(p.size for p in parts)
        self.label = label or "Assembly(" + ", ".join(p.label for p in parts) + ")"

    def __len__(self):
        return self.size

    def __add__(self, other):
        return Assembly(*self.populations, other)

    def set(self, **parameters):
        for p in self.populations:
            p.set(**parameters)

    def initialize(self, **initial_values):
        for p in self.populations:
            p.initialize(**initial_values)

    def record(self, variables, to_file=None, sampling_interval=None):
        for p in self.populations:
            p.record(variables, to_file, sampling_interval)

    def _parts(self):
        return [part for p in self.populations for part in p._parts()]

"""Connectors, ``StaticSynapse`` and ``Projection``.

Every connector draws its connections from the PyNN ``rng`` it is given (a
``pyNN.random.NumpyRNG``), with the same calls in the same order as PyNN's
own connectors, so a seeded builder gives the same connections as on
``pyNN.nest`` (``FixedProbabilityConnector``, ``FixedNumberPreConnector``;
tested).  The connections reach ANNarchy as one sparse
matrix per pair of populations (``from_sparse``) when the delay is uniform,
and as ANNarchy's list-of-lists connectivity (``from_function``) when
delays differ.  (ANNarchy 5.0.4.1's ``from_function`` with one uniform delay
stores it as if it were in steps rather than ms -- it reported 15 ms for
1.5 ms -- which is why uniform delays go through ``from_sparse``.)

Delays are rounded to the time step (ANNarchy stores whole steps) and must
be at least ``min_delay``; from a neuron population, ANNarchy gets one step
more than PyNN's value, so that spikes arrive when they do on NEST
(:meth:`Projection._latency`).
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigurationError, bad_value
from ._populations import Assembly, Population, PopulationView, _outside
from ._simulator import annarchy, evaluate, state

RECEPTORS = {"excitatory": "exc", "inhibitory": "inh"}


def _default_rng():
    from pyNN.random import NumpyRNG

    return NumpyRNG(seed=state.seed)


def _uniform(rng, n):
    return np.asarray(rng.next(n, "uniform", {"low": 0.0, "high": 1.0}), dtype=float).reshape(n)


class _Connector:
    def __init__(self, allow_self_connections=True, rng=None, safe=True, callback=None):
        if callback is not None:
            raise _outside("Connector", "callback")
        self.allow_self_connections = allow_self_connections
        self.rng = rng

    def _rng(self):
        return self.rng or _default_rng()

    def pairs(self, n_pre, n_post, same):
        """Pre and post indices of every connection (post-major order)."""
        raise NotImplementedError

    @staticmethod
    def _drop_self(pre, post, same, allow):
        if same and not allow:
            keep = pre != post
            return pre[keep], post[keep]
        return pre, post


class AllToAllConnector(_Connector):
    def pairs(self, n_pre, n_post, same):
        post, pre = np.divmod(np.arange(n_pre * n_post), n_pre)
        return self._drop_self(pre, post, same, self.allow_self_connections)


class OneToOneConnector(_Connector):
    def __init__(self, safe=True, callback=None):
        super().__init__(safe=safe, callback=callback)

    def pairs(self, n_pre, n_post, same):
        if n_pre != n_post:
            raise ConfigurationError(bad_value("OneToOneConnector", f"{n_pre} -> {n_post} neurons",
                                               "populations of the same size",
                                               "connect populations of equal size"))
        index = np.arange(n_pre)
        return index, index.copy()


class FixedProbabilityConnector(_Connector):
    def __init__(self, p_connect, allow_self_connections=True, rng=None, safe=True,
                 callback=None):
        super().__init__(allow_self_connections, rng, safe, callback)
        if not 0.0 <= float(p_connect) <= 1.0:
            raise ConfigurationError(bad_value("p_connect", p_connect, "a probability in [0, 1]",
                                               "pass e.g. 0.1"))
        self.p_connect = float(p_connect)

    def pairs(self, n_pre, n_post, same):
        draw = _uniform(self._rng(), n_pre * n_post) < self.p_connect
        post, pre = np.divmod(np.flatnonzero(draw), n_pre)
        return self._drop_self(pre, post, same, self.allow_self_connections)


class FixedNumberPreConnector(_Connector):
    def __init__(self, n, allow_self_connections=True, with_replacement=False, rng=None,
                 safe=True, callback=None):
        super().__init__(allow_self_connections, rng, safe, callback)
        if with_replacement:
            raise _outside("FixedNumberPreConnector", "with_replacement")
        self.n = int(n)

    def pairs(self, n_pre, n_post, same):
        """As PyNN draws them: per post neuron, the first n of a permutation of the candidates."""
        rng = self._rng()
        pre, post = [], []
        for j in range(n_post):
            candidates = np.arange(n_pre)
            if same and not self.allow_self_connections:
                candidates = candidates[candidates != j]
            if self.n > candidates.size:
                raise ConfigurationError(bad_value("n", self.n, f"at most {candidates.size} "
                                                   "presynaptic neurons", "pass a smaller n"))
            # a copy: a view would keep the whole permutation alive until the concatenation,
            # memory in n_pre x n_post (960 MB for 12 800 neurons)
            pre.append(np.asarray(rng.permutation(candidates))[:self.n].copy())
            post.append(np.full(self.n, j))
        return np.concatenate(pre).astype(np.int64), np.concatenate(post).astype(np.int64)


class FromListConnector(_Connector):
    """``(pre, post)`` or ``(pre, post, weight, delay)`` rows; ``column_names`` name extra columns."""

    def __init__(self, conn_list, column_names=None, safe=True, callback=None):
        super().__init__(safe=safe, callback=callback)
        rows = np.asarray(conn_list, dtype=float)
        if rows.ndim != 2 or rows.shape[1] < 2:
            raise ConfigurationError(bad_value("conn_list", f"shape {rows.shape}",
                                               "rows (pre, post[, weight, delay])",
                                               "pass a list of (i, j) or (i, j, w, d)"))
        names = list(column_names) if column_names else ["weight", "delay"][:rows.shape[1] - 2]
        if len(names) != rows.shape[1] - 2 or set(names) - {"weight", "delay"}:
            raise _outside("FromListConnector", f"columns {names}")
        self.rows, self.columns = rows, names

    def pairs(self, n_pre, n_post, same):
        pre, post = self.rows[:, 0].astype(np.int64), self.rows[:, 1].astype(np.int64)
        if pre.min(initial=0) < 0 or pre.max(initial=0) >= n_pre or \
                post.min(initial=0) < 0 or post.max(initial=0) >= n_post:
            raise ConfigurationError(bad_value("conn_list", "an index out of range",
                                               f"pre < {n_pre} and post < {n_post}",
                                               "check the indices"))
        return pre, post

    def column(self, name):
        return self.rows[:, 2 + self.columns.index(name)] if name in self.columns else None


class StaticSynapse:
    """A fixed weight (uS for conductance-based cells, nA for current-based, mV for
    Izhikevich) and delay (ms)."""

    def __init__(self, weight=0.0, delay=None):
        self.weight, self.delay = weight, delay


class Projection:
    """Connections from ``presynaptic`` to ``postsynaptic`` neurons, made by ``connector``."""

    def __init__(self, presynaptic, postsynaptic, connector, synapse_type=None, source=None,
                 receptor_type=None, space=None, label=None):
        state.network()
        state.require_not_compiled("Projection()")
        for name, value in (("presynaptic", presynaptic), ("postsynaptic", postsynaptic)):
            if not isinstance(value, (Population, PopulationView, Assembly)):
                raise ConfigurationError(bad_value(name, type(value).__name__,
                                                   "a Population, PopulationView or Assembly",
                                                   "pass the populations to connect"))
        if not isinstance(connector, _Connector):
            raise _outside("Projection", f"connector {type(connector).__name__}")
        synapse_type = synapse_type or StaticSynapse()
        if not isinstance(synapse_type, StaticSynapse):
            raise _outside("Projection", f"synapse type {type(synapse_type).__name__}")
        if source is not None or space is not None:
            raise _outside("Projection", "source" if source is not None else "space")
        receptor_type = receptor_type or "excitatory"
        if receptor_type not in RECEPTORS:
            raise ConfigurationError(bad_value("receptor_type", receptor_type,
                                               "'excitatory' or 'inhibitory'",
                                               "pass one of the two"))
        self.pre, self.post = presynaptic, postsynaptic
        self.receptor_type = receptor_type
        self.label = label or f"projection{len(state.projections)}"
        self.synapse_type = synapse_type
        same = presynaptic is postsynaptic
        pre, post = connector.pairs(presynaptic.size, postsynaptic.size, same)
        order = np.lexsort((pre, post))
        pre, post = pre[order], post[order]
        n = pre.size
        weights = connector.column("weight") if isinstance(connector, FromListConnector) else None
        delays = connector.column("delay") if isinstance(connector, FromListConnector) else None
        weights = evaluate(synapse_type.weight, n, "weight") if weights is None else weights[order]
        delay = state.min_delay if synapse_type.delay is None else synapse_type.delay
        delays = evaluate(delay, n, "delay") if delays is None else delays[order]
        self._check(weights, delays)
        self._pre_index, self._post_index = pre, post
        self._weights = weights.astype(float)
        self._delays = np.round(delays / state.dt) * state.dt
        self._parts = None
        state.projections.append(self)

    def _check(self, weights, delays):
        post_cells = {type(p.celltype) for p, _ in self.post._parts()}
        current_based = [c.current_based for c in post_cells]
        inhibitory = self.receptor_type == "inhibitory"
        if weights.size:
            if all(current_based) and inhibitory and weights.max() > 0:
                raise ConfigurationError(bad_value(
                    "weight", float(weights.max()), "negative weights for inhibitory synapses "
                    "onto current-based cells (PyNN's convention)", "pass -abs(weight)"))
            if (not all(current_based) or not inhibitory) and weights.min() < 0:
                raise ConfigurationError(bad_value(
                    "weight", float(weights.min()), "weights >= 0 (the receptor type sets the "
                    "sign, except inhibitory current-based synapses)", "pass abs(weight)"))
            short = delays.min() < state.min_delay - 1e-9
            if short or delays.max() > state.max_delay + 1e-9:
                value = float(delays.min() if short else delays.max())
                error = ConfigurationError(bad_value(
                    "delay", value,
                    f"delays within [min_delay, max_delay] = [{state.min_delay:g}, "
                    f"{state.max_delay:g}] ms", "pass a delay in that range, or change setup()"))
                # the bound this delay is outside of, for the co-simulation's own message
                # (and, for max_delay, to set up again with a larger one when it is derived)
                error.delay_bound = "min_delay" if short else "max_delay"
                error.delay_value = value
                raise error

    def __len__(self):
        return int(self._pre_index.size)

    def size(self, gather=True):
        return len(self)

    @staticmethod
    def _latency(pre_pop):
        """Extra ANNarchy delay (ms) that gives NEST's spike-to-arrival time.

        A neuron that crosses threshold in step k (NEST stamps the spike
        (k + 1) dt) reaches its targets ``d / dt`` steps after step k on
        ANNarchy, one step earlier than on NEST (measured: a spike stamped
        19.6 ms with a 2 ms delay arrived at 21.5 ms instead of 21.6 ms);
        spike sources emit in the step of their time stamp and need no
        correction.
        """
        return state.dt if pre_pop.celltype.injectable else 0.0

    def _code_key(self):
        delays = np.unique(np.round(self._delays / state.dt).astype(int) + any(
            p.celltype.injectable for p, _ in self.pre._parts())) * state.dt
        kind = "none" if delays.size == 0 else ("uniform-step" if delays.size == 1 and
                                                 delays[0] <= state.dt + 1e-9 else
                                                 "uniform" if delays.size == 1 else "variable")
        return [[state.populations.index(p) for p, _ in self.pre._parts()],
                [state.populations.index(p) for p, _ in self.post._parts()],
                RECEPTORS[self.receptor_type], kind]

    def _addresses(self):
        """Per connection, in our order: pre part, parent index, post part, parent index."""
        def locate(parts, index):
            offsets = np.cumsum([0] + [m.size for _, m in parts])
            which = np.searchsorted(offsets, index, side="right") - 1
            return which, np.concatenate([m for _, m in parts])[index]

        pre_which, pre_parent = locate(self.pre._parts(), self._pre_index)
        post_which, post_parent = locate(self.post._parts(), self._post_index)
        return pre_which, pre_parent, post_which, post_parent

    def _split(self):
        """Connections per (pre population, post population): parent indices and values."""
        pre_parts, post_parts = self.pre._parts(), self.post._parts()
        pre_which, pre_parent, post_which, post_parent = self._addresses()
        out = []
        for a, (pre_pop, _) in enumerate(pre_parts):
            for b, (post_pop, _) in enumerate(post_parts):
                sel = (pre_which == a) & (post_which == b)
                if sel.any():
                    out.append((pre_pop, post_pop, pre_parent[sel], post_parent[sel],
                                self._weights[sel], self._delays[sel]))
        return out

    def _connect(self):
        """Create the ANNarchy projections (at compile time, once every population exists)."""
        import scipy.sparse as sp

        ann = annarchy()
        net = state.network()
        self._parts = []
        for pre_pop, post_pop, pre, post, w, d in self._split():
            if len(set(zip(pre.tolist(), post.tolist()))) != pre.size:
                raise _outside("Projection", "several connections between one pair of neurons")
            factor = post_pop.celltype.weight_factor(state.dt)
            values = np.abs(w) * factor
            d = d + self._latency(pre_pop)
            if pre_pop.split > 1:  # each PyNN source is `split` ANNarchy neurons
                m = pre_pop.split
                pre = (pre[:, None] * m + np.arange(m)).ravel()
                post, values, d = (np.repeat(x, m) for x in (post, values, d))
            proj = net.connect(pre_pop._ann, post_pop._ann, target=RECEPTORS[self.receptor_type])
            if np.unique(d).size == 1 and np.all(values > 0):
                matrix = sp.csr_matrix((values, (pre, post)),
                                       shape=(pre_pop.size * pre_pop.split, post_pop.size))
                proj.from_sparse(matrix, delays=float(d[0]))
            else:
                rows = self._lil(pre, post, values, d)
                proj.from_function(method=lambda pre_, post_, dt, rows=rows: rows)
            self._parts.append((proj, pre_pop, post_pop, pre, post, factor))

    @staticmethod
    def _lil(pre, post, w, d):
        from ANNarchy.cython_ext import LILConnectivity

        lil = LILConnectivity(dt=state.dt)
        order = np.lexsort((pre, post))
        pre, post, w, d = pre[order], post[order], w[order], d[order]
        for j in np.unique(post):
            sel = post == j
            lil.add(int(j), pre[sel].tolist(), w[sel].tolist(), d[sel].tolist())
        return lil

    # ---------------------------------------------------------- read / write
    def get(self, attribute_names, format="list", gather=True, with_address=True,
            multiple_synapses="sum"):
        """``weight`` and/or ``delay``, as PyNN's ``format="list"`` or ``"array"``."""
        names = [attribute_names] if isinstance(attribute_names, str) else list(attribute_names)
        for name in names:
            if name not in ("weight", "delay"):
                raise _outside("Projection.get", name)
        values = {"weight": self._read_weights(), "delay": self._delays}
        if format == "list":
            columns = ([self._pre_index, self._post_index] if with_address else []) + \
                [values[n] for n in names]
            rows = np.column_stack(columns) if columns else np.empty((0, 0))
            if not with_address and isinstance(attribute_names, str):
                return [float(x) for x in rows[:, 0]]  # PyNN: plain values, not 1-tuples
            return [tuple(int(x) if k < 2 and with_address else float(x) for k, x in enumerate(r))
                    for r in rows]
        if format == "array":
            out = []
            for name in names:
                array = np.full((self.pre.size, self.post.size), np.nan)
                array[self._pre_index, self._post_index] = values[name]
                out.append(array)
            return out[0] if isinstance(attribute_names, str) else out
        raise ConfigurationError(bad_value("format", format, "'list' or 'array'",
                                           "pass one of the two"))

    def _read_weights(self):
        """Weights in PyNN's units: read from ANNarchy once compiled, else as given."""
        if not self._parts:
            return self._weights
        lookup = {}
        for proj, pre_pop, post_pop, _, _, factor in self._parts:
            for rank, dendrite_pre, dendrite_w in zip(proj.post_ranks, proj.pre_ranks, proj.w):
                w = np.broadcast_to(np.asarray(dendrite_w, dtype=float), (len(dendrite_pre),))
                for i, value in zip(dendrite_pre, w):
                    lookup[(id(pre_pop), int(i) // pre_pop.split, id(post_pop), int(rank))] = \
                        value / factor
        pre_parts, post_parts = self.pre._parts(), self.post._parts()
        pre_which, pre_parent, post_which, post_parent = self._addresses()
        read = np.array([lookup[(id(pre_parts[a][0]), int(i), id(post_parts[b][0]), int(j))]
                         for a, i, b, j in zip(pre_which, pre_parent, post_which, post_parent)])
        sign = np.where(self._weights < 0, -1.0, 1.0)
        return read.reshape(self._weights.shape) * sign

    def set(self, **attributes):
        for name in attributes:
            if name != "weight":
                raise _outside("Projection.set", name)
        state.require_not_compiled("Projection.set()")
        weights = evaluate(attributes["weight"], len(self), "weight")
        self._check(weights, self._delays)
        self._weights = weights

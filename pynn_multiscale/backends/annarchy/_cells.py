"""Cell types: PyNN's standard models on ANNarchy's built-in ones, through one table.

PyNN's names, units and defaults are the reference: the defaults come from
PyNN itself (``pyNN.standardmodels.cells``), and every parameter is passed to
ANNarchy explicitly, because ANNarchy's defaults differ (``tau_refrac`` 0,
``tau_syn`` 5 ms for the alpha models, Izhikevich ``d`` 8).  The units are
PyNN's on both sides (mV, ms, nF, nA, uS), except where :data:`CONVERSIONS`
says otherwise.

``CONVERSIONS`` -- PyNN value -> ANNarchy value, per model and parameter:

* During the refractory period ANNarchy freezes every variable whose name
  does not start with ``g_``; NEST keeps integrating all but ``v``.  The
  adapter's models rename the alpha models' ``alpha_exc``/``alpha_inh`` and
  EIF's ``w`` to ``g_...`` names (:meth:`StandardCellType.annarchy_neuron`).
* ``tau_refrac`` (all models): ANNarchy counts ``int(tau_refrac / dt)``
  refractory steps, so 2.0 ms at dt 0.01 gives 199 steps through round-off;
  NEST counts ``round(tau_refrac / dt)``.  The adapter passes
  ``(round(tau_refrac / dt) + 0.5) * dt``.
* Izhikevich ``i_offset``: PyNN's is in nA; NEST (and PyNN's NEST model)
  adds it in pA to ``dv/dt`` (mV/ms), ANNarchy adds its ``i_offset`` as is:
  x 1000.

Synaptic input: PyNN's receptor ``excitatory``/``inhibitory`` is ANNarchy's
target ``exc``/``inh``.  Current-based inhibitory weights are negative in
PyNN and positive in ANNarchy (its models subtract ``g_inh``).  In the alpha
models the conductance that drives ``v`` is ANNarchy's ``alpha_exc``/``alpha_inh``
(``g_exc`` is an auxiliary), so PyNN's ``gsyn_exc`` records ``alpha_exc``
(``g_alpha_exc`` in the adapter's models).
ANNarchy's alpha kernel peaks at ``exp((tau - dt/2)/tau)`` times NEST's
(0.5% high at tau 0.3 ms, dt 0.1 ms: measured, and left as it is).
Izhikevich's weights are voltage jumps in mV in PyNN (on NEST, Brian2 and
NEURON alike); its input is instantaneous in ANNarchy (``v += g_exc * dt``),
so its weights are divided by ``dt``.
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigurationError, bad_value


def _refractory(value, dt):
    return (np.round(np.asarray(value) / dt) + 0.5) * dt


def _refractory_back(value, dt):
    return np.round(np.asarray(value) / dt - 0.5) * dt


#: model -> parameter -> (PyNN -> ANNarchy, ANNarchy -> PyNN); functions of (values, dt).
CONVERSIONS = {
    "*": {"tau_refrac": (_refractory, _refractory_back)},
    "Izhikevich": {"i_offset": (lambda v, dt: 1000.0 * np.asarray(v),
                                lambda v, dt: np.asarray(v) / 1000.0)},
}


#: ANNarchy's target of injected currents (``g_inj`` in every model, reset every step).
INJECTED = "inj"


class StandardCellType:
    """A PyNN standard cell type (parameters in PyNN's names and units)."""

    #: PyNN's class in ``pyNN.standardmodels.cells`` (defaults, initial values).
    pynn_name = None
    #: Recordable (PyNN name) -> (ANNarchy variable, steps its sample k lags behind k * dt).
    recordables = {"v": ("v", 1)}
    #: Whether PyNN's weights for this model are currents (nA) rather than conductances (uS).
    current_based = False
    #: The state variables that ``initialize`` accepts.
    state_variables = ("v",)
    injectable = True

    def __init__(self, **parameters):
        from pyNN.standardmodels import cells

        reference = getattr(cells, self.pynn_name)
        unknown = sorted(set(parameters) - set(reference.default_parameters))
        if unknown:
            raise ConfigurationError(bad_value(
                f"{type(self).__name__} parameter", unknown[0],
                f"one of PyNN's parameters: {sorted(reference.default_parameters)}",
                "check the spelling (PyNN names and units)"))
        self.parameters = dict(reference.default_parameters, **parameters)
        self.default_parameters = dict(reference.default_parameters)
        self.default_initial_values = dict(reference.default_initial_values)

    def get_parameter_names(self):
        return list(self.default_parameters)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.parameters.items())})"

    #: ANNarchy variables renamed in the adapter's models (see :meth:`annarchy_neuron`).
    renamed = {}

    def annarchy_neuron(self):
        """The ANNarchy neuron model (parameter values are set per neuron afterwards).

        ANNarchy's built-in model, with the variables of :attr:`renamed` given
        names that start with ``g_``: ANNarchy 5.0.4.1 freezes every variable
        but ``v``-independent ``g_*`` ones during the refractory period (its
        ``unless_refractory`` flag is parsed but not used), while NEST keeps
        integrating all of them but ``v``.  Frozen, they hold back synaptic
        input (the alpha models' ``alpha_*``) and the EIF adaptation current
        ``w`` (measured: EIF spike times drifting 1.24 ms from NEST's over 13
        spikes; 0.18 ms with ``w`` integrated, in a numpy reimplementation).

        ``i_offset`` becomes ``i_offset + g_inj``: the current proxy's input
        (``cosim.py``), set every step by a ``CurrentInjection``, which leaves
        the neuron's own ``i_offset`` alone.
        """
        import re

        from ._simulator import annarchy

        ann = annarchy()
        base = getattr(ann, type(self).__name__)()
        texts = {"equations": base.equations, "spike": base.spike, "reset": base.reset}
        for old, new in self.renamed.items():
            for key, text in texts.items():
                text = re.sub(rf"\bd{old}/dt", f"d{new}/dt", text)
                texts[key] = re.sub(rf"\b{old}\b", new, text)
        # injected currents (the co-simulation's current proxy) arrive in g_inj, next to the
        # neuron's own i_offset; a target's variable is reset to 0 after every step
        texts["equations"] = re.sub(r"\bi_offset\b", f"(i_offset + g_{INJECTED})",
                                    texts["equations"])
        return ann.Neuron(parameters=base.parameters, equations=texts["equations"],
                          spike=texts["spike"], reset=texts["reset"],
                          refractory=base.refractory, name=f"pynn_{type(self).__name__}")

    def to_annarchy(self, name, values, dt):
        for table in (CONVERSIONS.get(type(self).__name__, {}), CONVERSIONS["*"]):
            if name in table:
                return np.asarray(table[name][0](values, dt), dtype=float)
        return np.asarray(values, dtype=float)

    def from_annarchy(self, name, values, dt):
        for table in (CONVERSIONS.get(type(self).__name__, {}), CONVERSIONS["*"]):
            if name in table:
                return np.asarray(table[name][1](values, dt), dtype=float)
        return np.asarray(values, dtype=float)

    def weight_factor(self, dt):
        """PyNN weight -> ANNarchy weight (sign handled by the projection)."""
        return 1.0


class IF_curr_exp(StandardCellType):
    pynn_name = "IF_curr_exp"
    current_based = True
    recordables = {"v": ("v", 1)}


class IF_curr_alpha(StandardCellType):
    pynn_name = "IF_curr_alpha"
    current_based = True
    recordables = {"v": ("v", 1)}
    renamed = {"alpha_exc": "g_alpha_exc", "alpha_inh": "g_alpha_inh"}


class IF_cond_exp(StandardCellType):
    pynn_name = "IF_cond_exp"
    recordables = {"v": ("v", 1), "gsyn_exc": ("g_exc", 0), "gsyn_inh": ("g_inh", 0)}


class IF_cond_alpha(StandardCellType):
    pynn_name = "IF_cond_alpha"
    recordables = {"v": ("v", 1), "gsyn_exc": ("g_alpha_exc", 1),
                   "gsyn_inh": ("g_alpha_inh", 1)}
    renamed = {"alpha_exc": "g_alpha_exc", "alpha_inh": "g_alpha_inh"}


class EIF_cond_exp_isfa_ista(StandardCellType):
    pynn_name = "EIF_cond_exp_isfa_ista"
    recordables = {"v": ("v", 1), "w": ("g_adaptation", 1), "gsyn_exc": ("g_exc", 0),
                   "gsyn_inh": ("g_inh", 0)}
    state_variables = ("v", "w")
    renamed = {"w": "g_adaptation"}


class Izhikevich(StandardCellType):
    pynn_name = "Izhikevich"
    current_based = True
    recordables = {"v": ("v", 1), "u": ("u", 1)}
    state_variables = ("v", "u")
    #: Fixed as in NEST's ``izhikevich`` (not PyNN parameters).
    fixed = {"v_thresh": 30.0, "noise": 0.0, "tau_refrac": 0.0}

    def weight_factor(self, dt):
        return 1.0 / dt  # PyNN's jump of w mV is v += (w / dt) * dt


class SpikeSourcePoisson(StandardCellType):
    """Poisson spikes; each neuron is an independent source (ANNarchy ``PoissonPopulation``)."""

    pynn_name = "SpikeSourcePoisson"
    recordables = {}
    state_variables = ()
    injectable = False

    def __init__(self, **parameters):
        super().__init__(**parameters)
        if self.parameters["start"] != 0.0 or self.parameters["duration"] < 1e9:
            raise NotImplementedError(
                "SpikeSourcePoisson start/duration is outside the ANNarchy adapter's PyNN "
                "subset: use the default start=0 and duration, or set the rate to 0")


class SpikeSourceArray(StandardCellType):
    """Given spike times (ms), one list for all neurons or one per neuron."""

    pynn_name = "SpikeSourceArray"
    recordables = {}
    state_variables = ()
    injectable = False


CELL_TYPES = [IF_curr_exp, IF_curr_alpha, IF_cond_exp, IF_cond_alpha, EIF_cond_exp_isfa_ista,
              Izhikevich, SpikeSourcePoisson, SpikeSourceArray]

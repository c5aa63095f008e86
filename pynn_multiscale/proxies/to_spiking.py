"""TVB -> spiking proxies."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import check_name, check_transform, check_weight
from .binding import ToSpikingBinding, ToSpikingProxy
from .elephant_bulk import BulkTrains
from ..errors import ConfigurationError, bad_value


def _check_input(proxy, weights) -> str:
    """The checks every to_spiking proxy shares (names, transform, weights, delay); its kind."""
    name = type(proxy).__name__
    check_transform(name, proxy.transform)
    check_name(name, "tvb_variable", proxy.tvb_variable)
    check_name(name, "population", proxy.population)
    for field_name in weights:
        object.__setattr__(proxy, field_name, check_weight(name, field_name,
                                                           getattr(proxy, field_name)))
    if proxy.delay is not None:
        object.__setattr__(proxy, "delay", check_weight(name, "delay", proxy.delay,
                                                        allow_zero=False))
    return name


@dataclass(frozen=True)
class _SpikeInput(ToSpikingProxy):
    """The fields every spike-input proxy shares, and their checks."""

    tvb_variable: str
    population: str
    weight: float = 1.0
    synapse_weight: float = 0.0
    delay: float | None = None
    receptor_type: str = "excitatory"
    transform: object = field(default=None, kw_only=True)

    def __post_init__(self):
        name = _check_input(self, ("weight", "synapse_weight"))
        # any name here; the target cell type's receptors are known when the proxy binds
        check_name(name, "receptor_type", self.receptor_type)


@dataclass(frozen=True)
class RateToPoisson(_SpikeInput):
    """A TVB rate drives a population through independent Poisson trains.

    Each neuron of ``population`` receives its own inhomogeneous Poisson train
    whose rate, in Hz, is ``weight * c(t)``, where ``c(t)`` is TVB's delayed,
    weighted large-scale coupling on ``tvb_variable`` for that region.  The
    rate is piecewise constant over each TVB step.

    Parameters
    ----------
    tvb_variable : str
        A coupling variable of the TVB model, in Hz (e.g. ``"R_e"``).
    population : str
        The target population of each spiking region (e.g. ``"E"``).
    weight : float
        The interface weight that turns the mean rate into the rate each
        neuron receives; ``N_E`` in the seed (a neuron gets the input of
        ``N_E`` presynaptic neurons of the source region), ``lambda * N_E``
        for feedforward inhibition onto I.
    synapse_weight : float
        Synaptic weight of each input spike, in PyNN units, as in a PyNN
        Projection (uS for conductance-based cells, nA for current-based
        ones, a voltage jump in mV for Izhikevich).
    delay : float, optional
        Synaptic delay (ms) of the proxy's connections; default one spiking
        time step.  It adds to the connectome delay.
    receptor_type : str
        ``"excitatory"`` or ``"inhibitory"`` (PyNN's standard cell types, every backend),
        or, on NEST, a receptor of the target cell type by name (a NESTML model's port,
        e.g. ``"AMPA_EXT"``; ``celltype.receptor_types``).  Checked when the proxy binds.
    shared_fraction : float
        In [0, 1]: the part of each neuron's input rate drawn from one train
        common to the whole population (the input counts of two neurons then
        correlate with this coefficient); 0 gives fully independent trains.
    """

    shared_fraction: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        name = type(self).__name__
        fraction = check_weight(name, "shared_fraction", self.shared_fraction)
        if fraction > 1:
            raise ConfigurationError(bad_value(f"{name}.shared_fraction", fraction,
                                               "a fraction in [0, 1]", "pass e.g. 0.1"))
        object.__setattr__(self, "shared_fraction", fraction)

    #: What the backend must be able to do.
    capability = "poisson_rate"

    def bind(self, ctx):
        """One Poisson source per spiking region; in spiking coupling mode, one per source region."""
        if ctx.coupling_mode == "spiking":
            from .source_regions import SourceRegionsBinding

            return SourceRegionsBinding(self, ctx)
        backend, dt = ctx.backend, ctx.dt
        handles = [backend.add_rate_source(ctx.cells(self, idx),
                                           self.synapse_weight, ctx.delay(self.delay),
                                           self.receptor_type, self.shared_fraction)
                   for idx in ctx.spiking_regions]
        return ToSpikingBinding(self, ctx, handles, require_nonneg=True,
                                send_one=lambda h, v, t0, slot: backend.set_rates(h, t0, dt, v))


@dataclass(frozen=True)
class _CouplingToCurrent(ToSpikingProxy):
    tvb_variable: str
    population: str
    weight: float = 1.0
    delay: float | None = None
    transform: object = field(default=None, kw_only=True)

    def __post_init__(self):
        _check_input(self, ("weight",))


@dataclass(frozen=True)
class CurrentFromCoupling(_CouplingToCurrent):
    """TVB's coupling injected as a current into every neuron (the seed's "dc generator").

    Every neuron of ``population`` receives ``weight * c(t)`` nA, where
    ``c(t)`` is TVB's coupling on ``tvb_variable`` for the region, piecewise
    constant over each TVB step.  A PyNN ``StepCurrentSource``-like source;
    a window's amplitudes are set in one call.  Like the Poisson proxy, the
    amplitude of TVB step n starts one spiking step after the step begins.

    Parameters
    ----------
    tvb_variable : str
        A coupling variable of the TVB model (e.g. ``"S_e"``).
    population : str
    weight : float
        nA per unit of coupling.  For reduced Wong-Wang,
        :func:`pynn_multiscale.models.red_wong_wang.current_scale` derives it.
    delay : float, optional
        Delay (ms) of the source's connections; default one spiking step.
        It adds to the connectome delay, and a longer one lets NEST
        communicate less often (see ``CoSimulation``'s ``min_delay``).
    """

    capability = "step_current"

    def bind(self, ctx):
        backend, dt = ctx.backend, ctx.dt
        handles = [backend.add_current_source(ctx.cells(self, idx),
                                              ctx.delay(self.delay))
                   for idx in ctx.spiking_regions]
        return ToSpikingBinding(self, ctx, handles,
                                send_one=lambda h, v, t0, slot: backend.set_currents(h, t0, dt, v))


@dataclass(frozen=True)
class OffsetFromCoupling(_CouplingToCurrent):
    """TVB's coupling sets the offset current of every neuron (the seed's ``I_e`` update).

    PyNN's ``i_offset`` (nA) of every neuron of ``population`` is set, once
    per window, to ``weight`` times the coupling on ``tvb_variable`` averaged
    over the window's TVB steps (a parameter cannot change inside a window).
    ``delay`` is unused (there is no connection).
    """

    capability = "offset_current"
    makes_connections = False

    def bind(self, ctx):
        backend = ctx.backend
        handles = [backend.add_offset(ctx.cells(self, idx))
                   for idx in ctx.spiking_regions]
        return ToSpikingBinding(self, ctx, handles,
                                send_one=lambda h, v, t0, slot: backend.set_offset(h, v.mean()))


@dataclass(frozen=True)
class ElephantTrains(_SpikeInput):
    """A TVB rate drives a population through spike trains that Elephant generates.

    Each window, Elephant draws one train per target neuron at
    ``weight * c(t)`` Hz and the trains reach the neurons through spike
    sources (PyNN ``SpikeSourceArray``-like), one per neuron.

    Parameters
    ----------
    tvb_variable, population : str
    weight, synapse_weight, delay, receptor_type
        As for :class:`RateToPoisson`.
    process : str
        ``"poisson"``: independent inhomogeneous Poisson trains
        (``NonStationaryPoissonProcess``), the rate following every TVB step.
        ``"sip"``: a single-interaction process (Kuhn et al. 2003;
        ``single_interaction_process``): independent trains plus coincident
        spikes in all of them, at ``correlation`` times the rate.
        ``"mip"``: a multiple-interaction process (Kuhn et al. 2003): a mother
        process whose spikes each train copies with probability
        ``correlation`` (Elephant's ``compound_poisson_process`` with a
        binomial amplitude distribution).  SIP and MIP take the window's mean
        rate: Elephant's generators are stationary.  In both, the pairwise
        spike-count correlation of two trains is ``correlation``.
    correlation : float
        In [0, 1], for ``"sip"`` and ``"mip"``.
    """

    process: str = "poisson"
    correlation: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        name = type(self).__name__
        object.__setattr__(self, "correlation", check_weight(name, "correlation", self.correlation))
        if self.process not in ("poisson", "sip", "mip"):
            raise ConfigurationError(bad_value(f"{name}.process", self.process,
                                               "'poisson', 'sip' or 'mip'", "pick one of the three"))
        if self.correlation > 1 or (self.process == "mip" and self.correlation == 0):
            raise ConfigurationError(bad_value(
                f"{name}.correlation", self.correlation,
                "a fraction in [0, 1] (above 0 for 'mip')", "pass e.g. 0.1"))

    capability = "spike_trains"

    def bind(self, ctx):
        backend, dt = ctx.backend, ctx.dt
        pops = [ctx.cells(self, idx) for idx in ctx.spiking_regions]
        handles = [backend.add_train_sources(pop, self.synapse_weight, ctx.delay(self.delay),
                                             self.receptor_type) for pop in pops]

        stream = ctx.numpy_stream
        if type(self).generate is ElephantTrains.generate:
            # one generator per region: Elephant's processes drawn in bulk (elephant_bulk),
            # each from the stream
            generators = [BulkTrains(self.process, self.correlation, pop.size, stream)
                          for pop in pops]

            def draw(values, t0, slot):
                return generators[slot].window(values, t0, dt)
        else:  # a subclass's own trains, drawn from numpy's global generator

            def draw(values, t0, slot):
                with stream.active():
                    return self.generate(values, t0, dt, pops[slot].size)

        def send_one(handle, values, t0, slot):
            backend.set_trains(handle, draw(values, t0, slot), t0, dt)
        return ToSpikingBinding(self, ctx, handles, send_one=send_one, require_nonneg=True)

    def generate(self, rates, t0, dt, n):
        """``n`` spike trains (arrays of ms) over ``(t0, t0 + len(rates) * dt]``, one Elephant call.

        The reference: Elephant's own generator for one window, building a
        ``neo.SpikeTrain`` per neuron (slow: the binding draws the same
        processes in bulk, :mod:`~pynn_multiscale.proxies.elephant_bulk`).  A
        subclass that overrides it (e.g. fixed trains for a test) is called
        each window instead of the bulk generator.
        """
        import neo
        import quantities as pq
        from elephant import spike_train_generation as stg

        t_stop = t0 + rates.size * dt
        if self.process == "poisson":
            if not np.any(rates > 0):
                return [np.empty(0)] * n
            signal = neo.AnalogSignal(rates, units="Hz", sampling_period=dt * pq.ms,
                                      t_start=t0 * pq.ms)
            trains = stg.NonStationaryPoissonProcess(signal).generate_n_spiketrains(n)
        else:
            rate = float(np.mean(rates))
            if rate <= 0:
                return [np.empty(0)] * n
            if self.process == "sip":
                # stochastic: a Poisson number of coincidences (the deterministic
                # default rounds it down, to 0 in a window of a few ms)
                trains = stg.single_interaction_process(
                    rate * pq.Hz, coincidence_rate=self.correlation * rate * pq.Hz,
                    t_start=t0 * pq.ms, t_stop=t_stop * pq.ms, n_spiketrains=n,
                    coincidences="stochastic")
            else:
                from scipy.stats import binom

                amplitudes = binom.pmf(np.arange(n + 1), n, self.correlation)
                amplitudes[0] = 0.0  # a mother spike copied nowhere is no event
                amplitudes /= amplitudes.sum()
                amplitudes[-1] = 1.0 - amplitudes[:-1].sum()  # Elephant wants sum == 1 exactly
                trains = stg.compound_poisson_process(rate * pq.Hz, amplitudes,
                                                      t_start=t0 * pq.ms, t_stop=t_stop * pq.ms)
        return [np.asarray(st.rescale("ms").magnitude) for st in trains]

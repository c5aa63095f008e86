"""pynn_multiscale.units: quantities' unit lookups answered from its table, the same objects."""

import ast

import numpy as np
import quantities as pq
from quantities.registry import unit_registry

import pynn_multiscale  # noqa: F401  (installs quick_unit_lookups)
from pynn_multiscale.units import quick_unit_lookups

NAMES = ["dimensionless", "ms", "Hz", "mV", "nA", "UnitQuantity"]  # registered units' names
LABELS = NAMES + ["m/s", "10**-9*S", "g/cc", "in", "IN", "", "%", "kg·m", "kg.m", "m^2", " ms ",
                  "as"]  # attosecond's registered name, which quantities' parser refuses


def lookups(labels):
    out = {}
    for label in labels:
        try:
            out[label] = unit_registry[label]
        except Exception as err:  # noqa: BLE001 - the refusal itself is compared
            out[label] = (type(err).__name__, str(err))
    return out


def test_every_label_gives_what_quantities_gives():
    quick = lookups(LABELS + ["no_such_unit", "__import__"])
    quick_unit_lookups(False)
    try:
        own = lookups(LABELS + ["no_such_unit", "__import__"])
    finally:
        quick_unit_lookups()
    for label in own:
        if isinstance(own[label], tuple):
            assert quick[label] == own[label], label  # the same refusal
        elif label in NAMES:
            assert quick[label] is own[label], label  # a name: the very same unit object
        else:
            assert np.all(quick[label] == own[label]) and \
                quick[label].dimensionality == own[label].dimensionality, label
    assert quick["in"] is pq.inch and quick["dimensionless"] is pq.dimensionless
    assert quick["as"][0] == "SyntaxError"  # refused, as quantities refuses it


def test_upstream_parses_a_plain_name_at_every_lookup(monkeypatch):
    """Upstream defect (quantities 0.16): fails once quantities stops parsing plain names."""
    parses = []
    original = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: (parses.append(1), original(*a, **k))[1])
    quick_unit_lookups(False)
    try:
        for _ in range(3):
            unit_registry["dimensionless"]
        hash(pq.ms.dimensionality)
    finally:
        quick_unit_lookups()
    own = len(parses)
    for _ in range(3):
        unit_registry["dimensionless"]
    hash(pq.ms.dimensionality)
    assert own >= 4 and len(parses) == own  # quantities parsed each time, the quick path never


def test_elephant_trains_are_the_same_to_the_bit():
    from elephant import spike_train_generation as stg

    def trains():
        np.random.seed(3)
        out = stg.single_interaction_process(40 * pq.Hz, coincidence_rate=8 * pq.Hz,
                                             t_start=1.0 * pq.ms, t_stop=50.0 * pq.ms,
                                             n_spiketrains=30, coincidences="stochastic")
        return [st.rescale("ms").magnitude for st in out]

    quick = trains()
    quick_unit_lookups(False)
    try:
        own = trains()
    finally:
        quick_unit_lookups()
    assert len(own) == 30 and sum(t.size for t in own) > 30
    assert all(np.array_equal(a, b) for a, b in zip(quick, own))

"""The PyNN coverage suite (``features.py``): every feature on every backend.

For each feature and backend the result is one of: the same numbers as
NEST (every per-neuron measure within 3 standard errors of the difference,
and the feature's exact checks hold), a clear refusal (the package's
``CapabilityError``/``ConfigurationError`` or the ANNarchy adapter's
``NotImplementedError`` naming its subset), or a difference listed with its
reason in ``features.CONVENTIONS``.  Nothing else: no other exception, no
silent difference.  The capability table in ``docs/backends.md`` is this
suite's result (``python tests/crosssim/report.py --features`` writes it).
"""

import functools
import os

import pytest

import features as F

SIMULATORS = ["nest", "brian2", "neuron", "annarchy"]
DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "backends.md")


@functools.lru_cache(maxsize=None)
def results(simulator, scale=1.0):
    return F.coverage(simulator, scale)


def test_nest_runs_every_feature_and_its_exact_checks_hold():
    ref = results("nest")
    assert set(ref) == set(F.FEATURES)
    assert not [n for n, e in ref.items() if "refused" in e], ref
    assert all(all(e["checks"].values()) for e in ref.values())
    assert all(e["measures"]["rate (Hz)"].mean() > 2.0 for e in ref.values())


@pytest.mark.parametrize("simulator", SIMULATORS[1:])
def test_each_feature_is_the_same_as_nest_or_clearly_refused(simulator):
    ref, got = results("nest"), results(simulator)
    verdicts = {n: F.verdict(got[n], ref[n], simulator, n) for n in F.FEATURES}
    wrong = {n: v for n, v in verdicts.items()
             if v not in ("same", "refused") and not v.startswith("same, except by convention")}
    assert not wrong, wrong
    for n, v in verdicts.items():
        if v == "refused":  # a refusal says what to do, or names the adapter's subset
            message = got[n]["refused"][1]
            assert "Fix:" in message or "outside the ANNarchy adapter" in message, message


def test_control_a_ten_percent_faster_input_is_told_apart():
    ref, control = results("nest"), results("nest", 1.1)
    for name in F.FEATURES:
        d = F.difference_in_se(control[name]["measures"]["rate (Hz)"],
                               ref[name]["measures"]["rate (Hz)"])
        assert d > 3.0, (name, d)


def test_the_in_degree_criterion_resolves_a_ten_percent_change():
    """The in-degree does not depend on the input rate: its resolution is checked directly."""
    values = results("nest")["Grid2D"]["measures"]["in-degree"]
    mean, sem = F.mean_and_sem(values)
    assert 0.1 * mean > 3.0 * (2 ** 0.5) * sem, (mean, sem)


def test_the_capability_table_in_the_docs_is_this_suites_result():
    rows = F.table({s: results(s) for s in SIMULATORS})
    with open(DOCS) as f:
        text = f.read()
    assert "\n".join(rows) in text, "\n".join(rows)

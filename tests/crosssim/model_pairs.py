"""Scenario 5: every model pair's transfer check, in short, on every simulator.

Each pair of ``pynn_multiscale/models`` (its TVB model, its PyNN builder, its
own to-spiking and to-TVB proxies, the cosim options its own test uses) is
driven at two constant inputs, as ``transfer.spiking_transfer`` drives it
(``scenarios.PAIR_SCENARIOS``: the levels, sizes and run lengths), with
three independent replicates per level.  A replicate is one network of
every level (unconnected regions, each with its own constant coupling), in
its own process with its own seed; the replicates' networks have the same
structure, so Brian2 and ANNarchy compile once per pair.
The measured value is the pair's transfer-check value per region: the
to-TVB variable averaged after the transient (Jansen-Rit: the pyramidal
pulse density ``S(y1 - y2)`` the rest of a brain would receive).

Acceptance (scenario 3's criterion): per level, the backend's mean over the
replicates agrees with NEST's within 10% of NEST's or within 3 standard
errors of the difference, whichever is larger; the standard error is taken
over replicates (each one a sample of the whole node).  The same holds for
every population's mean rate, the quantity scenarios 3 and 4 compare.

A check that cannot tell the two levels apart would pass a backend that
drops the input: ``test_reference_levels_are_told_apart`` requires NEST's
two levels to differ by more than that tolerance.

The checks are written once here; each pair has its test module,
``test_pair_<name>.py``, which takes them with :func:`pair_tests` (one file
per pair spreads the pairs over the suite's workers; with the suite's
``--dist loadfile`` (Makefile) a pair's NEST reference is computed once, in
its module's process).  A new pair needs an entry in
``PAIRS`` below, in ``scenarios.PAIR_SCENARIOS`` /
``scenarios._own_pair_pieces``, and a ``test_pair_<name>.py``.

``adex`` runs 600 neurons at c = 0 and 5 Hz per external synapse, TVB and
the networks at 0.1 ms.  Until 2026-12-03 the pair disagreed on every backend
because PyNN's ``initialize(w=...)`` reached Brian2 and ANNarchy only (NEST
got it 1000 times too small, NEURON reset it to 0): ``backends.set_state``.

Backend defects this scenario found, and how the pairs now avoid them:

* ``jansen_rit`` on Brian2: with ``tau_m = tau_syn_E = 1/a`` every
  population stayed silent (P 0 Hz against NEST's 78 and 92 Hz): PyNN's
  Brian2 ``IF_curr_exp`` is integrated with the exact solution, which
  divides by ``tau_m - tau_syn`` (ZeroDivisionError in the state updater;
  one cell alone runs at 10.001 ms).  The pair now sets ``tau_syn_E =
  1.001 / a`` and divides the weight by 1.001 (jansen_rit.TAU_SYN_E_FACTOR).
* ``wilson_cowan`` on Brian2 at c = 0: one 7000 Hz background source per E
  cell (rate * dt = 0.7) is a ``PoissonGroup`` firing at most once per step,
  with 30% of a Poisson count's variance (FINDINGS.md); the
  fluctuation-driven uncoupled node stayed silent (E 0 Hz against NEST's
  18.8 Hz).  On Brian2 the scenario builds the node with ``bg_sources=10``
  (the same Poisson process as ten sources of 700 Hz; scenarios.PAIR_BACKEND_SIZE).
* ``red_wong_wang`` on Brian2 at c = 0.3: E fired 10% above NEST (10.07 Hz
  against 9.14, three seeds each, SE 0.03 and 0.08): PyNN's Brian2 integrates
  conductance-based IF cells with explicit Euler, and at 0.05 ms the excess
  halves (9.66 against NEST's 9.24), as a first-order error does.  On Brian2
  the scenario runs that pair at 0.05 ms (scenarios.PAIR_BACKEND_KWARGS).
  (With all replicates in one network, NEST's replicates happened to spread
  to 9.54 +- 0.42 and the test passed.)
* ``adex`` on ANNarchy at c = 5 Hz: one 3000 Hz Poisson source per E cell
  fires at most once per step, 0.695 of a Poisson count's variance, which
  silenced the fluctuation-driven E cells (E 0.83 Hz against NEST's
  1.23-1.41).  The ANNarchy backend now warns when a rate proxy loses more
  than 5% of the variance, and the scenario gives that pair ten sources of a
  tenth of the rate per neuron (scenarios.PAIR_BACKEND_SETTINGS).
* ``montbrio_qif`` and ``jansen_rit`` on ANNarchy needed ``CurrentFromCoupling``,
  which the ANNarchy backend now has (``step_current``).
"""

import numpy as np
import pytest

import scenarios as S

PAIRS = ["red_wong_wang", "montbrio_qif", "jansen_rit", "wilson_cowan", "adex"]
#: (pair, simulator) -> why that case is not asserted yet (report.py lists them)
NOT_YET = {}
CASES = [(pair, simulator) for pair in PAIRS for simulator in S.OTHERS
         if (pair, simulator) not in NOT_YET]
RELATIVE = 0.10


def agreement(ref_values, got_values):
    """Per level: (|got - ref|, tolerance, ref, got); scenario 3's criterion over replicates."""
    rows = []
    for ref_row, got_row in zip(np.asarray(ref_values), np.asarray(got_values)):
        (ref, ref_se), (got, got_se) = S.mean_and_sem(ref_row), S.mean_and_sem(got_row)
        tolerance = max(RELATIVE * abs(ref), 3 * np.hypot(ref_se, got_se))
        rows.append((abs(got - ref), tolerance, ref, got))
    return rows


def transfer_values_agree(pair, simulator):
    rows = agreement(S.pair_transfer(S.REFERENCE, pair)["values"],
                     S.pair_transfer(simulator, pair)["values"])
    assert all(diff <= tol for diff, tol, *_ in rows), rows


def population_rates_agree(pair, simulator):
    ref, got = S.pair_transfer(S.REFERENCE, pair)["rates"], S.pair_transfer(simulator, pair)["rates"]
    assert sorted(got) == sorted(ref)
    failed = {name: rows for name in ref
              for rows in [agreement(ref[name], got[name])]
              if not all(diff <= tol for diff, tol, *_ in rows)}
    assert not failed, failed


def reference_levels_are_told_apart(pair):
    """NEST's two levels differ by more than the tolerance: a backend that lost the input fails."""
    (low, high) = S.pair_transfer(S.REFERENCE, pair)["values"]
    (diff, tolerance, *_), = agreement([low], [high])
    assert diff > tolerance, (low, high, tolerance)


def pair_tests(pair):
    """The three tests of ``pair``, for its module: ``test_a, test_b, test_c = pair_tests(pair)``."""
    simulators = [simulator for p, simulator in CASES if p == pair]

    @pytest.mark.slow
    @pytest.mark.parametrize("simulator", simulators)
    def test_transfer_values_agree_with_nest(simulator):
        transfer_values_agree(pair, simulator)

    @pytest.mark.slow
    @pytest.mark.parametrize("simulator", simulators)
    def test_population_rates_agree_with_nest(simulator):
        population_rates_agree(pair, simulator)

    @pytest.mark.slow
    def test_reference_levels_are_told_apart():
        reference_levels_are_told_apart(pair)

    return (test_transfer_values_agree_with_nest, test_population_rates_agree_with_nest,
            test_reference_levels_are_told_apart)

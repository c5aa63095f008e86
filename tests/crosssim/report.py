"""Write docs/validation.md: every cross-simulator scenario's figures on every simulator.

It runs the same scenario functions and applies the same criteria as the
tests in this directory, and prints the table it writes::

    python tests/crosssim/report.py            # writes docs/validation.md
    python tests/crosssim/report.py --stdout   # prints it only
    python tests/crosssim/report.py --pairs    # scenario 5 (the model pairs) only
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, ".."), os.path.join(HERE, "..", "..")]

import scenarios as S  # noqa: E402
import test_ei_region as s3  # noqa: E402
import model_pairs as s5  # noqa: E402
import test_poisson_population as s2  # noqa: E402
import test_single_cells as s1  # noqa: E402
import test_w1_cosimulation as s4  # noqa: E402

OK = {True: "yes", False: "**NO**"}


def versions():
    import importlib.metadata as md

    names = {"nest": "nest-simulator", "brian2": "Brian2", "neuron": "neuron",
             "annarchy": "ANNarchy"}
    return ", ".join(f"{s} {md.version(n)}" for s, n in names.items() if s in S.SIMULATORS)


def scenario_1():
    rows = ["| cell type | simulator | spikes (NEST) | max spike-time error (ms) | limit | "
            "max V error before 1st spike (mV) | limit | pass |", "|---" * 8 + "|"]
    for celltype in S.CELLS:
        ref = S.single_cell(S.REFERENCE, celltype)
        before = ref["t"] < ref["spikes"][0] - 1.0
        for simulator in S.OTHERS:
            got = S.single_cell(simulator, celltype)
            same_count = got["spikes"].size == ref["spikes"].size
            t_err = np.abs(got["spikes"] - s1.grid_shift(simulator, got["spikes"].size)
                           - ref["spikes"]).max() if same_count else np.inf
            v_err = np.abs(got["v"][before] - ref["v"][before]).max()
            v_lim = 2 * s1.first_order_v_bound(celltype)
            passed = same_count and t_err <= s1.SPIKE_TOLERANCE and v_err <= v_lim
            rows.append(f"| {celltype} | {simulator} | {got['spikes'].size} "
                        f"({ref['spikes'].size}) | {t_err:.3f} | {s1.SPIKE_TOLERANCE} | "
                        f"{v_err:.5f} | {v_lim:.5f} | {OK[passed]} |")
    return rows


def scenario_2():
    rows = ["| simulator | spikes | rate (Hz, mean +- SE) | CV of ISI | rate diff. from NEST (SE) | "
            "CV diff. (SE) | diff. from NEST at +10% input (SE) | pass |", "|---" * 8 + "|"]
    ref = S.poisson_population(S.REFERENCE)
    control = S.mean_and_sem(S.poisson_population(S.REFERENCE, rate_scale=1.1)["rates"])
    for simulator in S.SIMULATORS:
        got = S.poisson_population(simulator)
        rate, cv = S.mean_and_sem(got["rates"]), S.mean_and_sem(got["cvs"])
        d_rate = s2.difference_in_se(rate, S.mean_and_sem(ref["rates"]))
        d_cv = s2.difference_in_se(cv, S.mean_and_sem(ref["cvs"]))
        d_control = s2.difference_in_se(rate, control)
        passed = got["n_spikes"] >= 2000 and d_rate < 3 and d_cv < 3 and d_control > 3
        rows.append(f"| {simulator} | {got['n_spikes']} | {rate[0]:.2f} +- {rate[1]:.2f} | "
                    f"{cv[0]:.3f} +- {cv[1]:.3f} | {d_rate:.2f} | {d_cv:.2f} | {d_control:.1f} | "
                    f"{OK[passed]} |")
    rows.append(f"\nNEST at +10% excitatory input: {control[0]:.2f} +- {control[1]:.2f} Hz.")
    return rows


def scenario_3():
    rows = ["| simulator | population | rate (Hz, mean +- SE over seeds) | NEST | |difference| | "
            "limit: max(10%, 3 SE) | pass |", "|---" * 7 + "|"]
    for simulator in S.SIMULATORS:
        for population in ("E", "I"):
            got, got_se = s3.over_seeds(simulator, population)
            ref, ref_se = s3.over_seeds(S.REFERENCE, population)
            limit = max(0.10 * ref, 3 * np.hypot(got_se, ref_se))
            passed = abs(got - ref) <= limit
            rows.append(f"| {simulator} | {population} | {got:.3f} +- {got_se:.3f} | "
                        f"{ref:.3f} +- {ref_se:.3f} | {abs(got - ref):.3f} | {limit:.3f} | "
                        f"{OK[passed]} |")
    return rows


def scenario_4():
    rows = ["| simulator | rates 31 E / I (Hz) | rates 65 E / I (Hz) | max rate diff. from NEST | "
            "effect: sign as NEST's | effect: max size diff. from NEST | time series: max RMS "
            "diff. / RMS effect | pass |", "|---" * 8 + "|"]
    nb = S.w1_neighbours()
    ref = S.w1(S.REFERENCE)
    ref_effect = s4.effect(S.REFERENCE)[:, nb]
    rms_effect = np.sqrt(np.mean(ref_effect ** 2, axis=0))
    for simulator in S.W1_SIMULATORS:
        got = S.w1(simulator)
        keys = [(idx, pop) for idx in S.W1_REGIONS for pop in ("E", "I")]
        rate_diff = max(abs(got[k] - ref[k]) / ref[k] for k in keys)
        got_effect = s4.effect(simulator)[:, nb]
        same_sign = bool(np.all(np.sign(got_effect.mean(0)) == np.sign(ref_effect.mean(0))))
        size_diff = float(np.max(np.abs(got_effect.mean(0) - ref_effect.mean(0))
                                 / np.abs(ref_effect.mean(0))))
        rms = float(np.max(np.sqrt(np.mean((got["S_e"][:, nb] - ref["S_e"][:, nb]) ** 2, axis=0))
                           / rms_effect))
        passed = rate_diff <= s4.RELATIVE and same_sign and size_diff <= s4.RELATIVE \
            and rms <= s4.RELATIVE
        r = {k: got[k] for k in keys}
        rows.append(f"| {simulator} | {r[(31, 'E')]:.2f} / {r[(31, 'I')]:.2f} | "
                    f"{r[(65, 'E')]:.2f} / {r[(65, 'I')]:.2f} | {100 * rate_diff:.1f}% | "
                    f"{OK[same_sign]} | {100 * size_diff:.1f}% | {100 * rms:.1f}% | {OK[passed]} |")
    rows.append(f"\n{len(nb)} regions receive a direct connection from region 31 or 65. "
                "Limits: 10% for each column.")
    return rows


def scenario_5():
    rows = ["| pair | simulator | level | transfer value (mean +- SE) | NEST | |difference| | "
            "limit: max(10%, 3 SE) | rates: every population within its limit | pass |",
            "|---" * 9 + "|"]
    for pair in S.PAIR_SCENARIOS:  # every pair with a scenario, those not yet in the tests too
        ref = S.pair_transfer(S.REFERENCE, pair)
        levels = S.PAIR_SCENARIOS[pair]["levels"]
        for simulator in S.OTHERS:
            got = S.pair_transfer(simulator, pair)
            value_rows = s5.agreement(ref["values"], got["values"])
            rates_ok = sorted(got["rates"]) == sorted(ref["rates"]) and all(
                diff <= tol for name in ref["rates"]
                for diff, tol, *_ in s5.agreement(ref["rates"][name], got["rates"][name]))
            for level, values, (diff, tol, r, g) in zip(levels, got["values"], value_rows):
                se = S.mean_and_sem(values)[1]
                rows.append(f"| {pair} | {simulator} | {level:g} | {g:.4g} +- {se:.2g} | {r:.4g} | "
                            f"{diff:.3g} | {tol:.3g} | {OK[rates_ok]} | "
                            f"{OK[bool(diff <= tol) and rates_ok]} |")
    return rows


def scenario_5_section():
    return "\n".join([
        SCENARIO_5_BEGIN,
        "## Scenario 5: every model pair's transfer check, in short",
        "",
        f"Generated on {datetime.date.today().isoformat()} ({versions()}). Each pair of "
        "`pynn_multiscale/models` at two constant inputs, three replicates per level, each "
        "replicate one network of both levels with its own seed "
        "(`scenarios.PAIR_SCENARIOS`: sizes, run lengths, the levels' units). "
        "The transfer value is what the pair's to-TVB proxy reports, averaged after the "
        "transient (Jansen-Rit: the pyramidal pulse density, 1/ms); the SE is over "
        "replicates. The tests (`test_pair_<name>.py`, the checks in `model_pairs.py`) assert every case of its `CASES`; "
        "the others are shown here as they stand: "
        + ("; ".join([f"{p} (no test yet)" for p in S.PAIR_SCENARIOS if p not in s5.PAIRS]
                     + [f"{p} on {sim}: {why}" for (p, sim), why in s5.NOT_YET.items()])
           or "none") + ".",
        "",
        *scenario_5(),
        SCENARIO_5_END,
    ])


def report():
    lines = [
        "# Cross-simulator validation",
        "",
        "Generated by `python tests/crosssim/report.py` on "
        f"{datetime.date.today().isoformat()} ({versions()}). The same scenarios and "
        "criteria run as tests in `tests/crosssim/`; each test module's docstring says "
        "where its tolerances come from. NEST is the reference.",
        "",
        "## Scenario 1: single neurons under a DC step",
        "",
        f"A 600 ms DC step, time step {S.SINGLE_DT} ms. Brian2's spike times are compared "
        "after taking out its stamping convention (spike k stamped (k + 1) dt early; "
        "`test_brian2_spike_grid_convention` checks it). The V limit is twice the "
        "first-order global error bound dt |V_inf - V_rest| / (2 e tau_m).",
        "",
        *scenario_1(),
        "",
        "## Scenario 2: a population with independent Poisson sources",
        "",
        f"{S.POISSON_N} IF_cond_exp neurons, {S.POISSON_K} excitatory and {S.POISSON_K} "
        f"inhibitory sources of their own, {S.POISSON_T:g} ms at {S.POISSON_DT} ms. Differences "
        "are in standard errors of the difference (SE over neurons); the criterion is < 3, "
        "and > 3 against NEST with a 10% higher excitatory rate (the positive control).",
        "",
        *scenario_2(),
        "",
        "## Scenario 3: the use case's E/I region alone",
        "",
        f"`red_wong_wang.build_spiking_region`, {S.REGION_T:g} ms at 0.1 ms, seeds "
        f"{list(S.REGION_SEEDS)}; the SE is over seeds.",
        "",
        *scenario_3(),
        "",
        "## Scenario 4: the W1 co-simulation, TVB noise off",
        "",
        f"Regions {list(S.W1_REGIONS)} spiking, {S.W1_T:g} ms, seed {S.W1_SEED}. The effect is "
        "S_e minus a control run in which the spiking regions send 0 Hz, in the regions "
        "they project to (time average per region).",
        "",
        *scenario_4(),
        "",
        scenario_5_section(),
        "",
    ]
    return "\n".join(lines)


SCENARIO_5_BEGIN = "<!-- scenario 5: written by python tests/crosssim/report.py --pairs -->"
SCENARIO_5_END = "<!-- end of scenario 5 -->"
BEGIN = "<!-- the capability table: written by python tests/crosssim/report.py --features -->"
END = "<!-- end of the capability table -->"


def write_marked(name, begin, end, block, append=False):
    """Replace docs/``name``'s text from marker ``begin`` to ``end`` (both included) by ``block``.

    Without the markers: ``block`` is appended if ``append``, else ValueError.
    """
    path = os.path.join(HERE, "..", "..", "docs", name)
    with open(path) as f:
        doc = f.read()
    if begin in doc or not append:
        head, rest = doc.split(begin)
        _, tail = rest.split(end)
        doc = f"{head}{block}{tail}"
    else:
        doc = f"{doc.rstrip()}\n\n{block}\n"
    with open(path, "w") as f:
        f.write(doc)


def write_features_table(stdout_only=False):
    import features as F
    import test_features as TF

    rows = F.table({s: F.coverage(s) for s in TF.SIMULATORS})
    text = "\n".join(rows)
    print(text)
    if stdout_only:
        return
    write_marked("backends.md", BEGIN, END, f"{BEGIN}\n{text}\n{END}")


def write_pairs_section(stdout_only=False):
    text = scenario_5_section()
    print(text)
    if stdout_only:
        return
    write_marked("validation.md", SCENARIO_5_BEGIN, SCENARIO_5_END, text, append=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdout", action="store_true", help="print only, write nothing")
    parser.add_argument("--features", action="store_true",
                        help="the capability table of the PyNN coverage suite, into "
                             "docs/backends.md (between its markers)")
    parser.add_argument("--pairs", action="store_true",
                        help="scenario 5 (the model pairs) only, into docs/validation.md "
                             "(replacing its section, or appended)")
    args = parser.parse_args(argv)
    if args.features:
        return write_features_table(args.stdout)
    if args.pairs:
        return write_pairs_section(args.stdout)
    text = report()
    print(text)
    if not args.stdout:
        path = os.path.join(HERE, "..", "..", "docs", "validation.md")
        with open(path, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

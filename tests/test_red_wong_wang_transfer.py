"""Reduced Wong-Wang <-> E/I IF_cond_alpha node: the transfer check of the original pair.

The input is a constant long-range input of sources sitting at the uncoupled
fixed point, with a summed gain ``g = G W`` (W: a region's summed connectome
weight; ``rww.long_range_input``): ``g S_e*`` on the mass's coupling and
``g R_e*`` Hz on the node's Poisson proxy.  The node's E rate (the pair's
SpikeRate proxy, low-passed into ``Rin_e``) is compared with the mass's
steady ``R_e`` (TVB alone, noise off).

This pair was calibrated by hand to one thing (docs/use_case.md): E between
2 and 4.5 Hz, I above E, in the W1 whole brain at G = 1, where a region's
gain g = G W is at most 0.34 on connectivity_68.  It was never fitted to the
mass's transfer curve, and the check shows it: the node is far more
sensitive to input than the mass (measured below).  So the criterion is a
calibrated band, asserted only where the pair is meant to be used
(g <= 0.3):

    |node - mass| <= 3 SE (over seeds) + 35% of the mass's rate,

35% being the largest measured deviation there (-27% at g = 0) with a
margin; above g = 0.3 the deviation is only reported (the figure).  The
positive control is at the calibration point's scale: a 10% weaker
background onto E drops the uncoupled node's rate below the band.
"""

import functools

import numpy as np

from isolation import isolated
from pynn_multiscale.models import red_wong_wang as rww
from pynn_multiscale.models import transfer

#: Gains g = G W: the range of use (G = 1 on connectivity_68: W <= 0.34), and one beyond.
LEVELS = (0.0, 0.1, 0.2, 0.3, 1.0)
IN_RANGE = 0.3
DURATION, TRANSIENT = 600.0, 200.0
SEEDS = (1, 2)
BAND = 0.35


def mass(levels=LEVELS):
    """The mass's steady R_e (Hz); a 1 ms step: Heun's fixed points are the equations' own."""
    return _mass(tuple(float(level) for level in levels)).copy()


@functools.lru_cache(maxsize=None)
def _mass(levels):
    """Once per levels and process: two tests ask for the same five levels (1 s of TVB each)."""
    make = functools.partial(rww.tvb_simulator, nsig=0.0, dt=1.0)
    return transfer.mean_field_transfer(make, levels, "R_e", duration=3000.0,
                                        couple=rww.long_range_input)


def _nest_transfer(bg_scale=1.0, levels=LEVELS):
    import pyNN.nest as sim

    params = dict(bg_rate_e=rww.NETWORK_PARAMS["bg_rate_e"] * bg_scale)
    build = functools.partial(rww.build_spiking_region, params=params)
    make = functools.partial(rww.tvb_simulator, nsig=0.0)
    # the node starts from uniform potentials: its first milliseconds are a synchronous
    # burst (I at 600 Hz), inside the discarded transient; the runaway check averages it
    # over 50 ms (max_rate_span), far below the default max_rate
    return transfer.spiking_transfer(
        sim, make, build, rww.default_to_spiking(G=1.0), rww.default_to_tvb(), levels, "Rin_e",
        DURATION, TRANSIENT, SEEDS, couple=rww.long_range_input).tolist()


nest_transfer = isolated(_nest_transfer)


def check(measured, mass_rates, levels=LEVELS):
    """Per level: (in range, passes, mean, sem, mass, tolerance)."""
    rows = []
    for level, values, m in zip(levels, np.asarray(measured), mass_rates):
        mean, sem = values.mean(), values.std(ddof=1) / np.sqrt(values.size)
        tolerance = 3 * sem + BAND * m
        rows.append((level <= IN_RANGE, abs(mean - m) <= tolerance, mean, sem, m, tolerance))
    return rows


def test_mass_steady_state_is_the_uncoupled_fixed_point():
    """At g = 0 TVB's integration ends on FIXED_POINT, and R_e rises with g."""
    rates = mass()
    assert abs(rates[0] - rww.FIXED_POINT["R_e"]) < 1e-3
    assert np.all(np.diff(rates) > 0)


def test_transfer_check_on_nest():
    rows = check(nest_transfer(), mass())
    save_figure(rows)
    report = "\n".join(f"g={lv:g}: {mean:.3f} ± {sem:.3f} Hz, mass {m:.3f}, tolerance {tol:.3f}"
                       for lv, (_, _, mean, sem, m, tol) in zip(LEVELS, rows))
    assert all(ok for used, ok, *_ in rows if used), report


def test_transfer_check_catches_a_ten_percent_weaker_background():
    levels = (0.0,)
    rows = check(nest_transfer(0.9, levels), mass(levels), levels)
    assert not rows[0][1], rows


def save_figure(rows):
    """The check's data (JSON) and the figure of docs/models.md, in results/transfer/."""
    import json
    from pathlib import Path

    import matplotlib
    matplotlib.use("Agg")
    from pynn_multiscale import plot

    out = Path(__file__).resolve().parent.parent / "results" / "transfer"
    out.mkdir(parents=True, exist_ok=True)
    keys = ("in_range", "passes", "mean_hz", "sem_hz", "mass_hz", "tolerance_hz")
    data = {"levels": list(LEVELS), "seeds": list(SEEDS), "duration_ms": DURATION,
            "transient_ms": TRANSIENT,
            **{k: [bool(r[i]) if i < 2 else float(r[i]) for r in rows] for i, k in enumerate(keys)}}
    (out / "red_wong_wang.json").write_text(json.dumps(data, indent=1))
    fine = np.linspace(0.0, 1.0, 21)
    ax = plot.transfer(LEVELS, data["mean_hz"], data["sem_hz"], (fine, mass(fine)),
                       xlabel="long-range gain g = G W (sources at the fixed point)",
                       ylabel="E rate (Hz)", title="reduced Wong-Wang <-> 800 E + 200 I (NEST)")
    ax.axvspan(0.0, IN_RANGE, color="C2", alpha=0.1, label="range of use (G = 1)")
    ax.legend(fontsize=7)
    ax.figure.savefig(out / "red_wong_wang.png", dpi=120)

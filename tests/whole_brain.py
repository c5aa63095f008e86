"""Both directions of a whole-brain co-simulation, measured the same way for every pair.

* TVB -> spiking: a spiking population's rate, in bins long against the
  network's correlation time, with the standard error of the bins; or the
  bin-by-bin difference of two runs that differ in one setting only (same
  seed: same network, same initial state), whose standard error is smaller.
* Spiking -> TVB: the run against a control with the same TVB simulator whose
  spiking regions send a replayed constant; directly connected TVB regions
  must differ by more than 3 standard errors across regions, and by more than
  the regions with no direct connection do.
"""

import numpy as np

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend


def binned_rates(result, regions, population, start, stop, bin_ms=20.0):
    """The rate (Hz) of ``population``, pooled over ``regions``, in bins of ``bin_ms`` from ``start``."""
    regions = [regions] if isinstance(regions, int) else regions
    trains = [s for r in regions for s in result.spiking[r].segments[0].spiketrains
              if s.annotations["population"] == population]
    edges = np.arange(start, stop + 1e-9, bin_ms)
    counts = sum(np.histogram(st.rescale("ms").magnitude, bins=edges)[0] for st in trains)
    return counts * 1000.0 / (bin_ms * sum(st.annotations["size"] for st in trains))


def mean_and_se(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), values.std(ddof=1) / np.sqrt(values.size)


def replayed_control(tvb, regions, values, duration, seed=1):
    """The same TVB simulator, its spiking regions replaced by constant ``values`` ({variable: x})."""
    steps = int(round(duration / tvb.integrator.dt))
    arrays = {k: np.full((steps, len(regions)), float(v)) for k, v in values.items()}
    with pm.CoSimulation(tvb, ReplayBackend(arrays), spiking_regions=regions,
                         to_tvb=[pm.proxies.Replay(k) for k in arrays], seed=seed) as cosim:
        return cosim.run(duration), cosim.tvb.connectivity.weights


def late_mean(result, variable, start):
    """Every region's mean of the Raw ``variable`` after ``start`` ms."""
    raw = result.monitor("Raw").sel(variable=variable).isel(mode=0)
    return raw.where(raw.time > start, drop=True).values.mean(axis=0)


def rms_difference(result, control, variable, start):
    """Every region's root-mean-square difference of ``variable`` from ``control`` after ``start`` ms.

    For oscillating regions, where an input shifts the phase more than the
    time average, this sees what the mean difference averages away.
    """
    def late(r):
        raw = r.monitor("Raw").sel(variable=variable).isel(mode=0)
        return raw.where(raw.time > start, drop=True).values

    return np.sqrt(((late(result) - late(control)) ** 2).mean(axis=0))


def split_by_connection(values, weights, regions):
    """``values`` of the non-spiking regions: (directly connected to ``regions``, not connected)."""
    others = [r for r in range(weights.shape[0]) if r not in regions]
    connected = [r for r in others if weights[r, regions].sum() > 0]
    unconnected = [r for r in others if weights[r, regions].sum() == 0]
    assert len(connected) >= 10 and len(unconnected) >= 10, (connected, unconnected)
    return values[connected], values[unconnected]


def assert_neighbours_respond(connected, unconnected, sign=1.0):
    """Connected regions move by ``sign`` beyond 3 SE, and more than unconnected ones."""
    d, u = sign * np.asarray(connected), sign * np.asarray(unconnected)
    assert d.mean() > 3 * d.std(ddof=1) / np.sqrt(d.size), d
    excess = d.mean() - u.mean()
    assert excess > 3 * np.sqrt(d.var(ddof=1) / d.size + u.var(ddof=1) / u.size), (d, u)

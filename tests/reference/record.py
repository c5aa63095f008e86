"""Reference outputs of short W1 runs, kept to show that restructured code reproduces them.

Each configuration is a 50 ms W1 run (regions 31 and 65 spiking, seed 7) with
one backend or one proxy kind.  What is kept of a run, in ``data/NAME.npz``:

- ``tvb_sha256``: the SHA-256 of every TVB monitor's times and data (all 68
  regions), so the whole TVB side is compared bit for bit;
- ``tvb_time`` and ``tvb_spiking``: the Raw monitor's times and the spiking
  regions' states, for a readable difference when the digest changes;
- ``spikes/<region>/<population>/times`` and ``.../index``: every spike.

``python tests/reference/record.py [NAME ...]`` rewrites the files (each run in
a fresh interpreter); the suite compares against them
(``tests/test_reference_outputs.py``).  Rewrite a file only when an output must
change, and say which and why in the commit.
"""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from numpy_kernels import use_avx2_kernels  # noqa: E402

use_avx2_kernels()  # as the suite: the AVX2 kernels, which recorded these outputs

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
sys.path.insert(0, os.path.join(HERE, "..", ".."))
# as in the suite (tests/conftest.py): Brian2's numpy target, passive OpenMP waiting
os.environ.setdefault("PYNN_MULTISCALE_BRIAN2_TARGET", "numpy")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DURATION = 50.0
SEED = 7
REGIONS = (31, 65)


def _configs():
    """name -> (simulator, CoSimulation keyword arguments), built lazily (proxies import Elephant)."""
    import pynn_multiscale as pm
    from pynn_multiscale.models import red_wong_wang as rww

    p = rww.NETWORK_PARAMS
    rate = dict(weight=rww.G_DEFAULT * rww.N_E, synapse_weight=p["w_ee"], delay=p["delay"])
    scale = rww.current_scale()
    P = pm.proxies
    # pipeline=False: the loop and interval that were the default when these were recorded
    w1 = dict(to_spiking=rww.default_to_spiking(), to_tvb=rww.default_to_tvb(), pipeline=False)
    configs = {f"w1_{name}": (name, dict(w1)) for name in ("nest", "brian2", "neuron", "annarchy")}
    configs["w1_nest_pipeline"] = ("nest", dict(w1, pipeline=True))
    # today's default (pipeline=None): the pipelined interval, whichever loop the cores allow;
    # compared with w1_nest_pipeline's file, it has none of its own
    configs["w1_nest_default"] = ("nest", {k: v for k, v in w1.items() if k != "pipeline"})
    # the connectome delays of the source proxies exceed the network's 1.5 ms
    configs["w1_nest_spiking_mode"] = ("nest", dict(w1, coupling_mode="spiking",
                                                    min_delay=p["delay"]))
    to_spiking = {
        "poisson_shared": [P.RateToPoisson("R_e", "E", shared_fraction=0.1, **rate)],
        "elephant_poisson": [P.ElephantTrains("R_e", "E", **rate)],
        "elephant_sip": [P.ElephantTrains("R_e", "E", process="sip", correlation=0.1, **rate)],
        "elephant_mip": [P.ElephantTrains("R_e", "E", process="mip", correlation=0.1, **rate)],
        "current": [P.CurrentFromCoupling("S_e", "E", weight=scale, delay=p["delay"])],
        "offset": [P.OffsetFromCoupling("S_e", "E", weight=scale)],
    }
    for name, proxies in to_spiking.items():
        extra = {"min_delay": p["delay"]} if name == "offset" else {}
        configs[f"proxy_{name}"] = ("nest", dict(w1, to_spiking=proxies, **extra))
    to_tvb = {
        "spike_rate_tau": [P.SpikeRate("E", "Rin_e", tau=5.0), P.SpikeRate("I", "Rin_i", tau=5.0)],
        "instantaneous_rate": [P.InstantaneousRate("E", "Rin_e"), P.InstantaneousRate("I", "Rin_i")],
        "mean_state": [P.SpikeRate("E", "Rin_e"), P.MeanState("I", "Rin_i", "gsyn_exc")],
    }
    for name, proxies in to_tvb.items():
        configs[f"proxy_{name}"] = ("nest", dict(w1, to_tvb=proxies))
    return configs


NAMES = ("w1_nest", "w1_brian2", "w1_neuron", "w1_annarchy", "w1_nest_pipeline",
         "w1_nest_spiking_mode", "proxy_poisson_shared", "proxy_elephant_poisson",
         "proxy_elephant_sip", "proxy_elephant_mip", "proxy_current", "proxy_offset",
         "proxy_spike_rate_tau", "proxy_instantaneous_rate", "proxy_mean_state")


def run(name: str, cores: str | None = None) -> dict:
    """Run configuration ``name`` here and return what is kept of it (arrays by key).

    ``cores``: ``$PYNN_MULTISCALE_CORES`` for the run, which picks the default loop;
    ``pipelined`` (whether it was) is then kept too.
    """
    import pynn_multiscale as pm
    from pynn_multiscale.plan import CORES_ENV

    if cores is not None:
        os.environ[CORES_ENV] = cores
    from pynn_multiscale.backends import simulator_module
    from pynn_multiscale.models import red_wong_wang as rww

    simulator, kwargs = _configs()[name]
    sim = simulator_module(simulator)
    with pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=list(REGIONS),
                         build_region=rww.build_spiking_region, seed=SEED, progress=False,
                         **kwargs) as cosim:
        result = cosim.run(DURATION)
    digest = hashlib.sha256()
    for monitor in sorted(result.tvb.data_vars):
        array = result.tvb[monitor]
        digest.update(np.ascontiguousarray(array[array.dims[0]].values).tobytes())
        digest.update(np.ascontiguousarray(array.values).tobytes())
    raw = result.tvb["Raw"]
    out = {"tvb_sha256": np.array(digest.hexdigest()),
           "tvb_time": raw[raw.dims[0]].values,
           "tvb_spiking": raw.sel(region=[raw.region.values[i] for i in REGIONS]).values}
    if cores is not None:
        out["pipelined"] = np.array(result.metadata["pipeline"])
    for idx, block in result.spiking.items():
        for st in block.segments[0].spiketrains:
            key = f"spikes/{idx}/{st.annotations['population']}"
            out[f"{key}/times"] = st.magnitude.copy()
            out[f"{key}/index"] = np.asarray(st.array_annotations["source_index"]).copy()
    return out


def run_isolated(name: str, cores: str | None = None) -> dict:
    """:func:`run` in a fresh interpreter (simulators keep global state)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run, (name, cores))


def load(name: str) -> dict:
    with np.load(os.path.join(DATA, f"{name}.npz"), allow_pickle=False) as f:
        return {key: f[key] for key in f.files}


def main(names):
    os.makedirs(DATA, exist_ok=True)
    for name in names or NAMES:
        out = run_isolated(name)
        np.savez_compressed(os.path.join(DATA, f"{name}.npz"), **out)
        n_spikes = sum(v.size for k, v in out.items() if k.endswith("/times"))
        print(f"{name}: {n_spikes} spikes, TVB {out['tvb_sha256']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""A backend without a spiking simulator, for testing the shared layer.

It replays given values of TVB variables for the proxy regions (``to_tvb``
proxies of kind :class:`~pynn_multiscale.proxies.Replay`) and records every
rate the loop sends it, so tests can check what TVB delivered, step by step,
without a simulator in between.
"""

from __future__ import annotations

import numpy as np

from .base import WindowLoop


class ReplayBackend(WindowLoop):
    """Replay TVB values; record the rates sent to the spiking side.

    Parameters
    ----------
    values : dict of str to ndarray, optional
        ``{tvb_variable: array (n_steps, n_proxy)}``: the value of each
        variable for each TVB step of the run (step 1 first) and each proxy
        region, in the order of ``spiking_regions``.
    """

    name = "replay"
    sim = None

    def __init__(self, values=None):
        self.values = {k: np.asarray(v, dtype=float) for k, v in (values or {}).items()}
        self.time = 0.0
        self.timestep = None
        self.received = []  #: [(handle, t0, dt, rates)] in call order
        self.n_sources = 0

    def version(self) -> str:
        return "n/a"

    def setup(self, timestep, min_delay, seed, max_delay=None):
        self.timestep = timestep

    def start(self):
        pass

    def add_rate_source(self, population, synapse_weight, delay, receptor_type,
                        shared_fraction=0.0):
        """Handles are 0, 1, ... in creation order: proxy by proxy, region by region."""
        self.n_sources += 1
        return self.n_sources - 1

    def set_rates(self, handle, t0, dt, rates):
        self.received.append((handle, t0, dt, np.array(rates, dtype=float)))

    def advance(self, t_stop):
        self.time = t_stop

    def replay(self, variable, region_slot, first_step, n_steps):
        """Values of ``variable`` for steps ``first_step .. first_step + n_steps - 1``."""
        return self.values[variable][first_step - 1:first_step - 1 + n_steps, region_slot]

    def finish(self):
        pass

    def rates_received(self, handle, dt):
        """All rates of ``handle`` as one array, one value per TVB step."""
        return np.concatenate([r for h, _, _, r in self.received if h == handle])

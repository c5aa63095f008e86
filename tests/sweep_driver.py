"""A sweep of the tests' grid run as a program, with its own local cluster: ``python sweep_driver.py OUT``."""

import sys

import pynn_multiscale as pm
from sweep_points import DURATION, GRID, SEEDS, small_point

if __name__ == "__main__":
    pm.sweep.run(small_point, grid=GRID, seeds=SEEDS, duration=DURATION, out=sys.argv[1],
                 workers=2, progress=False)

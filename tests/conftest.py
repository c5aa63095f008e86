import os
import sys

# Tests import small helpers that live beside them.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""Sphinx configuration of the pynn-multiscale documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``make test`` does, with warnings as errors).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import pynn_multiscale  # noqa: E402

project = "pynn-multiscale"
author = "the pynn-multiscale developers"
copyright = "2026, " + author
release = pynn_multiscale.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

# API reference from numpydoc docstrings.  Members are documented where they
# are defined; class members are listed without a separate autosummary table.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # the docstrings give the types
# Simulators are imported lazily by the backends; none is needed to build the docs.
autodoc_mock_imports = ["nest", "brian2", "neuron", "ANNarchy"]

# No network access at build time: intersphinx has no inventories to fetch.
intersphinx_mapping = {}

html_theme = "alabaster"
html_static_path = ["_static"]
html_theme_options = {"description": "TVB whole-brain models with spiking regions written once "
                                     "in PyNN", "page_width": "1100px", "sidebar_width": "230px"}

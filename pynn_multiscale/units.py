"""Unit lookups in ``quantities`` (Neo's and Elephant's units) without parsing a plain name.

Upstream defect (quantities 0.16): ``unit_registry[label]`` parses ``label``
as a Python expression (``ast.parse``, a walk over the tree, ``compile`` and
``eval``) at every call, also when ``label`` is a plain unit name such as
``"dimensionless"``, and ``Dimensionality.__hash__`` looks that name up
every time a dimensionality is hashed, which every ``rescale`` does.
Elephant's ``single_interaction_process`` made about 80 such lookups per
spike train: a window of 800 correlated trains cost seconds, most of the
time the correlated-input proxy (``ElephantTrains``) took.

:func:`quick_unit_lookups` answers a label that is a registered unit's own
name with that unit, the object the expression's evaluation returns for it
(``eval`` of a name looks it up in the same table), and passes every other
label (an expression such as ``"m/s"``, ``"in"``, ``""``) to quantities
unchanged.  The results are therefore the same objects; Elephant's trains
are identical to the bit (``tests/test_units.py``, and the Elephant proxies'
reference outputs).  Installed when :mod:`pynn_multiscale` is imported;
``enabled=False`` restores quantities' own.
"""

from __future__ import annotations

import keyword


def quick_unit_lookups(enabled: bool = True) -> None:
    """Answer a registered unit's plain name from the registry's table (see the module)."""
    from quantities.registry import UnitRegistry

    own = vars(UnitRegistry).get("_pynn_multiscale_original")
    if not enabled:
        if own is not None:
            UnitRegistry.__getitem__ = own
            del UnitRegistry._pynn_multiscale_original
        return
    if own is not None:
        return
    own = UnitRegistry._pynn_multiscale_original = UnitRegistry.__getitem__
    # the registry's table of names -> units, which its expressions are evaluated in
    table = UnitRegistry._UnitRegistry__registry._Registry__context

    def __getitem__(self, label):
        # a name the expression parser would read as a name: not a keyword ("as" is
        # attosecond's entry, which quantities refuses to parse), not "in" (any case: inch)
        unit = table.get(label) if isinstance(label, str) and label.isidentifier() \
            and not keyword.iskeyword(label) and label.lower() != "in" else None
        return unit if unit is not None else own(self, label)

    UnitRegistry.__getitem__ = __getitem__

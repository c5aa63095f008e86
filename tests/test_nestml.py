"""Custom neuron models from NESTML on the pip-installed NEST (pynn_multiscale.nestml).

Everything here really generates, compiles and loads NEST modules, into a cache folder of
this module's own; the first build is done by two processes at once, which also checks
that they share one compilation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pynn_multiscale import nestml
from pynn_multiscale.errors import MissingDependency

MODEL = "iaf_psc_exp_neuron"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache of this module's own, for this process and the processes it starts."""
    folder = tmp_path_factory.mktemp("nestml_cache")
    old = os.environ.get("PYNN_MULTISCALE_CACHE")
    os.environ["PYNN_MULTISCALE_CACHE"] = str(folder)
    yield folder / "nestml"
    if old is None:
        del os.environ["PYNN_MULTISCALE_CACHE"]
    else:
        os.environ["PYNN_MULTISCALE_CACHE"] = old


def run_python(code: str, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})))


BUILD_AND_REPORT = """
    import json, sys
    from pynn_multiscale import nestml
    cells = nestml.build(nestml.model_file("iaf_psc_exp_neuron"))
    print("RESULT", json.dumps(dict(nestml.last_build, models=sorted(cells))))
"""


def result_of(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def first_builds(cache):
    """Two processes build the same model at once, from an empty cache."""
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(BUILD_AND_REPORT)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        results.append(result_of(subprocess.CompletedProcess(proc.args, proc.returncode, out, err)))
    return results


@pytest.fixture(scope="module")
def cells(first_builds):
    import nest

    nest.ResetKernel()  # this worker process may hold an earlier test file's network
    return nestml.build(nestml.model_file(MODEL))


@pytest.mark.smoke
def test_two_processes_share_one_compilation(first_builds, cache):
    compiled = [r for r in first_builds if not r["cached"]]
    assert len(compiled) == 1, first_builds  # the other waited for it and loaded the result
    assert all(r["models"] == [MODEL] for r in first_builds)
    entries = sorted(p.name for p in cache.iterdir() if p.is_dir())
    assert entries == [first_builds[0]["key"]]  # one complete entry, no partial build left
    assert (cache / entries[0] / "manifest.json").is_file()
    print(f"\nfirst build (compiled): {compiled[0]['seconds']:.1f} s")


@pytest.mark.smoke
def test_a_new_process_loads_from_the_cache_in_under_a_second(first_builds):
    # compiling is made impossible: the model can only come from the cache
    done = run_python("""
        import json
        from pynn_multiscale import nestml
        def no_compiling(*args, **kwargs):
            raise AssertionError("compiled again")
        nestml._compile = no_compiling
        cells = nestml.build(nestml.model_file("iaf_psc_exp_neuron"))
        print("RESULT", json.dumps(dict(nestml.last_build, models=sorted(cells))))
    """)
    result = result_of(done)
    assert result["cached"] and result["models"] == [MODEL]
    assert result["seconds"] < 1.0, result
    print(f"\ncached build in a new process: {result['seconds'] * 1000:.1f} ms")


def run_cell(sim, celltype, t_stop=300.0):
    """One neuron under a DC step and excitatory and inhibitory input spikes."""
    sim.setup(timestep=0.1, min_delay=0.1)
    cell = sim.Population(1, celltype)
    cell.record(["spikes", "V_m"])
    sim.DCSource(amplitude=0.45, start=20.0, stop=250.0).inject_into(cell)
    for times, weight, receptor in (([30.0, 31.0, 32.0, 120.0, 121.5], 0.4, "excitatory"),
                                    ([60.0, 61.0, 180.0, 180.5, 181.0], -0.5, "inhibitory")):
        source = sim.Population(1, sim.SpikeSourceArray(spike_times=times))
        sim.Projection(source, cell, sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=weight, delay=1.0), receptor_type=receptor)
    sim.run(t_stop)
    segment = cell.get_data().segments[0]
    spikes = np.asarray(segment.spiketrains[0].magnitude)
    v = np.asarray(segment.filter(name="V_m")[0].magnitude).ravel()
    sim.end()
    return spikes, v


@pytest.mark.smoke
def test_iaf_psc_exp_from_nestml_gives_nest_builtin_spike_times(cells):
    import pyNN.nest as sim

    ours = run_cell(sim, cells[MODEL]())
    builtin = run_cell(sim, sim.native_cell_type("iaf_psc_exp")())
    assert len(ours[0]) >= 10, "the cell must fire for the comparison to mean something"
    np.testing.assert_array_equal(ours[0], builtin[0])  # the same spike times, to the step
    np.testing.assert_allclose(ours[1], builtin[1], atol=1e-9)
    # positive control: a membrane time constant 10% off moves the spikes
    other = run_cell(sim, cells[MODEL](tau_m=11.0))
    assert len(other[0]) != len(ours[0]) or np.abs(other[0] - ours[0]).max() >= 0.1


def test_the_module_is_reloaded_after_the_kernel_is_reset(cells):
    import nest
    import pyNN.nest as sim

    celltype = cells[MODEL](V_th=-56.0)  # made before sim.setup() resets the kernel
    sim.setup(timestep=0.1)
    pop = sim.Population(3, celltype)
    assert np.allclose(pop.get("V_th"), -56.0)
    sim.end()
    # a reset outside PyNN: a cell type made afterwards loads the module again ...
    nest.ResetKernel()
    assert not nestml._known(MODEL, nest)
    cells[MODEL]()
    assert nestml._known(MODEL, nest)
    # ... and one made before, once nodes exist, says what to do
    nest.ResetKernel()
    nest.Create("iaf_psc_exp")
    with pytest.raises(nestml.NESTMLError, match=r"kernel was reset.*Fix: call "
                                                r"pynn_multiscale.nestml.build\(...\) again"):
        celltype.nest_name
    nest.ResetKernel()


def test_defaults_that_nest_refuses_are_left_out(cells):
    import nest
    from pyNN.nest.cells import native_cell_type

    nest.ResetKernel()
    cells = nestml.build(nestml.model_file(MODEL))  # loads the module again
    reported = nest.GetDefaults(MODEL)
    assert "unit_psc" in reported  # an internal constant of the model ...
    with pytest.raises(Exception, match="unit_psc"):
        nest.SetDefaults(MODEL, {"unit_psc": reported["unit_psc"]})  # ... NEST will not take
    assert "unit_psc" in native_cell_type(MODEL).default_parameters  # PyNN would pass it
    assert "unit_psc" not in cells[MODEL].default_parameters
    assert {"tau_m", "C_m", "V_th", "tau_syn_exc"} <= set(cells[MODEL].default_parameters)


# ------------------------------------------------------------------------------- errors

def test_building_into_a_kernel_that_holds_nodes_says_when_to_build(cells, tmp_path):
    import nest

    other = tmp_path / "late_neuron.nestml"  # a model this kernel has not loaded
    other.write_text(nestml.model_file(MODEL).read_text().replace(
        "model iaf_psc_exp_neuron", "model late_neuron"))
    nest.ResetKernel()
    nest.Create("iaf_psc_exp")
    with pytest.raises(nestml.NESTMLError, match=r"holds 1 nodes already.*late_neuron.nestml.*"
                                                r"Fix: call pynn_multiscale.nestml.build\(...\) "
                                                r"before creating any population") as err:
        nestml.build(other)
    assert err.value.stage == "load"
    nest.ResetKernel()
    assert "late_neuron" in nestml.build(other)  # compiled once, loaded now


def test_a_model_name_not_in_the_module(cells):
    with pytest.raises(KeyError, match=r"model='iaf_psc_exp'.*use one of iaf_psc_exp_neuron"):
        cells["iaf_psc_exp"]
    with pytest.raises(nestml.ModelNotFound, match=r"models=\['nope'\].*pick from iaf_psc_exp_neuron"):
        nestml.build(nestml.model_file(MODEL), models=["nope"])
    with pytest.raises(ValueError, match=r"parameters=\['tau_membrane'\].*use some of .*tau_m"):
        cells[MODEL](tau_membrane=10.0)


def test_a_file_that_does_not_parse(cache, tmp_path):
    broken = tmp_path / "broken_neuron.nestml"
    broken.write_text(nestml.model_file(MODEL).read_text().replace(
        "V_m' = ", "V_m' = (", 1))
    with pytest.raises(nestml.NESTMLError, match=r"NESTML found errors in broken_neuron.nestml") as err:
        nestml.build(broken)
    assert err.value.stage == "parse"
    line = 1 + broken.read_text().splitlines().index(
        next(x for x in broken.read_text().splitlines() if "V_m' = (" in x))
    # NESTML's message, at the line of the error or the next (where the parser noticed it)
    assert re.search(rf"broken_neuron.nestml:({line}|{line + 1}):\d+: ", str(err.value))
    assert "Error occurred during parsing: missing ')'" in str(err.value)
    assert not [p for p in cache.iterdir() if ".partial-" in p.name]  # nothing half-built left


def test_paths_that_are_not_nestml_files(tmp_path):
    with pytest.raises(ValueError, match=r"paths=.*missing.nestml.*existing .nestml file"):
        nestml.build(tmp_path / "missing.nestml")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match=r"name the .nestml file itself"):
        nestml.build(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match=r"a .nestml file or a folder holding some"):
        nestml.build(tmp_path)
    with pytest.raises(ValueError, match=r"name='iaf_nope'.*one of NESTML's models"):
        nestml.model_file("iaf_nope")


def test_a_missing_system_header(monkeypatch, cache, tmp_path):
    assert nestml.system_headers_missing() == {}  # the real ones are installed here
    monkeypatch.setitem(nestml.SYSTEM_HEADERS, "pm_no_such/header.h", "libpm-no-such-dev")
    model = tmp_path / "headers_neuron.nestml"
    model.write_text(nestml.model_file(MODEL).read_text().replace(
        "model iaf_psc_exp_neuron", "model headers_neuron"))
    with pytest.raises(nestml.NESTMLError, match=r"pm_no_such/header.h.*sudo apt-get install "
                                                r"libpm-no-such-dev") as err:
        nestml.build(model)
    assert err.value.stage == "headers"


def test_a_compile_failure_reports_the_compilers_first_error(monkeypatch, tmp_path):
    # a compiler that breaks the model's own source with a real C++ error (and nothing else:
    # CMake's compiler check still passes)
    (tmp_path / "broken.h").write_text("this is not C++;\n")
    wrapper = tmp_path / "cxx"
    wrapper.write_text(f'#!/bin/sh\ncase "$*" in *compile_neuron.cpp*) exec g++ -include '
                       f'{tmp_path / "broken.h"} "$@" ;; esac\nexec g++ "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CXX", str(wrapper))
    model = tmp_path / "compile_neuron.nestml"
    model.write_text(nestml.model_file(MODEL).read_text().replace(
        "model iaf_psc_exp_neuron", "model compile_neuron"))
    with pytest.raises(nestml.NESTMLError, match=r"did not compile; the compiler's first error") as err:
        nestml.build(model)
    assert err.value.stage == "compile"
    assert "broken.h:1" in str(err.value) and "error:" in str(err.value)
    log = Path(re.search(r"the whole build log: (\S+)\)", str(err.value)).group(1))
    assert "this is not C++" in log.read_text()


def test_without_nestml_the_error_names_the_extra():
    done = run_python("""
        import sys
        sys.modules["pynestml"] = None
        from pynn_multiscale import nestml
        from pynn_multiscale.errors import MissingDependency
        try:
            nestml.build(nestml.__file__)
        except MissingDependency as exc:
            print("MESSAGE", exc)
    """)
    assert "MESSAGE NESTML is not installed" in done.stdout, done.stderr[-2000:]
    assert "pip install 'pynn-multiscale[nestml]'" in done.stdout
    assert issubclass(MissingDependency, ImportError)

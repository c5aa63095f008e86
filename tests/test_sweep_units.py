"""The parts of a sweep that need no cluster: points, hashes, checks, folders, summary and figures."""

import json
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

import pynn_multiscale as pm
from pynn_multiscale import plot
from pynn_multiscale.analysis import point_summary
from pynn_multiscale.cli import main
from pynn_multiscale.sweep import SweepFolder, point_key
from pynn_multiscale.sweep.engine import MissingDependency, _dask, _spec
from pynn_multiscale.sweep.point import POINT_FILE, SUMMARY_FILE, write_json
from pynn_multiscale.sweep.points import check_grid, grid_points, parse_grid_option


def point(params, seed):
    return None


def other_point(params, seed):
    return 1


def spec(grid=None, seeds=(0, 1), duration=100.0, function=point, points=None):
    return _spec(function, grid if points is None else None, points,
                 seeds if isinstance(seeds, int) else list(seeds), duration, point_summary)


# ------------------------------------------------------------------ points
def test_a_points_key_is_its_parameters_and_seed_whatever_the_order_and_number_type():
    assert point_key({"G": 1, "lamda": 0.0}, 2) == point_key({"lamda": 0, "G": 1.0}, 2)
    assert point_key({"G": 1.0}, 2) != point_key({"G": 1.0}, 3)
    assert point_key({"G": 1.0}, 2) != point_key({"G": 1.5}, 2)
    assert point_key({"flag": True}, 0) != point_key({"flag": 1}, 0)
    keys = [p.key for p in grid_points({"G": [0.5, 1.0, 1.5], "lamda": [0, 1]}, [0, 1, 2])]
    assert len(set(keys)) == 18 and all(len(k) == 16 for k in keys)


def test_the_grid_is_its_product_with_the_seeds_innermost():
    points = grid_points({"G": [1.0, 2.0], "lamda": [0.0]}, [7, 8])
    assert [(p.params, p.seed) for p in points] == [
        ({"G": 1.0, "lamda": 0.0}, 7), ({"G": 1.0, "lamda": 0.0}, 8),
        ({"G": 2.0, "lamda": 0.0}, 7), ({"G": 2.0, "lamda": 0.0}, 8)]


@pytest.mark.parametrize("kwargs, message", [
    ({"grid": {"G": [object()]}}, r"grid='G=<object.*plain values"),
    ({"grid": {"G": [1.0, 1]}}, "distinct values"),
    ({"grid": {"G": []}}, "at least one value"),
    ({"grid": {"seed": [1]}}, "other than 'seed'"),
    ({"grid": {"G": [float("nan")]}}, "finite numbers"),
    ({"grid": {}}, "non-empty dict"),
    ({"seeds": [1, 1]}, "distinct non-negative"),
    ({"seeds": 0}, "at least 1 seed"),
    ({"duration": 0.0}, "duration=0.0 is invalid"),
    ({"points": [{"G": 1.0}, {"lamda": 1.0}]}, "the same parameters in every point"),
    ({"function": "point"}, "point='point' is invalid"),
])
def test_bad_sweep_input_names_the_parameter_the_value_and_the_fix(kwargs, message):
    args = {"grid": {"G": [1.0]}, "seeds": (0,), "duration": 100.0, "function": point}
    args.update(kwargs)
    with pytest.raises((pm.ConfigurationError, pm.ConfigurationTypeError), match=message) as err:
        spec(**args)
    assert "Fix:" in str(err.value)


def test_grid_and_points_are_exclusive():
    with pytest.raises(pm.ConfigurationError, match="exactly one of grid= .* or points="):
        _spec(point, {"G": [1.0]}, [{"G": 1.0}], [0], 1.0, point)


def test_command_line_grid_values():
    assert parse_grid_option("G=0.5,1,2") == ("G", [0.5, 1, 2])
    assert parse_grid_option("simulator=nest,brian2") == ("simulator", ["nest", "brian2"])
    with pytest.raises(pm.ConfigurationError, match="--grid='G' is invalid.*--grid G=0.5"):
        parse_grid_option("G")
    assert check_grid({"G": 1.0}) == {"G": [1.0]}


def test_without_dask_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependency, match=r"pip install 'pynn-multiscale\[dask\]'"):
        _dask()


# ----------------------------------------------------------------- folders
def test_a_folder_refuses_another_grid_unless_extended_and_then_holds_the_union(tmp_path):
    first = spec({"G": [1.0, 2.0]}, seeds=[0])
    SweepFolder.prepare(tmp_path, first).write({}, {})
    with pytest.raises(pm.ConfigurationError, match="its grid is G=.1.0, 2.0., seeds .0., this "
                                                    "one's G=.2.0, 3.0., seeds .0, 1."):
        SweepFolder.prepare(tmp_path, spec({"G": [2.0, 3.0]}, seeds=[0, 1]))
    extended = SweepFolder.prepare(tmp_path, spec({"G": [2.0, 3.0]}, seeds=[0, 1]), extend=True)
    assert extended.spec["grid"] == {"G": [1.0, 2.0, 3.0]} and extended.spec["seeds"] == [0, 1]
    assert len(extended.points()) == 6
    same = SweepFolder.prepare(tmp_path, spec({"G": [2.0]}, seeds=[0]))  # a part of it: fine
    assert same.spec["grid"] == {"G": [1.0, 2.0]}


@pytest.mark.parametrize("change, message", [
    ({"duration": 200.0}, "its duration_ms is 100.0, this one's 200.0"),
    ({"function": other_point}, "made by function test_sweep_units.point"),
    ({"grid": {"lamda": [1.0]}}, r"its parameters are \['G'\]"),
])
def test_even_extend_refuses_another_duration_function_or_parameters(tmp_path, change, message):
    SweepFolder.prepare(tmp_path, spec({"G": [1.0]})).write({}, {})
    args = {"grid": {"G": [1.0]}} | change
    with pytest.raises(pm.ConfigurationError, match=message):
        SweepFolder.prepare(tmp_path, spec(**args), extend=True)


def test_a_folder_that_is_not_a_sweep_is_never_written_into(tmp_path):
    (tmp_path / "tvb.nc").write_text("a result")
    with pytest.raises(pm.ConfigurationError, match="exists and is not a sweep folder"):
        SweepFolder.prepare(tmp_path, spec({"G": [1.0]}))


def _fake_point(folder, p, state, rate=None):
    directory = folder.directory(p)
    directory.mkdir(parents=True)
    write_json(directory / POINT_FILE, dict(p, state=state, runs=1, wall_s=2.0))
    if state == "done":
        xr.Dataset({"rate_hz": ("population", [rate, 2 * rate]), "fc_sc": rate / 10},
                   coords={"population": ["r/E", "r/I"]}).to_netcdf(directory / SUMMARY_FILE,
                                                                   engine="h5netcdf")


def test_the_summary_holds_every_point_with_nan_and_its_state_where_not_done(tmp_path):
    folder = SweepFolder.prepare(tmp_path, spec({"G": [1.0, 2.0], "lamda": [0.0, 1.0]}))
    points = folder.points()
    for i, p in enumerate(points):
        if i != 3:
            _fake_point(folder, p, "failed" if i == 5 else "done", rate=float(i + 1))
    summary = folder.write_summary()
    with xr.open_dataset(tmp_path / "summary.nc") as plain:
        assert plain["rate_hz"].dims == ("G", "lamda", "seed", "population")
        assert plain["state"].sel(G=1.0, lamda=1.0).values.tolist() == ["done", "pending"]
        assert plain["state"].sel(G=2.0, lamda=0.0).values.tolist() == ["done", "failed"]
        for i, p in enumerate(points):
            value = plain["rate_hz"].sel(population="r/I", seed=p.seed, **p.params).item()
            assert (np.isnan(value) if i in (3, 5) else value == 2.0 * (i + 1))
        assert json.loads(plain.attrs["pynn_multiscale_sweep"])["grid"]["G"] == [1.0, 2.0]
    assert summary["wall_s"].sel(G=1.0, lamda=0.0, seed=0).item() == 2.0


def test_a_sweep_of_explicit_points_has_a_point_dimension_with_the_parameters_along_it(tmp_path):
    points = [{"G": 0.5, "lamda": 0.0}, {"G": 3.0, "lamda": 1.0}]
    folder = SweepFolder.prepare(tmp_path, spec(points=points, seeds=[4]))
    for i, p in enumerate(folder.points()):
        _fake_point(folder, p, "done", rate=float(i + 1))
    summary = folder.summary()
    assert summary["rate_hz"].dims == ("point", "seed", "population")
    assert summary["G"].values.tolist() == [0.5, 3.0] and summary["G"].dims == ("point",)
    assert summary["rate_hz"].sel(population="r/E").values.ravel().tolist() == [1.0, 2.0]
    fig = plot.sweep(summary, "fc_sc", x="G")
    assert fig.axes[0].get_xlabel() == "G"
    plt.close(fig)


# ----------------------------------------------------------------- figures
def synthetic(n_seeds=3):
    rng = np.random.default_rng(0)
    G, lam = [0.5, 1.0, 2.0], [0.0, 1.0]
    rate = (np.array(G)[:, None, None, None] + 10 * np.array(lam)[None, :, None, None]
            + rng.normal(0, 0.1, (3, 2, n_seeds, 2)))
    return xr.Dataset({"rate_hz": (("G", "lamda", "seed", "population"), rate),
                       "state": (("G", "lamda", "seed"), np.full((3, 2, n_seeds), "done"))},
                      coords={"G": G, "lamda": lam, "seed": list(range(n_seeds)),
                              "population": ["x/E", "x/I"]})


def test_the_heat_map_shows_the_mean_over_seeds_per_cell_and_a_panel_per_population():
    summary = synthetic()
    fig = plot.sweep(summary)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2  # one heat map per population
    expected = summary["rate_hz"].mean("seed").sel(population="x/E").transpose("lamda", "G")
    assert np.allclose(images[0].get_array(), expected.values)
    assert fig.axes[0].get_xlabel() == "G" and fig.axes[0].get_ylabel() == "lamda"
    plt.close(fig)


def test_a_line_over_one_parameter_has_standard_errors_over_seeds():
    summary = synthetic()
    fig = plot.sweep(summary, x="G", select={"lamda": 1.0, "population": "x/I"})
    ax = fig.axes[0]
    line = ax.lines[0]
    values = summary["rate_hz"].sel(lamda=1.0, population="x/I")
    assert np.allclose(line.get_ydata(), values.mean("seed").values)
    bars = ax.collections[0].get_segments()
    se = values.std("seed", ddof=1).values / np.sqrt(3)
    assert np.allclose([s[1][1] - s[0][1] for s in bars], 2 * se)
    assert "x/I" in ax.get_title() and "1" in ax.get_title()
    plt.close(fig)


@pytest.mark.parametrize("kwargs, message", [
    ({"measure": "state"}, "measure='state' is invalid: expected a numeric measure"),
    ({"x": "noise"}, r"x='noise' is invalid: expected a swept parameter: \['G', 'lamda'\]"),
    ({"select": {"region": 1}}, "select="),
])
def test_figure_errors_name_the_choice(kwargs, message):
    with pytest.raises(pm.ConfigurationError, match=message):
        plot.sweep(synthetic(), **kwargs)


def test_three_varying_parameters_ask_for_a_selection():
    summary = synthetic().expand_dims(noise=[0.1, 0.2]).copy()
    summary["state"] = summary["state"].isel(noise=0, drop=False).expand_dims(
        noise=[0.1, 0.2])
    with pytest.raises(pm.ConfigurationError, match=r"select one value of noise.*select=\{'noise'"):
        plot.sweep(summary.transpose("G", "lamda", "noise", ...))


def test_show_lists_every_point_with_its_state_and_error(tmp_path, capsys):
    folder = SweepFolder.prepare(tmp_path, spec({"G": [1.0, 2.0]}, seeds=[0]))
    folder.write({}, {})
    a, b = folder.points()
    _fake_point(folder, a, "done", rate=1.0)
    folder.directory(b).mkdir(parents=True)
    write_json(folder.directory(b) / POINT_FILE, dict(b, state="failed", runs=1,
                                                     error_type="ConfigurationError",
                                                     error="sync_interval=9 is invalid\nmore"))
    assert main(["show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sweep of 2 points (test_sweep_units.point, 100 ms each): 1 done, 1 failed" in out
    assert "ConfigurationError: sync_interval=9 is invalid" in out and "more" not in out


def test_a_scripts_function_is_named_by_its_file_and_a_notebook_cells_by_main(tmp_path):
    from pynn_multiscale.sweep.folder import describe_function

    def load(path, source="def point(params, seed):\n    return None\n"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        namespace = {"__name__": "__main__"}
        exec(compile(source, str(path), "exec"), namespace)
        return namespace["point"]

    script = describe_function(load(tmp_path / "my_sweep.py"))
    cell = describe_function(load(tmp_path / "ipykernel_4242" / "3209787699.py"))
    other_session = describe_function(load(tmp_path / "ipykernel_5151" / "1111111111.py"))
    assert script["name"] == "my_sweep.point"
    assert cell["name"] == other_session["name"] == "__main__.point"
    assert cell["source_sha256"] == other_session["source_sha256"] == script["source_sha256"]
    edited = describe_function(load(tmp_path / "my_sweep.py", "def point(params, seed):\n"
                                                            "    return 1\n"))
    assert edited["source_sha256"] != script["source_sha256"]


def test_a_given_cluster_is_used_unchanged(tmp_path):
    with pytest.raises(pm.ConfigurationError, match="workers=2 is invalid: expected no workers= "
                                                    "with client= or scheduler="):
        pm.sweep.run(point, grid={"G": [1.0]}, duration=10.0, out=tmp_path / "s",
                     scheduler="tcp://127.0.0.1:8786", workers=2)
    with pytest.raises(pm.ConfigurationError, match="either client= or scheduler="):
        pm.sweep.run(point, grid={"G": [1.0]}, duration=10.0, out=tmp_path / "s",
                     client=object(), scheduler="tcp://127.0.0.1:8786")
    assert not (tmp_path / "s").exists()  # nothing written before the input is checked

"""Tests of pynn_multiscale.results: saving and loading a Result."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import textwrap

import neo
import numpy as np
import pytest
import quantities as pq
import xarray as xr

from pynn_multiscale.results import Result, ResultIOError, connectivity_dataset, tvb_dataset

REGION_LABELS = ["ctx_left", "ctx_right", "thalamus"]

METADATA = {
    "simulator": {"name": "nest", "version": "3.8.0"},
    "seeds": {"tvb": 42, "spiking": 43},
    "sync_interval": 0.1,
    "parameters": {
        "coupling": {"a": 0.0042, "values": [1, 2.5, None, True, "x"]},
        "empty": {},
        "nothing": None,
    },
    "flags": [True, False],
    "big_int": 2**62,
    "negative_zero": -0.0,
    "unicode": "µs ≤ 1",
}

SPIKES = {  # region -> population -> spike times (ms) of each neuron
    0: {"E": [[1.0, 2.5, 7.25], [0.5]], "I": [[3.0, 3.125]]},
    2: {"E": [[9.75], []], "I": [[0.1, 0.2, 0.3, 4.0]]},
}


def make_block(region: int) -> neo.Block:
    label = REGION_LABELS[region]
    block = neo.Block(
        name=f"region {region}",
        parameters={"tau_m": 20.0, "n": 100, "labels": ["E", "I"]},
        note=None,
        rec_datetime=datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
    )
    segment = neo.Segment(name="run", sync_interval=0.1)
    block.segments.append(segment)
    for population, trains in SPIKES[region].items():
        for source_id, times in enumerate(trains):
            train = neo.SpikeTrain(
                np.array(times) * pq.ms,
                t_start=0.0 * pq.ms,
                t_stop=10.0 * pq.ms,
                region=region,
                region_label=label,
                population=population,
                simulator="nest",
                source_id=source_id,
                array_annotations={"weight": np.linspace(0.5, 1.0, len(times))},
            )
            segment.spiketrains.append(train)
    if region == 0:  # region 2 has no signal: signals may be absent
        mean_v = np.linspace(-70.0, -55.0, 40).reshape(40, 1)
        segment.analogsignals.append(
            neo.AnalogSignal(
                mean_v * pq.mV,
                sampling_period=0.25 * pq.ms,
                t_start=0.0 * pq.ms,
                name="mean_v",
                region=region,
                region_label=label,
                population="E",
                simulator="nest",
            )
        )
    return block


@pytest.fixture
def result() -> Result:
    rng = np.random.default_rng(0)
    raw_time = np.arange(10) * 0.1
    average_time = np.array([0.5, 1.0])
    tvb = tvb_dataset(
        [
            ("Raw", raw_time, rng.normal(size=(10, 2, 3, 1)), ["V", "W"]),
            ("TemporalAverage", average_time, rng.normal(size=(2, 1, 3, 1)), ["V"]),
        ],
        region_labels=REGION_LABELS,
    )
    return Result(
        tvb=tvb,
        spiking={0: make_block(0), 2: make_block(2)},
        metadata=json.loads(json.dumps(METADATA)),
        complete=False,
        reason="interrupted by user at t=1.0 ms",
        connectivity=connectivity_dataset(rng.uniform(size=(3, 3)), rng.uniform(10, 90, (3, 3)),
                                          REGION_LABELS),
    )


def assert_same_type_and_value(loaded, original, where="metadata"):
    """Recursive equality that also tells int from float and bool from int."""
    assert type(loaded) is type(original), f"{where}: {type(loaded)} != {type(original)}"
    if isinstance(original, dict):
        assert list(loaded) == list(original), where
        for key in original:
            assert_same_type_and_value(loaded[key], original[key], f"{where}[{key!r}]")
    elif isinstance(original, list):
        assert len(loaded) == len(original), where
        for i, (a, b) in enumerate(zip(loaded, original)):
            assert_same_type_and_value(a, b, f"{where}[{i}]")
    elif isinstance(original, float):
        assert np.copysign(1.0, loaded) == np.copysign(1.0, original), where
        assert loaded == original, where
    else:
        assert loaded == original, where


def assert_quantity_equal(loaded, original):
    assert loaded.dimensionality.string == original.dimensionality.string
    np.testing.assert_array_equal(loaded.magnitude, original.magnitude)


# --------------------------------------------------------------------- TVB


@pytest.mark.smoke
def test_tvb_round_trip(result, tmp_path):
    loaded = Result.load(result.save(tmp_path / "run"))
    xr.testing.assert_identical(loaded.tvb, result.tvb)
    for name in ("Raw", "TemporalAverage"):
        np.testing.assert_array_equal(loaded.tvb[name].values, result.tvb[name].values)
        time = loaded.tvb[f"{name}_time"]
        np.testing.assert_array_equal(time.values, result.tvb[f"{name}_time"].values)
        assert time.dtype == np.float64
        assert time.attrs["units"] == "ms"
    assert list(loaded.tvb["region"].values) == REGION_LABELS
    assert list(loaded.tvb["Raw_variable"].values) == ["V", "W"]
    assert list(loaded.tvb["TemporalAverage_variable"].values) == ["V"]
    assert loaded.tvb["mode"].values.tolist() == [0]
    assert not any(key.startswith("pynn_multiscale") for key in loaded.tvb.attrs)


def test_connectivity_round_trip(result, tmp_path):
    loaded = Result.load(result.save(tmp_path / "run"))
    xr.testing.assert_identical(loaded.connectivity, result.connectivity)
    np.testing.assert_array_equal(loaded.connectivity["weights"].values,
                                  result.connectivity["weights"].values)
    assert loaded.connectivity["tract_lengths"].attrs["units"] == "mm"
    with xr.open_dataset(tmp_path / "run" / "connectivity.nc") as plain:  # plain xarray
        np.testing.assert_array_equal(plain["tract_lengths"].values,
                                      result.connectivity["tract_lengths"].values)


def test_result_without_connectivity_loads_none(result, tmp_path):
    result.connectivity = None
    directory = result.save(tmp_path / "run")
    assert not (directory / "connectivity.nc").exists()
    assert Result.load(directory).connectivity is None


def test_connectivity_dataset_checks_shapes():
    with pytest.raises(ValueError, match=r"weights has shape \(2, 3\), expected \(2, 2\)"):
        connectivity_dataset(np.zeros((2, 3)), np.zeros((2, 2)), ["A", "B"])


def test_monitors_have_their_own_time_axes(result):
    assert result.tvb.sizes["Raw_time"] == 10
    assert result.tvb.sizes["TemporalAverage_time"] == 2
    average = result.monitor("TemporalAverage")
    assert average.dims == ("time", "variable", "region", "mode")
    np.testing.assert_array_equal(average["time"].values, [0.5, 1.0])
    np.testing.assert_array_equal(average.values, result.tvb["TemporalAverage"].values)
    with pytest.raises(KeyError, match="Bold"):
        result.monitor("Bold")


def test_tvb_dataset_renames_duplicates_and_checks_shapes():
    data = np.zeros((2, 1, 3, 1))
    ds = tvb_dataset([("Raw", [0, 1], data, ["V"]), ("Raw", [0, 2], data, ["V"])], REGION_LABELS)
    assert list(ds.data_vars) == ["Raw", "Raw_1"]
    np.testing.assert_array_equal(ds["Raw_1_time"].values, [0.0, 2.0])
    with pytest.raises(ValueError, match="'Raw'.*shape"):
        tvb_dataset([("Raw", [0, 1, 2], data, ["V"])], REGION_LABELS)


# ------------------------------------------------------ metadata and status


def test_metadata_and_status_round_trip(result, tmp_path):
    loaded = Result.load(result.save(tmp_path / "run"))
    assert_same_type_and_value(loaded.metadata, METADATA)
    assert loaded.complete is False
    assert loaded.reason == "interrupted by user at t=1.0 ms"


def test_complete_result_has_no_reason(result, tmp_path):
    result.complete, result.reason = True, None
    loaded = Result.load(result.save(tmp_path / "run"))
    assert loaded.complete is True
    assert loaded.reason is None


def test_metadata_json_is_readable(result, tmp_path):
    result.save(tmp_path / "run")
    with open(tmp_path / "run" / "metadata.json", encoding="utf-8") as f:
        summary = json.load(f)
    assert_same_type_and_value(summary["metadata"], METADATA)
    assert summary["complete"] is False
    assert summary["reason"] == result.reason
    assert summary["spiking_files"] == {
        "0": {"file": "spiking_region_0.nix", "format": "nix"},
        "2": {"file": "spiking_region_2.nix", "format": "nix"},
    }


def test_metadata_is_converted_to_json_types(result, tmp_path):
    metadata = {"seeds": (1, np.int64(2)), "rates": np.array([[0.5], [1.5]]), "on": np.bool_(True)}
    converted = Result(result.tvb, metadata=metadata).metadata
    assert_same_type_and_value(converted, {"seeds": [1, 2], "rates": [[0.5], [1.5]], "on": True})
    assert isinstance(metadata["seeds"], tuple)  # the caller's dict is not modified
    loaded = Result.load(Result(result.tvb, metadata=metadata).save(tmp_path / "run"))
    assert_same_type_and_value(loaded.metadata, converted)


def test_metadata_that_json_would_change_is_rejected(result, tmp_path):
    with pytest.raises(TypeError, match=r"metadata\['dt'\].*non-str key 1"):
        Result(result.tvb, metadata={"dt": {1: 0.1}})
    with pytest.raises(TypeError, match=r"metadata\['when'\].*datetime"):
        Result(result.tvb, metadata={"when": datetime.datetime(2024, 1, 1)})
    result.metadata["dt"] = {1: 0.1}  # changed after construction: caught by save
    with pytest.raises(TypeError, match="non-str key 1"):
        result.save(tmp_path / "run")
    assert not (tmp_path / "run" / "tvb.nc").exists()


# ------------------------------------------------------------- spiking data


@pytest.mark.smoke
def test_spiketrains_round_trip(result, tmp_path):
    loaded = Result.load(result.save(tmp_path / "run"))
    assert sorted(loaded.spiking) == [0, 2]
    for region, block in result.spiking.items():
        original_trains = block.segments[0].spiketrains
        loaded_trains = loaded.spiking[region].segments[0].spiketrains
        assert len(loaded_trains) == len(original_trains) == 3
        for got, expected in zip(loaded_trains, original_trains):
            assert_quantity_equal(got, expected)
            assert_quantity_equal(got.t_start, expected.t_start)
            assert_quantity_equal(got.t_stop, expected.t_stop)
            assert_same_type_and_value(got.annotations, expected.annotations, "annotations")
            assert list(got.array_annotations) == ["weight"]
            np.testing.assert_array_equal(
                got.array_annotations["weight"], expected.array_annotations["weight"]
            )
            assert got.name is None
    i_train = loaded.spiking[2].segments[0].spiketrains[2]
    assert i_train.annotations["population"] == "I"
    assert i_train.annotations["region_label"] == "thalamus"
    np.testing.assert_array_equal(i_train.magnitude, [0.1, 0.2, 0.3, 4.0])


@pytest.mark.smoke
def test_analogsignal_round_trip(result, tmp_path):
    loaded = Result.load(result.save(tmp_path / "run"))
    original = result.spiking[0].segments[0].analogsignals[0]
    (signal,) = loaded.spiking[0].segments[0].analogsignals
    assert_quantity_equal(signal, original)
    assert signal.units == pq.mV
    assert_quantity_equal(signal.sampling_rate, original.sampling_rate)
    assert_quantity_equal(signal.t_start, original.t_start)
    assert signal.name == "mean_v"
    assert_same_type_and_value(signal.annotations, original.annotations, "annotations")
    assert len(loaded.spiking[2].segments[0].analogsignals) == 0


def test_block_and_segment_attributes_round_trip(result, tmp_path):
    loaded = Result.load(result.save(tmp_path / "run"))
    block, original = loaded.spiking[0], result.spiking[0]
    assert_same_type_and_value(block.annotations, original.annotations, "block annotations")
    assert block.annotations["note"] is None
    assert block.name == "region 0"
    assert block.rec_datetime == original.rec_datetime  # NIX alone drops microseconds
    assert block.segments[0].annotations == {"sync_interval": 0.1}


def test_unusual_annotations_round_trip(result, tmp_path):
    train = result.spiking[0].segments[0].spiketrains[0]
    train.annotate(
        ids=np.array([[1, 2], [3, 4]], dtype=np.int32),
        single=["only"],
        nested=[[1, 2], [3]],
        pair=(1, "a"),
        huge=2**70,
        delay=np.array([1.5, 2.0]) * pq.ms,
    )
    train.array_annotate(weight=train.array_annotations["weight"].astype(np.float32))
    got = Result.load(result.save(tmp_path / "run")).spiking[0].segments[0].spiketrains[0]
    assert got.annotations["ids"].dtype == np.int32
    np.testing.assert_array_equal(got.annotations["ids"], [[1, 2], [3, 4]])
    assert got.annotations["single"] == ["only"]
    assert got.annotations["nested"] == [[1, 2], [3]]
    assert got.annotations["pair"] == (1, "a")
    assert got.annotations["huge"] == 2**70
    assert_quantity_equal(got.annotations["delay"], np.array([1.5, 2.0]) * pq.ms)
    assert got.array_annotations["weight"].dtype == np.float32


def test_save_leaves_the_input_unchanged(result, tmp_path):
    before = [
        dict(obj.annotations)
        for block in result.spiking.values()
        for obj in [block, *block.children_recur]
    ]
    result.save(tmp_path / "run")
    after = [
        obj.annotations
        for block in result.spiking.values()
        for obj in [block, *block.children_recur]
    ]
    assert after == before
    assert not any(key.startswith("pynn_multiscale") for key in result.tvb.attrs)


def test_saving_what_nix_cannot_store_is_refused_not_pickled(result, tmp_path):
    result.spiking[2].annotate(pairs=[(1, 2), (3, 4)])  # nested tuples: not in NIX, not JSON
    with pytest.raises(ResultIOError) as excinfo:
        result.save(tmp_path / "run")
    text = str(excinfo.value)
    assert "region 2" in text and "pairs" in text and "Fix:" in text
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "run").glob("*"))


@pytest.mark.parametrize("name", ["spiking_region_2.pkl", "notes.pkl"])
def test_a_folder_with_a_pickle_is_refused_without_unpickling(result, tmp_path, name):
    """Loading never runs code: a pickle (one an older version wrote, or any) is refused."""
    import pickle

    directory = result.save(tmp_path / "run")
    marker = tmp_path / "unpickled"

    class RunsCode:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (directory / name).write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(ResultIOError) as excinfo:
        Result.load(directory)
    assert name in str(excinfo.value) and "Fix:" in str(excinfo.value)
    assert not marker.exists()
    (directory / name).unlink()
    assert Result.load(directory).spiking.keys() == result.spiking.keys()  # the control


# ------------------------------------------------------------ files on disk


def test_file_layout(result, tmp_path):
    directory = result.save(tmp_path / "a" / "b")  # parents are created
    assert directory == tmp_path / "a" / "b"
    assert sorted(os.listdir(directory)) == [
        "connectivity.nc",
        "metadata.json",
        "spiking_region_0.nix",
        "spiking_region_2.nix",
        "tvb.nc",
    ]


@pytest.mark.smoke
def test_files_open_with_plain_xarray_and_neo(result, tmp_path):
    directory = result.save(tmp_path / "run")
    script = textwrap.dedent(
        """
        import json, sys
        import neo, xarray
        directory = sys.argv[1]
        with xarray.open_dataset(directory + "/tvb.nc", engine="h5netcdf") as ds:
            tvb = {
                "raw": ds["Raw"].values.tolist(),
                "average_time": ds["TemporalAverage_time"].values.tolist(),
                "time_units": ds["Raw_time"].attrs["units"],
                "regions": [str(r) for r in ds["region"].values],
                "metadata": json.loads(ds.attrs["pynn_multiscale_metadata"]),
            }
        io = neo.io.NixIO(directory + "/spiking_region_0.nix", mode="ro")
        block = io.read_block()
        io.close()
        segment = block.segments[0]
        spiking = {
            "times": [st.magnitude.tolist() for st in segment.spiketrains],
            "units": [str(st.units.dimensionality) for st in segment.spiketrains],
            "populations": [st.annotations["population"] for st in segment.spiketrains],
            "regions": [int(st.annotations["region"]) for st in segment.spiketrains],
            "signal": segment.analogsignals[0].magnitude.ravel().tolist(),
            "signal_units": str(segment.analogsignals[0].units.dimensionality),
        }
        imported = any(name.startswith("pynn_multiscale") for name in sys.modules)
        print(json.dumps({"tvb": tvb, "spiking": spiking, "imported": imported}))
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(directory)],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["imported"] is False
    assert out["tvb"]["raw"] == result.tvb["Raw"].values.tolist()
    assert out["tvb"]["average_time"] == [0.5, 1.0]
    assert out["tvb"]["time_units"] == "ms"
    assert out["tvb"]["regions"] == REGION_LABELS
    assert out["tvb"]["metadata"] == METADATA
    expected_times = SPIKES[0]["E"] + SPIKES[0]["I"]
    assert out["spiking"]["times"] == expected_times
    assert out["spiking"]["units"] == ["ms"] * 3
    assert out["spiking"]["populations"] == ["E", "E", "I"]
    assert out["spiking"]["regions"] == [0, 0, 0]
    original_signal = result.spiking[0].segments[0].analogsignals[0]
    assert out["spiking"]["signal"] == original_signal.magnitude.ravel().tolist()
    assert out["spiking"]["signal_units"] == "mV"


def test_loaded_result_can_be_saved_again(result, tmp_path):
    first = Result.load(result.save(tmp_path / "first"))
    second = Result.load(first.save(tmp_path / "second"))
    xr.testing.assert_identical(second.tvb, result.tvb)
    assert_same_type_and_value(second.metadata, METADATA)
    got = second.spiking[0].segments[0].spiketrains[0]
    assert_same_type_and_value(
        got.annotations, result.spiking[0].segments[0].spiketrains[0].annotations, "annotations"
    )


def test_failed_save_keeps_previous_files(result, tmp_path, monkeypatch):
    directory = result.save(tmp_path / "run")
    tvb_bytes = (directory / "tvb.nc").read_bytes()
    nix_bytes = (directory / "spiking_region_0.nix").read_bytes()

    def broken_to_netcdf(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise RuntimeError("disk unplugged")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken_to_netcdf)
    result.metadata["seeds"]["tvb"] = 7
    with pytest.raises(RuntimeError, match="disk unplugged"):
        result.save(directory)
    monkeypatch.undo()
    assert (directory / "tvb.nc").read_bytes() == tvb_bytes
    assert (directory / "spiking_region_0.nix").read_bytes() == nix_bytes
    assert sorted(os.listdir(directory)) == [
        "connectivity.nc",
        "metadata.json",
        "spiking_region_0.nix",
        "spiking_region_2.nix",
        "tvb.nc",
    ]
    assert Result.load(directory).metadata["seeds"]["tvb"] == 42


# ------------------------------------------------------------------- errors


def test_save_to_an_existing_file_raises(result, tmp_path):
    target = tmp_path / "results.nc"
    target.write_text("not a directory")
    with pytest.raises(ResultIOError, match="path=") as info:
        result.save(target)
    assert str(target) in str(info.value)
    assert "Fix:" in str(info.value)
    assert isinstance(info.value, OSError)
    assert target.read_text() == "not a directory"


def test_save_below_a_file_raises(result, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultIOError, match="path=.*cannot be created"):
        result.save(tmp_path / "file" / "run")


def test_save_to_a_read_only_directory_raises(result, tmp_path, monkeypatch):
    # os.access stands in for a read-only directory, which root could write anyway
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(ResultIOError, match="path=.*not writable"):
        result.save(tmp_path)
    assert os.listdir(tmp_path) == []


def test_load_from_an_empty_directory_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="tvb.nc") as info:
        Result.load(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="Result.save"):
        Result.load(tmp_path / "missing")


def test_load_with_a_missing_spiking_file_raises(result, tmp_path):
    directory = result.save(tmp_path / "run")
    (directory / "spiking_region_2.nix").unlink()
    with pytest.raises(FileNotFoundError, match="spiking_region_2.nix"):
        Result.load(directory)


def test_constructor_checks_types(result):
    with pytest.raises(TypeError, match="tvb"):
        Result(tvb={"Raw": []})
    with pytest.raises(TypeError, match="spiking keys"):
        Result(result.tvb, spiking={"0": neo.Block()})
    with pytest.raises(TypeError, match="complete"):
        Result(result.tvb, complete="no")
    assert list(Result(result.tvb, spiking={np.int64(3): neo.Block()}).spiking) == [3]

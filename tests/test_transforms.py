"""Transforms map values exactly as their formulas say, refuse bad parameters, and travel as data."""

import json
import math

import numpy as np
import pytest

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend
from pynn_multiscale.proxies import transforms as T
from tvb_helpers import held_rate_simulator

X = np.array([[-3.0, 0.0], [0.5, 2.0], [6.0, 11.0]])  # (n_steps, n_regions)
JR = dict(maximum=0.005, slope=0.56, midpoint=6.0)  # tvb-library JansenRit: 2 e0, r, v0


def started(transform, initial=(0.0, 0.0), dt=0.1):
    return transform.start(dt, np.array(initial))


def test_affine():
    assert np.array_equal(started(T.Affine(scale=-2.0, offset=0.5))(X), -2.0 * X + 0.5)
    assert np.array_equal(started(T.Affine())(X), X)


def test_sigmoid_is_jansen_rits():
    got = started(T.Sigmoid(**JR))(X)
    assert np.array_equal(got, 0.005 / (1.0 + np.exp(0.56 * (6.0 - X))))
    assert got[2, 0] == 0.0025  # at the midpoint: half the maximum


def test_inverse_sigmoid_inverts_and_clips():
    y = started(T.Sigmoid(**JR))(X)
    back = started(T.InverseSigmoid(**JR))(y)
    assert np.allclose(back, X, rtol=0, atol=1e-12)
    assert np.array_equal(started(T.InverseSigmoid(**JR))(np.array([[0.001]])),
                          6.0 - np.log(0.005 / np.array([[0.001]]) - 1.0) / 0.56)
    edge = started(T.InverseSigmoid(**JR))(np.array([[0.0, 0.005]]))
    assert np.all(np.isfinite(edge)) and edge[0, 0] < -30 and edge[0, 1] > 40


def test_clip():
    assert np.array_equal(started(T.Clip(0.0, 1.0))(X), np.clip(X, 0.0, 1.0))
    assert np.array_equal(started(T.Clip(low=0.0))(X), np.maximum(X, 0.0))


def test_low_pass_is_exact_linear_integration_carried_across_windows():
    tau, dt = 5.0, 0.1
    x = np.random.default_rng(1).uniform(0, 10, size=(40, 2))
    step = started(T.LowPass(tau), initial=(1.0, 2.0), dt=dt)
    got = np.concatenate([step(x[:25]), step(x[25:])])  # two windows
    keep = math.exp(-dt / tau)
    expected, y = np.empty_like(x), np.array([1.0, 2.0])
    for k in range(x.shape[0]):
        y = keep * y + (1 - keep) * x[k]
        expected[k] = y
    assert np.allclose(got, expected, rtol=1e-13, atol=0)


def test_chain_applies_in_order():
    chain = T.Chain(T.Clip(0.0, 1.0), T.Affine(scale=10.0, offset=1.0))
    assert np.array_equal(started(chain)(X), 10.0 * np.clip(X, 0.0, 1.0) + 1.0)
    assert not np.array_equal(started(T.Chain(T.Affine(scale=10.0, offset=1.0),
                                              T.Clip(0.0, 1.0)))(X), started(chain)(X))


def test_python_function_escape_hatch():
    assert np.array_equal(started(T.PythonFunction(np.tanh))(X), np.tanh(X))
    description = T.PythonFunction(np.tanh).describe()
    assert description["rebuildable"] is False and description["function"].endswith("tanh")
    with pytest.raises(pm.ConfigurationError, match="PythonFunction"):
        T.transform_from_description(description)


@pytest.mark.parametrize("transform", [
    T.Affine(scale=3.0, offset=-1.0), T.Sigmoid(**JR), T.InverseSigmoid(**JR),
    T.Clip(-1.0, 2.0), T.Clip(low=0.0), T.LowPass(tau=7.5),
    T.Chain(T.Clip(0.0, 1.0), T.LowPass(2.0))])
def test_description_is_json_and_rebuilds_the_same_transform(transform):
    description = json.loads(json.dumps(transform.describe()))
    assert T.transform_from_description(description) == transform


@pytest.mark.parametrize("make, parameter", [
    (lambda: T.LowPass(tau=-1.0), "LowPass.tau=-1.0"),
    (lambda: T.LowPass(tau=0.0), "LowPass.tau=0.0"),
    (lambda: T.Affine(scale=math.inf), "Affine.scale=inf"),
    (lambda: T.Affine(offset=math.nan), "Affine.offset=nan"),
    (lambda: T.Sigmoid(maximum=-1.0), "Sigmoid.maximum=-1.0"),
    (lambda: T.InverseSigmoid(slope=0.0), "InverseSigmoid.slope=0.0"),
    (lambda: T.Clip(2.0, 1.0), "Clip.low=2.0"),
    (lambda: T.transform_from_description({"kind": "Sigmoidd"}), "kind='Sigmoidd'"),
])
def test_bad_parameters_are_named(make, parameter):
    with pytest.raises(pm.ConfigurationError) as excinfo:
        make()
    assert parameter in str(excinfo.value) and "Fix:" in str(excinfo.value)


def test_a_proxy_refuses_what_is_not_a_transform():
    with pytest.raises(pm.ConfigurationTypeError, match="RateToPoisson.transform"):
        pm.proxies.RateToPoisson("R", "E", transform=np.tanh)
    with pytest.raises(pm.ConfigurationTypeError, match="Replay.transform"):
        pm.proxies.Replay("Rin", transform="lambda x: x")


def test_proxies_apply_their_transforms_and_record_them(tmp_path):
    """Region 1 is a proxy: it receives weight * transform(coupling), and TVB gets transform(value).

    Region 0 holds R = 3, so the coupling into region 1 is 3; the replay
    sends Rin = 5 for region 1.
    """
    n_steps = 100
    backend = ReplayBackend({"Rin": np.full((n_steps, 1), 5.0)})
    to_spiking = pm.proxies.RateToPoisson("R", "E", weight=2.0,
                                          transform=T.Affine(scale=10.0, offset=1.0))
    to_tvb = pm.proxies.Replay("Rin", transform=T.Chain(T.Affine(scale=2.0), T.Clip(high=9.0)))
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [3.0, 7.0])
    with pm.CoSimulation(tvb, backend, spiking_regions=[1], to_spiking=[to_spiking],
                         to_tvb=[to_tvb]) as cosim:
        result = cosim.run(n_steps * cosim.dt)
    assert np.array_equal(backend.rates_received(0, 0.1), np.full(n_steps, 2.0 * (10.0 * 3 + 1)))
    rin = result.tvb["Raw"].sel(Raw_variable="Rin", region="r1").values[:, 0]
    assert np.array_equal(rin, np.full(n_steps, 9.0))  # 2 * 5, clipped at 9
    meta = result.metadata
    assert meta["to_spiking"][0]["transform"] == {"kind": "Affine", "scale": 10.0, "offset": 1.0}
    assert meta["to_tvb"][0]["transform"]["steps"][1] == {"kind": "Clip", "low": -math.inf,
                                                          "high": 9.0}
    loaded = pm.Result.load(result.save(tmp_path / "run")).metadata
    rebuilt = T.transform_from_description(loaded["to_tvb"][0]["transform"])
    assert rebuilt == to_tvb.transform

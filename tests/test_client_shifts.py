"""Where clients are built: rotation and label swaps on training and held-out data, and the
feature metrics of what the clients train on, growing with the strength of each shift."""

import numpy as np
import pytest

from fedbench.clients import build_clients, training_data
from fedbench.partitioning.concept_shift import client_swaps
from fedbench.partitioning.shift import ClientShift, rotate_images
from tests.app.job.test_experiment import make_config
from tests.partitioning.helpers import strictly_decreasing

FOUR = ("fl.num_clients=4", "fl.clients_per_round=4")


def _clients(results_dir, *overrides):
    prepared = make_config(results_dir, *FOUR, *overrides)
    data = prepared.load()
    return prepared.spec, data, build_clients(prepared.spec, data)


@pytest.mark.parametrize("rotate_holdout", [True, False])
def test_rotation_turns_client_k_by_max_degrees_k_over_k_minus_1(results_dir, rotate_holdout):
    spec, data, clients = _clients(
        results_dir,
        "partition=rotation",
        "partition.max_degrees=90",
        f"partition.rotate_holdout={str(rotate_holdout).lower()}",
        "fl.client_holdout=0.25",
    )
    x = data.dataset.train.x
    for k in range(4):  # 90 * k / 3 degrees
        train_rows, held_rows = _rows(spec, data, k)
        np.testing.assert_allclose(clients.train_x[k], rotate_images(x[train_rows], 30.0 * k))
        held = rotate_images(x[held_rows], 30.0 * k) if rotate_holdout else x[held_rows]
        np.testing.assert_allclose(clients.holdout_x[k], held)
        assert np.array_equal(clients.train_y[k], data.dataset.train.y[train_rows])
    # The last client's digits are turned a quarter: exactly numpy's rot90.
    np.testing.assert_allclose(
        clients.train_x[3], np.rot90(x[_rows(spec, data, 3)[0]], 1, axes=(1, 2))
    )


def _rows(spec, data, k):
    from fedbench.clients import holdout_split

    train, held = holdout_split(data.parts, spec.fl.client_holdout, spec.seed)
    return train[k], held[k]


def test_concept_shift_swaps_training_and_held_out_labels_not_the_test_set(results_dir):
    spec, data, _ = _clients(
        results_dir, "partition=concept_shift", "partition.swaps=2", "fl.client_holdout=0.25"
    )
    built = training_data(spec, data)
    y = data.dataset.train.y
    for k in range(4):
        mapping = ClientShift(label_swaps=client_swaps(2, 10, spec.seed, k)).label_map(10)
        train_rows, held_rows = _rows(spec, data, k)
        assert np.array_equal(built.clients.train_y[k], mapping[y[train_rows]])
        assert np.array_equal(built.clients.holdout_y[k], mapping[y[held_rows]])
        assert np.array_equal(built.clients.train_x[k], data.dataset.train.x[train_rows])
        # 2 disjoint pairs: exactly 4 of the 10 classes change name.
        assert (mapping != np.arange(10)).sum() == 4
    assert np.array_equal(built.test_y, data.dataset.test.y)
    assert np.array_equal(built.test_x, data.dataset.test.x)


def test_training_data_carries_the_label_and_feature_metrics(results_dir):
    spec, data, _ = _clients(results_dir, "partition=feature_noise", "partition.sigma=0.5")
    metrics = training_data(spec, data).metrics
    assert metrics["label_emd"] == data.metrics["label_emd"]
    assert all(np.isfinite(metrics[m]) for m in ("feature_hellinger", "feature_frechet"))


def _metric(results_dir, metric, *overrides, seed):
    prepared = make_config(results_dir, *overrides, f"seed={seed}")
    return training_data(prepared.spec, prepared.load()).metrics[metric]


@pytest.mark.parametrize(
    ("metric", "strategy", "key", "strengths"),
    [
        ("feature_frechet", "feature_noise", "sigma", [0.0, 0.25, 0.5, 1.0]),
        ("feature_hellinger", "feature_noise", "sigma", [0.0, 0.25, 0.5, 1.0]),
        ("feature_frechet", "rotation", "max_degrees", [0.0, 30.0, 60.0, 90.0]),
        ("conditional_frechet", "concept_shift", "swaps", [0, 1, 2, 3]),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_metric_grows_with_the_strength_of_its_shift(
    results_dir, metric, strategy, key, strengths, seed
):
    # Digits, 10 IID clients: the shift is the only difference between the settings, so
    # its metric must rise with every step of strength, for every seed.
    values = [
        _metric(results_dir, metric, f"partition={strategy}", f"partition.{key}={s}", seed=seed)
        for s in strengths
    ]
    assert strictly_decreasing(values[::-1]), values


def test_concept_shift_leaves_the_features_alone(results_dir):
    # Label swaps change neither the features nor their spread over clients.
    iid = _metric(results_dir, "feature_frechet", "partition=iid", seed=0)
    swapped = _metric(
        results_dir, "feature_frechet", "partition=concept_shift", "partition.swaps=3", seed=0
    )
    assert swapped == pytest.approx(iid)

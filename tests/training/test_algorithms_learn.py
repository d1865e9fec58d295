"""Every algorithm learns with its own defaults; SCAFFOLD and FedNova report what FedAvg does."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from fedbench.app.job.prepare import prepare
from fedbench.clients import training_data
from fedbench.records import ALGORITHMS
from fedbench.spec import RunSpec
from fedbench.training.optimizers import OptimizerSettings, WeightDecay, client_sgd
from fedbench.training.train import train

pytestmark = [pytest.mark.tff, pytest.mark.usefixtures("shared_session")]

#: The default digits run (IID, 10 clients, linear model, client step 0.1), 20 rounds.
ROUNDS = 20


@functools.cache
def _run(algorithm, **fl):
    spec = RunSpec.create(algorithm=algorithm, rounds=ROUNDS, **fl)
    return list(train(spec, training_data(spec, prepare(spec).load())))


SLOW = {"fedavgm", "fedprox"}  # TFF's own builders, as FedAvg is


@pytest.mark.parametrize(
    "algorithm",
    [pytest.param(a, marks=pytest.mark.slow) if a in SLOW else a for a in ALGORITHMS],
)
def test_every_algorithm_learns_on_digits_with_its_defaults(algorithm):
    records = _run(algorithm)
    assert not any(r.diverged for r in records)
    # Chance is 10%; FedAvg reaches about 91% after 20 rounds here and the slowest default,
    # FedAdam's small server step, about 87%.
    assert records[-1].test_accuracy > 0.8
    assert records[-1].test_loss < records[0].test_loss


def test_scaffold_learns_at_least_as_well_as_fedavg_on_iid_digits():
    fedavg, scaffold = _run("fedavg"), _run("scaffold")
    # On IID clients c_i ~ c, so SCAFFOLD's corrections are small: no worse than FedAvg
    # beyond one test example in 360 (the digits test split).
    assert scaffold[-1].test_accuracy >= fedavg[-1].test_accuracy - 1 / 360


@pytest.mark.parametrize("algorithm", ["scaffold", "fednova"])
def test_drift_and_per_client_accuracy_are_reported(algorithm):
    records = _run(algorithm, client_holdout=0.2, partition="dirichlet", clients_per_round=4)
    assert all(np.isfinite(r.client_drift) and r.client_drift > 0 for r in records)
    assert all(0 <= r.client_accuracy_p10 <= r.client_accuracy_mean <= 1 for r in records)
    assert records[-1].client_accuracy_mean > 0.5  # the global model's, on clients' own data


@pytest.mark.parametrize("algorithm", ["scaffold", "fednova"])
def test_a_run_that_blows_up_is_reported_diverged(algorithm):
    # A server step of 1e39 is infinite in float32 (max ~3.4e38): round 1's model is not finite.
    records = _run(algorithm, server_lr=1e39)
    assert records[-1].diverged and len(records) == 1


def test_weight_decay_adds_its_l2_gradient_before_the_step():
    settings = OptimizerSettings(
        client_lr=0.5, client_momentum=0.0, server_lr=1.0, weight_decay=0.1
    )
    optimizer = client_sgd(settings)
    assert isinstance(optimizer, WeightDecay)
    w, g = tf.constant([2.0, -4.0]), tf.constant([1.0, 1.0])
    state = optimizer.initialize(tf.TensorSpec([2], tf.float32))
    _, stepped = optimizer.next(state, w, g)
    # w - lr (g + wd w) = [2 - 0.5 (1 + 0.2), -4 - 0.5 (1 - 0.4)] = [1.4, -4.3]
    np.testing.assert_allclose(stepped.numpy(), [1.4, -4.3], rtol=1e-6)


def test_a_run_with_weight_decay_trains_and_differs_from_one_without():
    plain, decayed = _run("fedavg"), _run("fedavg", weight_decay=1e-2)
    assert not any(r.diverged for r in decayed)
    assert decayed[-1].test_loss != plain[-1].test_loss

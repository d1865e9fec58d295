"""Rotation and concept shift trained through TFF: the rows carry the feature metrics."""

import numpy as np
import pytest

from fedbench import results as R
from fedbench.app.job import experiment
from fedbench.clients import training_data
from tests.app.job.test_experiment import make_config, read_run

pytestmark = pytest.mark.tff

SMALL = ("fl.rounds=2", "fl.eval_every=1", "fl.num_clients=4", "fl.clients_per_round=4")


@pytest.mark.parametrize(
    ("overrides", "parameter", "value"),
    [
        (("partition=rotation", "partition.max_degrees=90"), R.MAX_DEGREES, 90.0),
        (("partition=concept_shift", "partition.swaps=2"), R.SWAPS, 2),
    ],
)
def test_a_shifted_run_records_the_feature_metrics_of_its_clients(
    results_dir, overrides, parameter, value
):
    config = make_config(results_dir, *SMALL, *overrides, "fl.client_holdout=0.2")
    assert experiment.run(config) == R.Status.COMPLETED
    frame = read_run(config)
    assert frame[parameter].tolist() == [value, value]
    # The rows' metrics are those of the arrays the clients trained on.
    expected = training_data(config.spec, config.load()).metrics
    for metric in R.HETEROGENEITY_METRICS:
        assert frame[metric].tolist() == pytest.approx([expected[metric]] * 2), metric
    assert np.isfinite(frame[R.FEATURE_FRECHET]).all() and (frame[R.FEATURE_FRECHET] > 0).all()
    # Per-client accuracy on held-out data shifted like each client's; global on the test set.
    assert frame[R.CLIENT_ACCURACY_MEAN].between(0, 1).all()
    assert frame[R.TEST_ACCURACY].between(0, 1).all()

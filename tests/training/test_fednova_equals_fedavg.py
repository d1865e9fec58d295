"""FedNova is FedAvg when every client takes the same number of steps without momentum."""

import dataclasses

import numpy as np
import pytest

from fedbench.app.job.prepare import prepare
from fedbench.clients import training_data
from fedbench.spec import RunSpec
from fedbench.training.train import train

pytestmark = pytest.mark.tff


def _records(algorithm):
    # digits split IID over 10 clients holds 143 or 144 training examples each: batches of
    # 45 give every client tau = 4 steps, so a_i = tau_eff = 4 (a power of two: dividing
    # by it and multiplying back is exact in float32, and so is the whole round).
    spec = RunSpec.create(algorithm=algorithm, rounds=3, batch_size=45, client_lr=0.1)
    data = training_data(spec, prepare(spec).load())
    sizes = {len(y) for y in data.clients.train_y}
    assert {-(-size // 45) for size in sizes} == {4}, sizes
    return [dataclasses.asdict(r) for r in train(spec, data)]


def test_fednova_with_equal_steps_and_no_momentum_is_fedavg_exactly():
    fedavg, fednova = _records("fedavg"), _records("fednova")
    timing = ("round_seconds", "examples_per_second")
    for ours, theirs in zip(fednova, fedavg, strict=True):
        for key in ours.keys() - set(timing):
            assert np.array_equal(ours[key], theirs[key], equal_nan=True), (ours["round"], key)

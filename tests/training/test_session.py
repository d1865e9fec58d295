"""Jobs of one process share a TFF worker and their built learning process (``session.kept``)."""

from __future__ import annotations

import dataclasses

import psutil
import pytest

from fedbench.app.job.prepare import prepare
from fedbench.clients import training_data
from fedbench.spec import RunSpec
from fedbench.training import session as sessions
from fedbench.training.train import train

pytestmark = pytest.mark.tff


def _job(**keys):
    spec = RunSpec.create(num_clients=8, clients_per_round=4, rounds=2, **keys)
    return spec, training_data(spec, prepare(spec).load())


def _rows(spec, data, **kwargs):
    return [dataclasses.asdict(r) for r in train(spec, data, **kwargs)]


def _without_timings(rows):
    timing = ("round_seconds", "examples_per_second")
    return [{k: v for k, v in r.items() if k not in timing} for r in rows]


@pytest.mark.parametrize("algorithm", ["fedavg", "scaffold"])
def test_two_jobs_share_one_worker_and_one_process_and_train_as_alone(algorithm):
    first = _job(algorithm=algorithm, partition="iid", seed=1)
    second = _job(
        algorithm=algorithm, partition="dirichlet", partition_options={"alpha": 0.5}, seed=2
    )
    alone = [_rows(*first), _rows(*second)]  # each job with its own worker and process
    with sessions.kept() as session:
        shared = [_rows(*first), _rows(*second)]
        assert session.workers_started == 1
        assert session.processes_built == 1
        (worker,) = [p for p in psutil.Process().children() if "worker_binary" in p.name()]
    assert not worker.is_running()  # the block's end stops it
    assert _without_timings(shared[0]) == _without_timings(alone[0])
    assert _without_timings(shared[1]) == _without_timings(alone[1])


def test_another_model_builds_another_process_on_the_same_worker():
    with sessions.kept() as session:
        _rows(*_job(model="linear"))
        _rows(*_job(model="mlp"))
        _rows(*_job(model="linear", seed=5))
        assert (session.workers_started, session.processes_built) == (1, 2)


def test_a_job_that_fails_closes_the_session(tmp_path):
    from fedbench.training.checkpoints import Checkpoints

    spec, data = _job(checkpoint_every=1)

    def fail(round_num: int) -> None:
        raise RuntimeError("disk gone")

    with sessions.kept() as session:
        _rows(spec, data)
        with pytest.raises(RuntimeError, match="disk gone"):
            checkpoints = Checkpoints(tmp_path, spec.config_hash)
            _rows(spec, data, checkpoints=checkpoints, before_checkpoint=fail)
        assert session.processes_built == 1
        _rows(spec, data)  # a new worker and a new build: nothing of the failed job serves
        assert (session.workers_started, session.processes_built) == (2, 2)


def test_at_most_max_processes_are_kept():
    session = sessions.TrainingSession(max_processes=2)
    built = [session.process(key, lambda key=key: object()) for key in "abca"]
    assert session.processes_built == 4  # "a" was dropped when "c" came, built again after
    assert built[3] is not built[0]
    assert session.process("c", object) is built[2]

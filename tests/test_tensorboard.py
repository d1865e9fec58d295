"""TensorBoard events of a run, read back with TensorBoard's own reader, against its Parquet.

Every file of a run's folder is read raw (``EventFileLoader``, no de-duplication or
purging as ``EventAccumulator`` does), so a step written twice shows as twice.
"""

import logging
import math

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util

from fedbench import results as R
from fedbench.app import experiment
from fedbench.results import tensorboard as tb
from fedbench.spec import RunSpec
from tests.test_experiment import make_config, read_run
from tests.test_resume import StepCounter

SESSION_START = hparams_metadata.SESSION_START_INFO_TAG


def read_events(prepared):
    """``{tag: [(step, value), ...]}`` of the run's scalars, and its HParams sessions."""
    scalars, sessions = {}, []
    for path in sorted(tb.run_dir(prepared.spec).glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == SESSION_START:
                    content = value.metadata.plugin_data.content
                    sessions.append(hparams_metadata.parse_session_start_info_plugin_data(content))
                elif value.tag in tb.SCALARS:
                    number = float(tensor_util.make_ndarray(value.tensor))
                    scalars.setdefault(value.tag, []).append((event.step, number))
    return scalars, sessions


def expected_scalars(frame):
    """The Parquet's recorded values per column, as float32 (a scalar summary's precision)."""
    out = {}
    for tag in tb.SCALARS:
        out[tag] = [
            (int(r), float(np.float32(v)))
            for r, v in zip(frame[R.ROUND], frame[tag], strict=True)
            if not math.isnan(v)
        ]
    return {tag: pairs for tag, pairs in out.items() if pairs}


# client_holdout: per-client accuracy recorded; eval_every=2: round 1 has no test metrics.
RUN = ("fl.client_holdout=0.2", "fl.eval_every=2")


@pytest.mark.tff
def test_a_runs_events_equal_its_parquet_rows_and_carry_its_hparams(results_dir):
    prepared = make_config(results_dir, *RUN, "fl.rounds=3", "partition=dirichlet")
    assert experiment.run(prepared) == R.Status.COMPLETED
    frame = read_run(prepared)
    scalars, sessions = read_events(prepared)
    expected = expected_scalars(frame)
    # Evaluated rounds are 2 and 3 (every 2nd and the last): test metrics at steps 2, 3;
    # training metrics and round time at every round 1..3.
    assert [s for s, _ in expected[R.TEST_ACCURACY]] == [2, 3]
    assert [s for s, _ in expected[R.ROUND_SECONDS]] == [1, 2, 3]
    assert {R.CLIENT_DRIFT, R.CLIENT_ACCURACY_MEAN, R.CLIENT_ACCURACY_P10} <= set(expected)
    assert scalars == expected

    (session,) = sessions  # written once
    params = {k: v.string_value or v.number_value for k, v in session.hparams.items()}
    spec = prepared.spec
    assert params["dataset"] == "digits" and params["partition"] == "dirichlet"
    assert params["partition.alpha"] == spec.partition.options["alpha"]
    assert params["algorithm"] == "fedavg" and params["fl.client_holdout"] == 0.2
    assert params["seed"] == 0 and "fl.rounds" not in params  # rounds: not the identity
    assert session.group_name == tb.run_name(spec)
    assert tb.run_dir(spec).name.endswith(spec.config_hash)


@pytest.mark.tff
def test_resumed_and_extended_runs_continue_their_curves_without_a_repeated_step(
    results_dir, monkeypatch
):
    args = (*RUN, "fl.checkpoint_every=2")
    stopped = make_config(results_dir, *args, "fl.rounds=4")
    StepCounter(monkeypatch, stop_at=3)  # Ctrl-C inside round 3: rows (and events) 1-2
    with pytest.raises(KeyboardInterrupt):
        experiment.run(stopped)
    assert read_run(stopped)[R.ROUND].tolist() == [1, 2]
    assert [s for s, _ in read_events(stopped)[0][R.ROUND_SECONDS]] == [1, 2]

    StepCounter(monkeypatch)  # resumed: rounds 3-4
    assert experiment.run(make_config(results_dir, *args, "fl.rounds=4")) == R.Status.COMPLETED
    extended = make_config(results_dir, *args, "fl.rounds=5")  # extended: round 5
    assert experiment.run(extended) == R.Status.COMPLETED

    frame = read_run(extended)
    assert frame[R.ROUND].tolist() == [1, 2, 3, 4, 5]
    scalars, sessions = read_events(extended)
    # Three jobs, three event files, each step once: the curves equal the rows.
    assert len(list(tb.run_dir(extended.spec).glob("events.out.tfevents.*"))) == 3
    assert scalars == expected_scalars(frame)
    assert len(sessions) == 1


@pytest.mark.tff
def test_fl_tensorboard_false_writes_no_events_and_is_the_same_run(results_dir):
    off = make_config(results_dir, "fl.rounds=1", "fl.tensorboard=false")
    assert off.spec.config_hash == make_config(results_dir, "fl.rounds=1").spec.config_hash
    assert experiment.run(off) == R.Status.COMPLETED
    assert read_run(off)[R.ROUND].tolist() == [1]
    assert not (results_dir / tb.TENSORBOARD_SUBDIR).exists()


def test_a_failure_to_write_events_is_one_warning_never_a_failed_run(tmp_path, caplog):
    spec = RunSpec.create(results_dir=str(tmp_path))
    (tmp_path / tb.TENSORBOARD_SUBDIR).write_text("not a folder")  # the run's folder cannot be
    events = tb.EventLog(spec, written=0)
    rows = [{R.ROUND: 1, R.TRAIN_LOSS: 1.0}, {R.ROUND: 2, R.TRAIN_LOSS: 0.5}]
    with caplog.at_level(logging.WARNING, logger=tb.__name__):
        events.add(rows)
        events.add(rows)  # after a failure, nothing more is tried
        events.close()
    (record,) = caplog.records
    assert spec.config_hash in record.getMessage() and "results are unaffected" in record.message


def test_scalars_leave_out_what_a_round_did_not_record():
    rows = [
        {R.ROUND: 1, R.TRAIN_LOSS: 2.0, R.TEST_LOSS: float("nan"), R.CLIENT_DRIFT: None},
        {R.ROUND: 2, R.TRAIN_LOSS: 1.0, R.TEST_LOSS: 1.5},
    ]
    assert tb.scalars(rows) == [
        (R.TRAIN_LOSS, 1, 2.0),
        (R.TRAIN_LOSS, 2, 1.0),
        (R.TEST_LOSS, 2, 1.5),
    ]


def test_hparams_hold_the_identity_without_nulls_and_the_run_name_its_hash():
    spec = RunSpec.create(partition="dirichlet", algorithm="fedprox", seed=3)
    params = tb.hparams(spec)
    assert params["partition"] == "dirichlet" and params["algorithm"] == "fedprox"
    assert "algorithm.mu" in params and params["seed"] == 3
    assert all(v is not None for v in params.values())
    assert set(params) & {"fl.threads", "fl.rounds", "fl.tensorboard"} == set()
    assert tb.run_name(spec) == f"digits_dirichlet_linear_fedprox_seed3_{spec.config_hash}"

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
from fedbench.app.job import experiment
from fedbench.results import tensorboard as tb
from fedbench.spec import RunSpec
from tests.app.job.test_experiment import make_config, read_run
from tests.app.job.test_resume import StepCounter

SESSION_START = hparams_metadata.SESSION_START_INFO_TAG


def read_events(run):
    """``{tag: [(step, value), ...]}`` of the run's scalars, and its HParams sessions.

    ``run`` is a prepared run or its spec.
    """
    scalars, sessions = {}, []
    spec = getattr(run, "spec", run)
    for path in sorted(tb.run_dir(spec).glob("events.out.tfevents.*")):
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
    events = tb.EventLog(spec, stored=0)
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


def _rows(last):
    """Rows of rounds 1..last with a training loss of 1/round (round 2 without one)."""
    return [{R.ROUND: r, R.TRAIN_LOSS: None if r == 2 else 1.0 / r} for r in range(1, last + 1)]


def _job(spec, stored, rows):
    """One job's events: a log started with ``stored`` rows, fed ``rows``, closed."""
    events = tb.EventLog(spec, stored=stored)
    events.add(rows)
    events.close()


def _steps(spec):
    scalars, sessions = read_events(spec)
    return [step for step, _ in scalars.get(R.TRAIN_LOSS, [])], len(sessions)


def test_a_signal_while_events_are_written_repeats_no_step(tmp_path, monkeypatch):
    import tensorflow as tf

    spec = RunSpec.create(results_dir=str(tmp_path))
    events = tb.EventLog(spec, stored=0)
    write = tf.summary.experimental.write_raw_pb

    def interrupted_at_round_3(tensor, step=None, **kwargs):
        if step == 3:
            raise KeyboardInterrupt  # Ctrl-C while round 3 is written at a checkpoint
        return write(tensor, step=step, **kwargs)

    monkeypatch.setattr(tf.summary.experimental, "write_raw_pb", interrupted_at_round_3)
    with pytest.raises(KeyboardInterrupt):
        events.add(_rows(3))
    assert events.written == 2  # round 1 queued, round 2 has nothing, round 3 did not go
    monkeypatch.setattr(tf.summary.experimental, "write_raw_pb", write)
    events.add(_rows(3))  # the job's last save writes the rows again
    events.close()
    assert _steps(spec) == ([1, 3], 1)


def test_the_next_job_writes_the_rounds_the_event_files_lack(tmp_path):
    spec = RunSpec.create(results_dir=str(tmp_path))
    _job(spec, 0, _rows(1))  # rows 1..3 stored, but a killed job flushed events of 1 only
    _job(spec, 3, _rows(5))  # the next job: 2 and 3 from the stored rows, then 4, 5
    assert _steps(spec) == ([1, 3, 4, 5], 1)
    assert tb.events_on_disk(tb.run_dir(spec)) == (5, True)


def test_rows_stored_without_events_get_them_with_the_hparams_the_folder_lacks(tmp_path):
    import tensorflow as tf

    spec = RunSpec.create(results_dir=str(tmp_path))
    _job(spec, 3, _rows(4))  # rounds 1-3 stored with fl.tensorboard=false: no folder yet
    assert _steps(spec) == ([1, 3, 4], 1)
    # A job killed before its HParams reached the disk left scalars without them.
    other = RunSpec.create(results_dir=str(tmp_path), seed=1)
    tb.run_dir(other).mkdir(parents=True)
    with tf.summary.create_file_writer(str(tb.run_dir(other))).as_default():
        tf.summary.scalar(R.TRAIN_LOSS, 1.0, step=1)
    assert tb.events_on_disk(tb.run_dir(other)) == (1, False)
    _job(other, 1, _rows(3))
    assert _steps(other) == ([1, 3], 1)


def test_events_ahead_of_the_rows_are_started_anew(tmp_path):
    spec = RunSpec.create(results_dir=str(tmp_path))
    _job(spec, 0, _rows(5))  # events of rows 1..5, whose result file then lost rows 4, 5
    _job(spec, 3, _rows(4))
    assert _steps(spec) == ([1, 3, 4], 1)

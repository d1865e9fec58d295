"""Round checkpoints end to end through TFF: resume, extend, answer shorter settings, set aside.

A run is a trajectory (``fl.rounds`` is not part of its identity). The number of TFF
rounds a command trains is counted by wrapping the loop's ``step`` (one call = one
``process.next``).
"""

import json

import numpy as np
import pandas as pd
import pytest

from fedbench import results as R
from fedbench.app.job import experiment
from fedbench.training import loop
from fedbench.training.checkpoints import checkpoint_path
from tests.app.job.test_experiment import make_config, read_run

pytestmark = [pytest.mark.tff, pytest.mark.usefixtures("shared_session")]


#: Tests whose runs each start their own TFF worker, as a lone ``fedbench`` command does
#: (the others share one a test: ``shared_session`` in tests/conftest.py).
OWN_WORKER = {"test_an_interrupted_run_resumes_at_its_checkpoint_as_if_never_stopped"}

#: What a round computed: equal for a resumed and an uninterrupted run of one seed.
TRAJECTORY = [
    R.ROUND,
    R.EVALUATED,
    R.TRAIN_LOSS,
    R.TRAIN_ACCURACY,
    R.TEST_LOSS,
    R.TEST_ACCURACY,
    R.CLIENT_ACCURACY_MEAN,
    R.CLIENT_ACCURACY_P10,
    R.CLIENT_DRIFT,
    R.TRAIN_EXAMPLES,
]
# Dirichlet skew with half the clients per round: sampling, shuffling and skew all act.
RUN = ("partition=dirichlet", "fl.clients_per_round=5", "fl.client_holdout=0.2")


class StepCounter:
    """Counts TFF rounds (``loop.step`` calls); raises ``stop_with`` at round ``stop_at``."""

    def __init__(self, monkeypatch, stop_at=None, stop_with=KeyboardInterrupt):
        self.calls, self.stop_at, self.stop_with = 0, stop_at, stop_with
        self.real = loop.step
        monkeypatch.setattr(loop, "step", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.stop_at:
            raise self.stop_with()
        return self.real(*args, **kwargs)


def checkpoint_round(prepared):
    spec = prepared.spec
    with np.load(checkpoint_path(spec.results_dir, spec.config_hash)) as archive:
        return json.loads(archive["meta"].tobytes())["round"]


def trajectory(prepared):
    return read_run(prepared)[TRAJECTORY].reset_index(drop=True)


@pytest.mark.parametrize("algorithm", ["fedavg", "fedadam"])  # fedadam: server optimizer state
def test_an_interrupted_run_resumes_at_its_checkpoint_as_if_never_stopped(
    tmp_path, monkeypatch, algorithm
):
    args = (*RUN, f"algorithm={algorithm}", "fl.rounds=6", "fl.checkpoint_every=4")
    whole = make_config(tmp_path / "whole", *args)
    assert experiment.run(whole) == R.Status.COMPLETED

    stopped = make_config(tmp_path / "stopped", *args)
    StepCounter(monkeypatch, stop_at=3)  # Ctrl-C inside round 3's TFF call
    with pytest.raises(KeyboardInterrupt):
        experiment.run(stopped)
    frame = read_run(stopped)
    assert frame[R.ROUND].tolist() == [1, 2] and (frame[R.STATUS] == R.Status.INTERRUPTED).all()
    assert checkpoint_round(stopped) == 2  # saved on the way out (the periodic one is at 4)

    resumed = StepCounter(monkeypatch)
    assert experiment.run(make_config(tmp_path / "stopped", *args)) == R.Status.COMPLETED
    assert resumed.calls == 4  # rounds 3-6 only
    pd.testing.assert_frame_equal(trajectory(stopped), trajectory(whole), check_exact=True)
    assert (read_run(stopped)[R.STATUS] == R.Status.COMPLETED).all()


def test_more_rounds_extend_a_finished_run_and_fewer_are_answered_from_its_rows(
    tmp_path, monkeypatch
):
    five = make_config(tmp_path, *RUN, "fl.rounds=5")
    assert experiment.run(five) == R.Status.COMPLETED
    first = read_run(five)

    ten = make_config(tmp_path, *RUN, "fl.rounds=10")
    assert ten.spec.config_hash == five.spec.config_hash  # one run, one trajectory
    extended = StepCounter(monkeypatch)
    assert experiment.run(ten) == R.Status.COMPLETED
    assert extended.calls == 5  # rounds 6-10
    after = read_run(ten)
    assert after[R.ROUND].tolist() == list(range(1, 11))
    # rows 1-5 are the first command's, untouched (its start time and all)
    pd.testing.assert_frame_equal(
        after.iloc[:5][[*TRAJECTORY, R.STARTED_AT, R.RUN_ID]],
        first[[*TRAJECTORY, R.STARTED_AT, R.RUN_ID]],
    )
    whole = make_config(tmp_path / "whole", *RUN, "fl.rounds=10")
    experiment.run(whole)
    pd.testing.assert_frame_equal(trajectory(ten), trajectory(whole), check_exact=True)

    untrained = StepCounter(monkeypatch)
    assert experiment.run(make_config(tmp_path, *RUN, "fl.rounds=7")) == "skipped"
    assert untrained.calls == 0
    stored = read_run(ten)
    assert list(stored[R.REQUESTED_ROUNDS].iloc[0]) == [5, 7, 10]
    assert stored[R.ROUNDS].eq(10).all() and stored[R.STATUS].eq(R.Status.COMPLETED).all()
    settings = R.load_settings(tmp_path)
    assert sorted(settings.groupby(R.ROUNDS)[R.ROUND].max().items()) == [(5, 5), (7, 7), (10, 10)]


def test_a_shorter_setting_never_evaluated_is_replayed_without_moving_the_checkpoint(
    tmp_path, monkeypatch
):
    # eval_every=4 over 10 rounds evaluates rounds 4, 8 and 10: round 6 was not.
    ten = make_config(tmp_path, *RUN, "fl.rounds=10", "fl.eval_every=4")
    experiment.run(ten)
    before = read_run(ten)
    replay = StepCounter(monkeypatch)
    assert experiment.run(make_config(tmp_path, *RUN, "fl.rounds=6", "fl.eval_every=4")) == (
        R.Status.COMPLETED
    )
    assert replay.calls == 6  # rounds 1-6 again, to evaluate round 6
    after = read_run(ten)
    assert after[R.EVALUATED].tolist() == [r in (4, 6, 8, 10) for r in range(1, 11)]
    scores = (
        R.EVALUATED,
        R.TEST_LOSS,
        R.TEST_ACCURACY,
        R.CLIENT_ACCURACY_MEAN,
        R.CLIENT_ACCURACY_P10,
    )
    same = [c for c in TRAJECTORY if c not in scores]
    assert after[R.TEST_ACCURACY].notna().tolist() == after[R.EVALUATED].tolist()
    pd.testing.assert_frame_equal(after[same], before[same], check_exact=True)
    assert checkpoint_round(ten) == 10  # still where the trajectory ends
    assert list(after[R.REQUESTED_ROUNDS].iloc[0]) == [6, 10]
    extend = StepCounter(monkeypatch)
    experiment.run(make_config(tmp_path, *RUN, "fl.rounds=12", "fl.eval_every=4"))
    assert extend.calls == 2


def test_a_corrupt_checkpoint_is_set_aside_and_the_run_still_completes(
    tmp_path, monkeypatch, caplog
):
    args = (*RUN, "fl.rounds=6", "fl.checkpoint_every=2")
    stopped = make_config(tmp_path, *args)
    StepCounter(monkeypatch, stop_at=5)
    with pytest.raises(KeyboardInterrupt):
        experiment.run(stopped)
    path = checkpoint_path(stopped.spec.results_dir, stopped.spec.config_hash)
    path.write_bytes(path.read_bytes()[:100])  # truncated, as a full disk might leave it
    again = StepCounter(monkeypatch)
    with caplog.at_level("WARNING", logger="fedbench.training.checkpoints"):
        assert experiment.run(make_config(tmp_path, *args)) == R.Status.COMPLETED
    assert again.calls == 6  # from round 1: nothing corrupt was resumed from
    assert [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert path.with_name(path.name + ".rejected").exists()
    whole = make_config(tmp_path / "whole", *args)
    experiment.run(whole)
    pd.testing.assert_frame_equal(trajectory(stopped), trajectory(whole), check_exact=True)


def test_a_diverged_run_answers_longer_requests_without_training(tmp_path, monkeypatch):
    # As in test_experiment: an MLP at client_lr=1e10 overflows within a few rounds.
    args = ("model=mlp", "fl.client_lr=1e10")
    first = make_config(tmp_path, *args, "fl.rounds=10")
    assert experiment.run(first) == R.Status.DIVERGED
    assert not checkpoint_path(tmp_path, first.spec.config_hash).exists()  # nothing to resume
    none = StepCounter(monkeypatch)
    assert experiment.run(make_config(tmp_path, *args, "fl.rounds=20")) == "skipped"
    assert none.calls == 0
    settings = R.load_settings(tmp_path)
    assert set(settings[R.ROUNDS]) == {10, 20} and settings[R.STATUS].eq("diverged").all()


def test_a_sweep_over_round_counts_trains_once_and_evaluates_each(tmp_path, monkeypatch):
    from tests.cli_helpers import run_command

    counter = StepCounter(monkeypatch)
    # eval_every=4: without the sweep's round counts, round 3 would not be evaluated.
    argv = ["-m", "fl.rounds=3,6", "fl.eval_every=4", f"results_dir={tmp_path / 'results'}"]
    (job,) = run_command(argv, tmp_path / "logs", run=experiment.run)
    assert job.spec.fl.rounds == 6  # the only job launched: it answers the 3-round one too
    assert counter.calls == 6
    summary = json.loads(next((tmp_path / "logs").rglob("sweep-summary.json")).read_text())
    assert summary["statuses"] == {"completed": 1, "skipped": 1}
    settings = R.load_settings(tmp_path / "results")
    last = settings.sort_values(R.ROUND).groupby(R.ROUNDS).last()
    assert last[R.ROUND].to_dict() == {3: 3, 6: 6}
    assert last[R.EVALUATED].all() and last[R.TEST_ACCURACY].notna().all()
    assert (last[R.STATUS] == R.Status.COMPLETED).all()


def test_an_interrupted_replay_leaves_the_stored_trajectory_whole(tmp_path, monkeypatch):
    ten = make_config(tmp_path, *RUN, "fl.rounds=10", "fl.eval_every=4")
    experiment.run(ten)
    before = read_run(ten)
    StepCounter(monkeypatch, stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        experiment.run(make_config(tmp_path, *RUN, "fl.rounds=6", "fl.eval_every=4"))
    after = read_run(ten)
    # rounds 1-2 were replayed (same numbers), 3-10 kept: the 10-round request stays done
    assert after[R.ROUND].tolist() == list(range(1, 11))
    assert after[R.STATUS].eq(R.Status.COMPLETED).all() and after[R.ERROR].isna().all()
    pd.testing.assert_frame_equal(after[TRAJECTORY], before[TRAJECTORY], check_exact=True)
    assert checkpoint_round(ten) == 10


def test_rows_trained_again_keep_the_evaluations_of_requested_rounds(tmp_path, monkeypatch):
    # eval_every=4: round 10 is evaluated only because a request ended there.
    args = (*RUN, "fl.eval_every=4")
    experiment.run(make_config(tmp_path, *args, "fl.rounds=10"))
    experiment.run(make_config(tmp_path, *args, "fl.rounds=20"))
    # A corrupt checkpoint: the next extension trains from round 1, through round 10 again.
    path = checkpoint_path(tmp_path, make_config(tmp_path, *args).spec.config_hash)
    path.write_bytes(b"garbage")
    experiment.run(make_config(tmp_path, *args, "fl.rounds=22"))
    # and a replay to evaluate round 14 passes round 10 once more
    experiment.run(make_config(tmp_path, *args, "fl.rounds=14"))
    frame = read_run(make_config(tmp_path, *args))
    evaluated = frame.loc[frame[R.EVALUATED], R.ROUND].tolist()
    assert evaluated == [4, 8, 10, 12, 14, 16, 20, 22]
    last = R.load_settings(tmp_path).sort_values(R.ROUND).groupby(R.ROUNDS).last()
    assert last[R.TEST_ACCURACY].notna().all() and sorted(last.index) == [10, 14, 20, 22]


def test_a_finished_file_left_failed_by_a_kill_is_repaired_without_training(tmp_path, monkeypatch):
    # Killed between the last checkpoint's rows (written as the request's status) and
    # the final write: simulate an older file whose finished rows still say failed.
    config = make_config(tmp_path, *RUN, "fl.rounds=4")
    experiment.run(config)
    rows = read_run(config).to_dict("records")
    for row in rows:
        row[R.STATUS] = R.Status.FAILED
    R.write_run(rows, tmp_path, config.spec.config_hash)
    none = StepCounter(monkeypatch)
    assert experiment.run(make_config(tmp_path, *RUN, "fl.rounds=4")) == "skipped"
    assert none.calls == 0 and read_run(config)[R.STATUS].eq(R.Status.COMPLETED).all()


def test_a_checkpoint_that_cannot_be_written_ends_the_run_in_one_line(tmp_path):
    from fedbench.errors import ResultsNotWritable

    config = make_config(tmp_path, *RUN, "fl.rounds=3", "fl.checkpoint_every=2")
    (tmp_path / "checkpoints").write_text("a file where the folder should be")
    with pytest.raises(ResultsNotWritable, match="the checkpoint of round 2 could not be written"):
        experiment.run(config)
    assert read_run(config)[R.ROUND].tolist() == [1, 2]  # its rows were written first


def test_a_truncated_result_is_named_set_aside_and_its_run_trained_again(
    tmp_path, monkeypatch, caplog
):
    args = (*RUN, "fl.checkpoint_every=2")
    first = make_config(tmp_path, *args, "fl.rounds=4")
    experiment.run(first)
    path = R.run_path(first.spec.results_dir, first.spec.config_hash)
    path.write_bytes(path.read_bytes()[:-100])  # its footer lost, as `truncate` leaves it
    again = StepCounter(monkeypatch)
    longer = make_config(tmp_path, *args, "fl.rounds=6")
    with caplog.at_level("WARNING"):
        assert experiment.run(longer) == R.Status.COMPLETED
    # The rows of rounds 1-4 are lost, so their checkpoint is no state to resume from:
    # rounds 1-6 are trained from the start.
    assert again.calls == 6
    named = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert len(named) == 1 and "cannot be read" in named[0] and "set aside" in named[0]
    assert path.with_name(path.name + ".rejected").exists()
    whole = make_config(tmp_path / "whole", *args, "fl.rounds=6")
    experiment.run(whole)
    pd.testing.assert_frame_equal(trajectory(longer), trajectory(whole), check_exact=True)


def test_scaffold_with_the_network_start_resumes_exactly_and_records_its_start(
    tmp_path, monkeypatch
):
    # Half the clients a round: c and the never-sampled clients' c_i still hold the start
    # network's weights W after the checkpoint, so rows equal to an uninterrupted run's need
    # them restored (a resume from zeros, or from another W, would change the rows).
    scaffold = ("model=mlp", "model.hidden=16", "algorithm=scaffold", "fl.rounds=6")
    args = (*RUN, *scaffold, "algorithm.control_start=network", "fl.checkpoint_every=4")
    whole, stopped, calls = stopped_in_round_3_and_resumed(tmp_path, monkeypatch, args)
    assert calls == 4  # rounds 3-6 only
    pd.testing.assert_frame_equal(trajectory(stopped), trajectory(whole), check_exact=True)

    zeros = make_config(tmp_path / "zeros", *RUN, *scaffold)
    assert experiment.run(zeros) == R.Status.COMPLETED
    # With partial participation the start changes the trajectory (docs/algorithms.md).
    assert not trajectory(zeros)[R.TRAIN_LOSS].equals(trajectory(whole)[R.TRAIN_LOSS])
    network_rows, zero_rows = read_run(whole), read_run(zeros)
    assert (network_rows["control_start"] == "network").all()
    assert (zero_rows["control_start"] == "zeros").all()
    # The default is left out of the run's identity (earlier runs keep their hash).
    assert '"control_start": "network"' in network_rows[R.CONFIG_JSON].iloc[0]
    assert "control_start" not in zero_rows[R.CONFIG_JSON].iloc[0]


@pytest.mark.slow  # test_client_work: the draws are functions of (seed, round, client)
def test_stragglers_and_unequal_epochs_resume_with_the_same_draws(tmp_path, monkeypatch):
    # Which clients straggle and every client's epochs depend on (seed, round, client)
    # alone: a run stopped in round 3 and resumed takes the uninterrupted run's work.
    args = (
        *RUN,
        "algorithm=fedprox",
        "fl.stragglers=0.5",
        "fl.straggler_work=partial",
        "fl.local_epochs=3",
        "fl.local_epochs_min=2",
        "fl.rounds=5",
        "fl.checkpoint_every=4",
    )
    whole, stopped, calls = stopped_in_round_3_and_resumed(tmp_path, monkeypatch, args)
    assert calls == 3  # rounds 3 to 5, from the checkpoint of round 2
    columns = [*TRAJECTORY, R.LOCAL_STEPS_MEAN, R.LOCAL_STEPS_STD]
    got, expected = (read_run(p)[columns].reset_index(drop=True) for p in (stopped, whole))
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got[R.LOCAL_STEPS_STD].gt(0).all()  # unequal work every round: the draws acted


def stopped_in_round_3_and_resumed(tmp_path, monkeypatch, args):
    """Run ``args`` whole, and again stopped by Ctrl-C in round 3 then resumed.

    Returns
    -------
    (whole, stopped, resumed_calls)
        The two prepared runs and the TFF rounds the resumed command trained.
    """
    whole = make_config(tmp_path / "whole", *args)
    assert experiment.run(whole) == R.Status.COMPLETED
    stopped = make_config(tmp_path / "stopped", *args)
    StepCounter(monkeypatch, stop_at=3)  # Ctrl-C inside round 3's TFF call
    with pytest.raises(KeyboardInterrupt):
        experiment.run(stopped)
    assert checkpoint_round(stopped) == 2
    resumed = StepCounter(monkeypatch)
    assert experiment.run(make_config(tmp_path / "stopped", *args)) == R.Status.COMPLETED
    return whole, stopped, resumed.calls

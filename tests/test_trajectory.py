"""A run is a trajectory: reading settings of fl.rounds from stored rows (no training)."""

import datetime as dt

import pandas as pd
import pytest

from fedbench import results as R


def _run(hash_, rounds, status, *, requested=None, last=None, evaluated_every=1):
    """Rows 1..last (default: rounds) of a run; test accuracy of round r is r / 100."""
    last = rounds if last is None else last
    return [
        {
            R.RUN_ID: f"{hash_}-1",
            R.CONFIG_HASH: hash_,
            R.STATUS: status,
            R.DATASET: "digits",
            R.ROUNDS: rounds,
            R.REQUESTED_ROUNDS: requested,
            R.ROUND: r,
            R.EVALUATED: r % evaluated_every == 0 or r == rounds,
            R.TEST_ACCURACY: r / 100,
            R.STARTED_AT: dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        }
        for r in range(1, last + 1)
    ]


@pytest.fixture
def sweep(results_dir):
    # a: asked 3, 6 and 10, trained 10. b: asked 10, diverged at round 4.
    # c: asked 5 then 10, interrupted after round 7. d: an old file (no requested_rounds).
    R.write_run(_run("a", 10, R.Status.COMPLETED, requested=[10, 3, 6]), results_dir, "a")
    R.write_run(_run("b", 10, R.Status.DIVERGED, requested=[10], last=4), results_dir, "b")
    R.write_run(_run("c", 10, R.Status.FAILED, requested=[5, 10], last=7), results_dir, "c")
    R.write_run(_run("d", 2, R.Status.COMPLETED), results_dir, "d")
    return results_dir


def test_load_settings_gives_one_block_per_requested_round_count(sweep):
    settings = R.load_settings(sweep)
    blocks = {
        (h, int(n)): (status.iloc[0], int(rounds.max()), len(rounds))
        for (h, n), (status, rounds) in (
            (key, (g[R.STATUS], g[R.ROUND]))
            for key, g in settings.groupby([R.CONFIG_HASH, R.ROUNDS])
        )
    }
    assert blocks == {
        ("a", 3): ("completed", 3, 3),
        ("a", 6): ("completed", 6, 6),
        ("a", 10): ("completed", 10, 10),
        ("b", 10): ("diverged", 4, 4),
        ("c", 5): ("completed", 5, 5),  # round 5 was trained before the interruption
        ("c", 10): ("failed", 7, 7),  # stopped short of 10: there, flagged
        ("d", 2): ("completed", 2, 2),
    }


def test_at_rounds_cuts_each_run_and_leaves_out_runs_short_of_it(sweep):
    at6 = R.at_rounds(R.load_runs(sweep), 6)
    # a reached 6; b diverged at 4 <= 6 (diverged); c reached 7 >= 6; d stopped at 2.
    by_run = at6.groupby(R.CONFIG_HASH)
    assert by_run[R.ROUND].max().to_dict() == {"a": 6, "b": 4, "c": 6}
    assert by_run[R.STATUS].first().to_dict() == {
        "a": "completed",
        "b": "diverged",
        "c": "completed",
    }
    assert set(at6[R.ROUNDS]) == {6}
    # the final accuracy of the 6-round setting is round 6's
    assert at6[(at6[R.CONFIG_HASH] == "a")][R.TEST_ACCURACY].iloc[-1] == pytest.approx(0.06)


def test_a_diverged_run_answers_shorter_settings_as_completed(sweep):
    at3 = R.at_rounds(R.load_runs(sweep), 3)
    assert at3.groupby(R.CONFIG_HASH)[R.STATUS].first()["b"] == "completed"


def test_progress_says_which_settings_the_store_answers(sweep):
    a, b, c = (R.read_progress(sweep, h) for h in "abc")
    assert (a.last_round, a.requested, a.status) == (10, (3, 6, 10), "completed")
    assert a.answers(10) == "completed" and a.answers(11) is None
    assert b.diverged_at == 4 and b.answers(3) == "completed" and b.answers(50) == "diverged"
    assert c.answers(7) == "completed" and c.answers(8) is None
    assert R.answered_status(sweep, "missing", 1) is None


def test_evaluated_reads_the_evaluated_flag(results_dir):
    R.write_run(_run("e", 6, R.Status.COMPLETED, evaluated_every=4), results_dir, "e")
    progress = R.read_progress(results_dir, "e")
    # evaluated every 4 rounds and at the last: rounds 4 and 6
    assert [r for r in range(1, 7) if progress.evaluated(r)] == [4, 6]


def test_an_unreadable_file_has_no_progress(results_dir):
    path = R.run_path(results_dir, "x")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    assert R.read_progress(results_dir, "x") is None


def test_load_settings_of_an_empty_folder_has_the_columns(results_dir):
    frame = R.load_settings(results_dir)
    expected = [c for c in R.column_names() if c != R.REQUESTED_ROUNDS]
    assert frame.empty and list(frame.columns) == expected


def test_pandas_reads_the_requested_rounds_column(sweep):
    frame = pd.read_parquet(R.runs_dir(sweep))
    listed = frame.loc[frame[R.CONFIG_HASH] == "a", R.REQUESTED_ROUNDS].iloc[0]
    assert sorted(listed) == [3, 6, 10]


def test_a_run_stopped_from_outside_is_interrupted_short_of_its_rounds_and_resumed(results_dir):
    # e: asked 5 then 10, stopped by a Slurm requeue or scancel after round 7.
    R.write_run(_run("e", 10, R.Status.INTERRUPTED, requested=[5, 10], last=7), results_dir, "e")
    settings = R.load_settings(results_dir)
    assert settings.groupby(R.ROUNDS)[R.STATUS].first().to_dict() == {
        5: "completed",  # round 5 was trained before it was stopped
        10: "interrupted",  # short of 10, and said why: to be resumed, not failed
    }
    assert R.at_rounds(R.load_runs(results_dir), 10).empty  # not a result of the setting
    assert R.answered_status(results_dir, "e", 10) is None  # the same command trains it
    assert R.read_progress(results_dir, "e").status_at(10) == R.Status.INTERRUPTED


def test_what_a_job_trains_follows_from_the_stored_rows(sweep, results_dir):
    from fedbench.results.trajectory import Training, holds, next_training

    a, b, c = (R.read_progress(sweep, h) for h in "abc")
    # a holds rounds 1..10, each evaluated: 3, 6 and 10 are answered, nothing to train.
    assert next_training(a, [3, 6, 10]) is None
    assert holds(a, 6, recorded=True) and not holds(a, 5, recorded=True)  # 5: never asked
    # Asked 12: train on from the checkpoint.
    assert next_training(a, [12]) == Training(replay_to=None)
    # b diverged at 4: every longer round count is answered by its divergence.
    assert next_training(b, [50]) is None
    # c stopped after 7 (failed): asked 10, it trains on; asked 5, nothing to train.
    assert next_training(c, [10]) == Training() and next_training(c, [5]) is None
    # f: killed after its last round, before its final write: every row there, the file
    # still says failed. Its rows hold 4, but the file does not record that yet.
    R.write_run(_run("f", 4, R.Status.FAILED, requested=[4]), results_dir, "f")
    f = R.read_progress(results_dir, "f")
    assert holds(f, 4) and not holds(f, 4, recorded=True) and next_training(f, [4]) is None
    # No file: train from round 1.
    assert next_training(None, [3]) == Training()
    # e: 6 rounds evaluated at 4 and 6 only; asked 2 and 6, round 2 is trained but not
    # evaluated: replay rounds 1..2.
    R.write_run(_run("e", 6, R.Status.COMPLETED, evaluated_every=4), results_dir, "e")
    e = R.read_progress(results_dir, "e")
    assert next_training(e, [2, 6]) == Training(replay_to=2)


def test_trained_rounds_replace_theirs_and_the_status_is_that_of_the_largest_request():
    from fedbench.results.trajectory import final_status, rounds_to_evaluate, with_round

    rows = [{R.ROUND: 1, "x": "old", R.EVALUATED: True}, {R.ROUND: 3, R.EVALUATED: False}]
    rows = with_round(rows, {R.ROUND: 2, R.EVALUATED: False})
    rows = with_round(rows, {R.ROUND: 1, "x": "new", R.EVALUATED: False})
    assert [(r[R.ROUND], r.get("x")) for r in rows] == [(1, "new"), (2, None), (3, None)]
    # Requested 2 and 5; the stored rows hold round 4 evaluated: up to round 4, 2 and 4.
    stored = [{R.ROUND: 4, R.EVALUATED: True}, {R.ROUND: 3, R.EVALUATED: False}]
    assert rounds_to_evaluate(stored, [2, 5], last=4) == {2, 4}
    assert final_status(rows, largest=3, diverged=False) == R.Status.COMPLETED
    assert final_status(rows, largest=4, diverged=False) == R.Status.FAILED
    assert final_status(rows, largest=4, diverged=False, stopped=True) == R.Status.INTERRUPTED
    assert final_status(rows, largest=4, diverged=True) == R.Status.DIVERGED

"""One configuration end to end through TFF: learning, resume, determinism, divergence, failure."""

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fedbench import results as R
from fedbench.app.config.schemas import CONF_DIR, register_schemas
from fedbench.app.job import experiment
from fedbench.app.job.prepare import PreparedRun, prepare
from fedbench.partitioning import UnassignedExamplesWarning
from fedbench.spec import RunSpec

pytestmark = [pytest.mark.tff, pytest.mark.usefixtures("shared_session")]

register_schemas()


def make_config(results_dir, *overrides) -> PreparedRun:
    """The prepared run of ``fedbench results_dir=... <overrides>``, composed as the CLI does."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"results_dir={results_dir}", *overrides])
    return prepare(RunSpec.from_config(OmegaConf.to_container(cfg, resolve=True)))


def read_run(prepared: PreparedRun) -> pd.DataFrame:
    spec = prepared.spec
    return pd.read_parquet(R.run_path(spec.results_dir, spec.config_hash))


FAST = ("fl.rounds=3", "fl.eval_every=1")


def test_iid_digits_learns_far_above_chance(results_dir):
    config = make_config(results_dir, "fl.rounds=15", "fl.eval_every=5")
    assert experiment.run(config) == R.Status.COMPLETED
    frame = read_run(config)
    assert list(frame.columns) == list(R.column_names())
    assert frame[R.ROUND].tolist() == list(range(1, 16))
    assert frame[R.EVALUATED].tolist() == [r % 5 == 0 for r in range(1, 16)]
    final = frame[R.TEST_ACCURACY].iloc[-1]
    # Chance is 0.10 with 10 balanced classes. On 360 test examples its standard error
    # is sqrt(0.1 * 0.9 / 360) = 0.016, so 0.80 is > 40 standard errors above chance;
    # a softmax regression on these digits reaches ~0.95 centrally, and IID FedAvg
    # measured 0.90 here after 15 rounds.
    assert final >= 0.80
    assert (frame[R.STATUS] == R.Status.COMPLETED).all()
    # IID differs from the pool only by sampling noise: with n_k ~ 144 examples and 10
    # classes of p ~ 0.1, E|p_k(c) - p(c)| ~ sqrt(2/pi) sqrt(0.1 * 0.9 / 144) = 0.020,
    # so label_emd ~ 10 * 0.020 = 0.20; far from a skewed split's 1+.
    assert frame[R.LABEL_EMD].iloc[0] < 0.3
    assert frame[R.GIT_COMMIT].notna().all() and frame[R.TFF_VERSION].eq("0.87.0").all()
    assert frame[R.EXAMPLES_PER_SECOND].gt(0).all()


# The seed acts through partition, sampling, shuffling and the initial weights (mlp);
# cnn_emnist adds dropout masks (slow tier: tests/training/test_layers.py has the masks).
@pytest.mark.parametrize("model", ["mlp", pytest.param("cnn_emnist", marks=pytest.mark.slow)])
def test_same_seed_same_metrics_and_another_seed_differs(tmp_path, model):
    metrics = [R.TRAIN_LOSS, R.TEST_ACCURACY, R.CLIENT_DRIFT]
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        config = make_config(
            tmp_path / name,
            *FAST,
            "partition=dirichlet",
            "fl.clients_per_round=5",
            f"model={model}",
            f"seed={seed}",
        )
        experiment.run(config)
        runs.append(read_run(config)[metrics].to_numpy())
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-6)
    assert not np.allclose(runs[0], runs[2])


def test_label_skew_measures_more_heterogeneous_and_drifts_more_than_iid(results_dir):
    frames = {}
    for partition in ("iid", "dirichlet"):
        config = make_config(
            results_dir,
            *FAST,
            f"partition={partition}",
            "partition.alpha=0.05",
            "partition.min_client_size=5",
        )
        experiment.run(config)
        frames[partition] = read_run(config)
    iid, skewed = frames["iid"], frames["dirichlet"]
    assert skewed[R.LABEL_EMD].iloc[0] > iid[R.LABEL_EMD].iloc[0] + 0.5
    assert skewed[R.EFFECTIVE_CLASSES].iloc[0] < iid[R.EFFECTIVE_CLASSES].iloc[0]
    assert skewed[R.CLIENT_DRIFT].mean() > iid[R.CLIENT_DRIFT].mean()
    assert iid[R.ALPHA].isna().all() and (skewed[R.ALPHA] == 0.05).all()


def test_divergence_is_recorded_with_the_rounds_so_far(results_dir):
    # An MLP at client_lr=1e10: weights of order 1e10 per step multiply through two
    # layers, so logits and then gradients overflow float32 within a few rounds.
    config = make_config(results_dir, "model=mlp", "fl.client_lr=1e10", "fl.rounds=10")
    assert experiment.run(config) == R.Status.DIVERGED
    frame = read_run(config)
    assert (frame[R.STATUS] == R.Status.DIVERGED).all()
    assert len(frame) < 10
    assert not np.isfinite(frame[R.TRAIN_LOSS].iloc[-1])  # the loss is what gave it away
    assert not frame[R.EVALUATED].iloc[-1]  # non-finite weights are not evaluated
    assert np.isfinite(frame[R.TRAIN_LOSS].iloc[:-1]).all()  # it ended at the first bad round
    assert experiment.run(config) == "skipped"  # divergence is a finished outcome


def test_non_finite_weights_with_a_finite_loss_are_divergence_too(results_dir):
    # FedAdam's first server step is about server_lr in every coordinate (m / sqrt(v) ~ 1
    # after bias correction): at 1e39, beyond float32's 3.4e38, the new global weights
    # are inf, while round 1's loss was measured on the clients at the finite start.
    config = make_config(
        results_dir, "algorithm=fedadam", "fl.server_lr=1e39", "fl.rounds=5", "model=mlp"
    )
    assert experiment.run(config) == R.Status.DIVERGED
    frame = read_run(config)
    assert frame[R.ROUND].tolist() == [1]
    assert np.isfinite(frame[R.TRAIN_LOSS].iloc[0])


def test_a_failing_run_is_written_as_failed_and_redone_on_resume(results_dir, monkeypatch):
    from fedbench.training import train

    config = make_config(results_dir, *FAST)
    real = train.run_rounds

    def fail_after_first_round(*args, **kwargs):
        for record in real(*args, **kwargs):
            yield record
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(train, "run_rounds", fail_after_first_round)
    with pytest.raises(RuntimeError, match="simulated crash"):
        experiment.run(config)
    frame = read_run(config)
    assert frame[R.STATUS].tolist() == [R.Status.FAILED]
    assert "simulated crash" in frame[R.ERROR].iloc[0]
    monkeypatch.setattr(train, "run_rounds", real)
    assert experiment.run(config) == R.Status.COMPLETED
    assert read_run(config)[R.ROUND].tolist() == [1, 2, 3]


def test_a_run_finished_by_another_process_just_before_the_claim_is_not_redone(
    results_dir, monkeypatch
):
    # Another sweep finishes the run between this one's first look and its claim.
    config = make_config(results_dir, *FAST)
    hash_ = config.spec.config_hash
    real_acquire = R.RunLock.acquire

    def finished_meanwhile(lock, note=""):
        rows = [
            {R.RUN_ID: "other", R.CONFIG_HASH: hash_, R.STATUS: R.Status.COMPLETED}
            | {R.ROUND: r, R.EVALUATED: True, R.REQUESTED_ROUNDS: [3]}
            for r in (1, 2, 3)
        ]
        R.write_run(rows, results_dir, hash_)
        return real_acquire(lock, note)

    monkeypatch.setattr(R.RunLock, "acquire", finished_meanwhile)
    monkeypatch.setattr(experiment, "_train_and_write", pytest.fail)
    assert experiment.run(config) == "skipped"
    assert read_run(config)[R.RUN_ID].tolist() == ["other"] * 3


def test_natural_femnist_records_per_writer_accuracy_and_drift(results_dir, femnist_leaf_dir):
    natural = (
        "dataset=femnist_leaf",
        f"dataset.path={femnist_leaf_dir}",
        "partition=natural",
        "fl.num_clients=8",
        "fl.clients_per_round=4",
        "fl.rounds=2",
    )
    with pytest.warns(UnassignedExamplesWarning, match="keeps 8 of 105 writers"):
        config = make_config(results_dir, *natural)
    assert experiment.run(config) == R.Status.COMPLETED
    frame = read_run(config)
    # Per-client accuracy comes from each sampled writer's own test examples.
    assert frame[R.CLIENT_ACCURACY_MEAN].between(0, 1).all()
    assert (frame[R.CLIENT_ACCURACY_P10] <= frame[R.CLIENT_ACCURACY_MEAN]).all()
    assert np.isfinite(frame[R.CLIENT_DRIFT]).all() and (frame[R.CLIENT_DRIFT] > 0).all()
    # 8 of 105 writers sampled: the other writers' examples are unassigned and reported.
    assert 0.8 < frame[R.DROPPED_FRACTION].iloc[0] < 1.0
    # A holdout does not apply to writers with their own test data: the same run.
    with pytest.warns(UnassignedExamplesWarning):
        with_holdout = make_config(results_dir, *natural, "fl.client_holdout=0.2")
    assert with_holdout.spec.fl.client_holdout == 0.0
    assert experiment.run(with_holdout) == "skipped"


def test_pooled_data_has_per_client_accuracy_only_with_a_holdout(results_dir):
    without = make_config(results_dir, "fl.rounds=1")
    held = make_config(results_dir, "fl.rounds=1", "fl.client_holdout=0.2")
    experiment.run(without)
    experiment.run(held)
    assert read_run(without)[R.CLIENT_ACCURACY_MEAN].isna().all()
    assert read_run(held)[R.CLIENT_ACCURACY_MEAN].between(0, 1).all()
    # 20% of each client's ~144 examples held out: ~1,150 of 1,437 train each round.
    assert read_run(held)[R.TRAIN_EXAMPLES].iloc[0] == pytest.approx(0.8 * 1437, abs=10)


def test_a_job_leaves_its_run_to_a_holder_of_the_same_rounds_and_waits_for_another(
    results_dir, monkeypatch
):
    import threading
    import time

    monkeypatch.setattr(experiment, "CLAIM_POLL_SECONDS", 0.05)
    holder = R.RunLock(results_dir, "h")
    assert holder.acquire("5")
    try:
        with experiment._claimed(str(results_dir), "h", 5) as mine:
            assert not mine.acquired  # the holder answers this very request
        got = []

        def claim_for_other_rounds():
            with experiment._claimed(str(results_dir), "h", 9) as mine:
                got.append((mine.acquired, time.monotonic()))

        waiter = threading.Thread(target=claim_for_other_rounds)
        waiter.start()
        time.sleep(0.5)
        assert not got  # still waiting for the holder
        released = time.monotonic()
        holder.release()
        waiter.join(timeout=10)
        assert got and got[0][0] and got[0][1] >= released
    finally:
        holder.release()


def test_a_result_another_host_just_wrote_is_waited_for_not_trained_again(results_dir, monkeypatch):
    from fedbench.spec import RunSpec

    spec = RunSpec.create(results_dir=str(results_dir), rounds=2)
    hash_ = spec.config_hash
    row = {R.RUN_ID: "a", R.CONFIG_HASH: hash_, R.STATUS: R.Status.COMPLETED, R.EVALUATED: True}
    row |= {R.ROUNDS: 2, R.REQUESTED_ROUNDS: [2]}
    R.write_run([{**row, R.ROUND: 1}, {**row, R.ROUND: 2}], results_dir, hash_)
    # Host A trained the run and recorded so in its claim, under the lock ...
    host_a = R.RunLock(results_dir, hash_)
    assert host_a.acquire("2")
    host_a.record_finished(R.Status.COMPLETED, 2)
    host_a.release()
    # ... and host B's NFS view does not list the renamed result for its first three reads.
    real, reads = R.read_progress, []

    def stale(*args, **kwargs):
        reads.append(args)
        return None if len(reads) <= 3 else real(*args, **kwargs)

    monkeypatch.setattr(R, "read_progress", stale)
    monkeypatch.setattr(experiment, "CLAIM_POLL_SECONDS", 0.01)
    monkeypatch.setattr(experiment, "_train_and_write", pytest.fail)  # must not train
    assert experiment.run(prepare(spec)) == R.Status.SKIPPED
    assert len(reads) >= 4

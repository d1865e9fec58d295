"""Who takes part, end to end: cyclic participation and held-out clients through TFF and the CLI."""

import pandas as pd
import pytest

from fedbench import results as R
from fedbench.app.job import experiment
from fedbench.clients import training_data
from fedbench.spec import RunSpec
from fedbench.training import train as train_module
from fedbench.training.participation import participation
from tests.app.commands.test_cli import _snapshot
from tests.app.job.test_experiment import make_config, read_run
from tests.app.job.test_resume import TRAJECTORY, stopped_in_round_3_and_resumed
from tests.cli_helpers import fedbench

#: 12 clients, 2 held out (round(0.2 * 12)), the other 10 in 2 cyclic blocks of 5 by
#: dominant label, 3 sampled a round; a fifth of each client's examples held out.
CYCLIC = (
    "partition=dirichlet",
    "fl.num_clients=12",
    "fl.clients_per_round=3",
    "fl.heldout_clients=0.2",
    "fl.participation=cyclic",
    "fl.participation_blocks=2",
    "fl.block_by=label",
    "fl.client_holdout=0.2",
)
GAPS = [R.HELDOUT_CLIENT_ACCURACY, R.PARTICIPATION_GAP, R.OUT_OF_SAMPLE_GAP]


def _recording_sampled(monkeypatch):
    """Record ``(round, sampled clients)`` of every round the run trains."""
    seen = []
    real = train_module.round_inputs

    def round_inputs(*args, **kwargs):
        inputs = real(*args, **kwargs)

        def recorded(sampled, round_num, *epochs):
            seen.append((round_num, sampled.tolist()))
            return inputs(sampled, round_num, *epochs)

        return recorded

    monkeypatch.setattr(train_module, "round_inputs", round_inputs)
    return seen


@pytest.mark.tff
@pytest.mark.parametrize("execution", ["sharded", "per_client"])
def test_a_cyclic_run_with_held_out_clients_samples_its_blocks_and_records_both_gaps(
    tmp_path, monkeypatch, execution
):
    config = make_config(tmp_path, *CYCLIC, "fl.rounds=4", f"fl.execution={execution}")
    seen = _recording_sampled(monkeypatch)
    assert experiment.run(config) == R.Status.COMPLETED
    spec = config.spec
    chosen = participation(spec.fl, spec.seed, training_data(spec, config.load()).clients.train_y)
    assert [r for r, _ in seen] == [1, 2, 3, 4]
    for round_num, sampled in seen:
        assert len(sampled) == 3
        assert set(sampled) <= set(chosen.cycle[round_num % 2].tolist())
        assert not set(sampled) & set(chosen.heldout.tolist())
    frame = read_run(config)
    assert frame[GAPS].notna().all().all()
    pd.testing.assert_series_equal(
        frame[R.PARTICIPATION_GAP],
        frame[R.CLIENT_ACCURACY_MEAN] - frame[R.HELDOUT_CLIENT_ACCURACY],
        check_names=False,
    )
    assert frame[R.HELDOUT_CLIENT_ACCURACY].between(0, 1).all()
    assert frame[R.OUT_OF_SAMPLE_GAP].between(-1, 1).all()
    assert frame[R.PARTICIPATION].eq("cyclic").all() and frame[R.HELDOUT_CLIENTS].eq(0.2).all()


@pytest.mark.tff
def test_a_default_run_records_no_held_out_client_accuracy(tmp_path):
    config = make_config(tmp_path, "fl.rounds=1", "fl.num_clients=4", "fl.clients_per_round=2")
    assert experiment.run(config) == R.Status.COMPLETED
    frame = read_run(config)
    assert frame[GAPS].isna().all().all()
    assert frame[R.PARTICIPATION].eq("uniform").all() and frame[R.BLOCK_BY].eq("index").all()
    assert frame[R.PARTICIPATION_BLOCKS].isna().all() and frame[R.HELDOUT_CLIENTS].eq(0).all()


@pytest.mark.tff
@pytest.mark.slow
def test_an_interrupted_cyclic_run_resumes_as_if_never_stopped(tmp_path, monkeypatch):
    args = (*CYCLIC, "fl.rounds=5", "fl.checkpoint_every=4")
    whole, stopped, calls = stopped_in_round_3_and_resumed(tmp_path, monkeypatch, args)
    assert calls == 3  # rounds 3-5 only
    columns = [*TRAJECTORY, *GAPS]
    pd.testing.assert_frame_equal(
        read_run(stopped)[columns].reset_index(drop=True),
        read_run(whole)[columns].reset_index(drop=True),
        check_exact=True,
    )


def test_a_natural_split_holds_out_whole_writers(tmp_path, femnist_leaf_dir):
    config = make_config(
        tmp_path,
        "dataset=femnist_leaf",
        f"dataset.path={femnist_leaf_dir}",
        "partition=natural",
        "partition.writer_mode=merge",  # 105 writers in 20 clients of 5 or 6
        "fl.num_clients=20",
        "fl.clients_per_round=5",
        "fl.heldout_clients=0.25",
    )
    data = config.load()
    spec = config.spec
    clients = training_data(spec, data).clients
    chosen = participation(spec.fl, spec.seed, clients.train_y)
    assert len(chosen.heldout) == 5  # round(0.25 * 20)
    writers = data.dataset.train.writers
    held = {int(w) for k in chosen.heldout for w in writers[data.parts[k]]}
    kept = {int(w) for k in chosen.participating for w in writers[data.parts[k]]}
    assert held and not held & kept  # no writer trains with part of its examples
    for k in chosen.heldout:  # a held-out writer is scored on its own test examples too
        assert len(clients.holdout_y[k]) > 0


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["fl.heldout_clients=1.0"], "fl.heldout_clients=1.0 is invalid: allowed is a float in"),
        (["fl.heldout_clients=-0.1"], "fl.heldout_clients=-0.1 is invalid"),
        (["fl.participation=random"], "fl.participation='random' is invalid"),
        (
            ["fl.participation=cyclic", "fl.clients_per_round=2", "fl.participation_blocks=0"],
            "fl.participation_blocks=0 is invalid: allowed is an integer >= 1",
        ),
        (  # 10 clients, 2 a round: at most 5 blocks
            ["fl.participation=cyclic", "fl.clients_per_round=2", "fl.participation_blocks=11"],
            "fl.participation_blocks=11 is invalid: allowed is an integer in [1, 5]",
        ),
        (["fl.block_by=writer"], "fl.block_by='writer' is invalid"),
        (["fl.heldout_clients=0.3", "fl.clients_per_round=8"], "fl.heldout_clients=0.3"),
    ],
)
def test_bad_participation_values_exit_2_with_one_line_and_write_nothing(
    results_dir, argv, fragment
):
    existing = R.write_run(
        [{R.RUN_ID: "x", R.CONFIG_HASH: "x", R.STATUS: "completed"}], results_dir, "x"
    )
    before = _snapshot(results_dir)
    done = fedbench(*argv, f"results_dir={results_dir}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], done.stderr
    assert _snapshot(results_dir) == before and existing.exists()


def test_participation_keys_enter_the_identity_only_when_set():
    keys = {"participation", "participation_blocks", "block_by", "heldout_clients"}
    plain = RunSpec.create()
    assert not keys & set(plain.identity()["fl"])
    assert plain.config_hash == "9fd2a9747dbd8d72"  # tests/test_version.py's default run
    held = RunSpec.create(heldout_clients=0.1, clients_per_round=5)
    assert held.identity()["fl"]["heldout_clients"] == 0.1
    cyclic = RunSpec.create(participation="cyclic", participation_blocks=1, clients_per_round=5)
    assert {"participation", "participation_blocks"} <= set(cyclic.identity()["fl"])
    assert len({plain.config_hash, held.config_hash, cyclic.config_hash}) == 3


@pytest.mark.slow
@pytest.mark.tff
@pytest.mark.subprocess
def test_the_participation_sweep_cut_down_runs_into_its_figure_and_report(tmp_path):
    results = tmp_path / "results"
    cut = ("fl.rounds=2", "fl.eval_every=1", "partition.alpha=1.0", "seed=0")
    argv = ("-m", "-cd", "sweeps", "-cn", "participation", f"results_dir={results}", *cut)
    done = fedbench(*argv, f"hydra.sweep.dir={tmp_path / 'logs'}", timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    frame = pd.read_parquet(R.runs_dir(results))
    # three arms, one alpha, one seed: 3 runs of 2 evaluated rounds, both gaps in each
    assert frame.groupby([R.PARTICIPATION, R.BLOCK_BY]).size().to_dict() == {
        ("cyclic", "index"): 2,
        ("cyclic", "label"): 2,
        ("uniform", "index"): 2,
    }
    assert frame[GAPS].notna().all().all()
    figure = fedbench(
        "--results", str(results), "--only", "participation_gaps", module="analysis.figures"
    )
    assert figure.returncode == 0, figure.stderr[-2000:]
    data = pd.read_csv(results / "figures" / "participation_gaps.csv")
    assert len(data) == 2 * 3 * 2  # two gaps x three settings x two rounds
    report = fedbench(str(results), "--cols", "participation,block_by", module="analysis.report")
    assert report.returncode == 0, report.stderr[-2000:]
    assert "cyclic" in report.stdout and "uniform" in report.stdout

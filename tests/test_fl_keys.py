"""An ``fl`` key is one record: registering it is all a new key needs.

The key below is registered through :func:`fedbench.fl_keys.register` alone; the
command line's schema and ``--help``, pre-flight, the run's identity, the Parquet
columns, the analysis' settings and the TensorBoard HParams all find it.
"""

import dataclasses
import datetime as dt
import os

import pyarrow as pa
import pytest

from analysis import load
from fedbench import fl_keys
from fedbench import results as R
from fedbench.app.config.schemas import config_groups_help, fl_schema, register_schemas
from fedbench.app.job.experiment import config_columns
from fedbench.errors import FedbenchError
from fedbench.fl_keys import FL_KEYS, FLKey, FLSettings
from fedbench.records import ALGORITHMS, register_algorithm
from fedbench.results import tensorboard as tb
from fedbench.rules import BOOLEAN, UNIT_FLOAT
from fedbench.spec import RunSpec
from tests.cli_helpers import fedbench

HELP = "Share of each round's sampled clients that drop out before training."


@pytest.fixture
def dropout():
    key = fl_keys.register(FLKey("client_dropout", UNIT_FLOAT, 0.0, HELP, legacy=0.0))
    yield key
    del FL_KEYS["client_dropout"]
    register_schemas()  # Hydra's stored schema without it again, for the tests that follow


def test_a_registered_key_is_in_the_schema_and_the_settings(dropout, check):
    schema_fields = {name: f.default for name, f in fl_schema().__dataclass_fields__.items()}
    assert schema_fields["client_dropout"] == 0.0
    assert FLSettings().client_dropout == 0.0
    (job,) = check(["fl.client_dropout=0.2"])
    assert job.spec.fl.client_dropout == 0.2


def test_a_registered_key_is_in_help(dropout):
    assert f"  client_dropout (a float in [0, 1); default 0.0): {HELP}" in config_groups_help()


@pytest.mark.subprocess
def test_fedbench_help_shows_a_key_a_plugin_registers(tmp_path):
    plugin = (
        "from fedbench.fl_keys import FLKey, register\n"
        "from fedbench.rules import UNIT_FLOAT\n"
        f"register(FLKey('client_dropout', UNIT_FLOAT, 0.0, {HELP!r}, legacy=0.0))\n"
    )
    (tmp_path / "dropout_plugin.py").write_text(plugin)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FEDBENCH_PLUGINS": "dropout_plugin"}
    done = fedbench("--help", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"  client_dropout (a float in [0, 1); default 0.0): {HELP}" in done.stdout
    assert "  client_dropout: 0.0" in done.stdout  # the config part: the fl block, its default


def test_a_registered_key_is_checked_by_its_rule_before_anything_runs(dropout, check):
    with pytest.raises(FedbenchError) as caught:
        check(["fl.client_dropout=1.5"])
    assert str(caught.value) == (
        "fl.client_dropout=1.5 is invalid: allowed is a float in [0, 1); e.g. fl.client_dropout=0.9"
    )
    with pytest.raises(
        FedbenchError, match=r"^fl\.client_dropout='x' is invalid: allowed is a number"
    ):
        check(["fl.client_dropout=x"])


def test_a_registered_key_enters_the_identity_only_when_set_to_another_value(dropout):
    plain = RunSpec.create()
    del FL_KEYS["client_dropout"]
    before = RunSpec.create()  # the same run as registered before the key existed
    fl_keys.register(dropout)
    assert plain.config_hash == before.config_hash
    dropped = RunSpec.create(client_dropout=0.2)
    assert dropped.identity()["fl"]["client_dropout"] == 0.2
    assert dropped.config_hash != plain.config_hash


def _rows(spec, accuracy):
    return [
        {
            **config_columns(spec),
            R.RUN_ID: f"{spec.config_hash}-run",
            R.CONFIG_HASH: spec.config_hash,
            R.STATUS: R.Status.COMPLETED,
            R.ROUND: 1,
            R.EVALUATED: True,
            R.TEST_ACCURACY: accuracy,
            R.STARTED_AT: dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        }
    ]


def test_a_registered_key_is_a_parquet_column_and_a_setting_of_the_report(dropout, tmp_path):
    assert R.schema().field("client_dropout").type == pa.float64()
    specs = [RunSpec.create(rounds=1, client_dropout=d, seed=s) for d in (0.0, 0.2) for s in (0, 1)]
    for i, spec in enumerate(specs):
        R.write_run(_rows(spec, 0.5 + i / 10), tmp_path, spec.config_hash)
    stored = R.load_runs(tmp_path)
    assert sorted(stored["client_dropout"]) == [0.0, 0.0, 0.2, 0.2]
    frame = load.finished_settings(tmp_path)
    assert "client_dropout" in load.setting_columns(frame)
    # Two values of the key, two seeds each: two settings of two runs.
    assert sorted(frame.groupby(load.SETTING).size()) == [2, 2]


def test_a_registered_key_is_an_hparam(dropout):
    assert tb.hparams(RunSpec.create(client_dropout=0.2))["fl.client_dropout"] == 0.2
    assert "fl.client_dropout" not in tb.hparams(RunSpec.create())  # its legacy value


def test_a_key_without_identity_is_neither_hashed_nor_a_column():
    key = fl_keys.register(FLKey("trace", BOOLEAN, False, "Log each step.", identity=False))
    try:
        spec = RunSpec.create(trace=True)
        assert spec.config_hash == RunSpec.create().config_hash
        assert "trace" not in R.column_names()
        assert "trace" not in config_columns(spec)
    finally:
        del FL_KEYS[key.name]


def test_a_key_is_registered_once_and_its_default_obeys_its_rule():
    with pytest.raises(ValueError, match="'rounds' is already registered"):
        fl_keys.register(FLKey("rounds", UNIT_FLOAT, 0.0, "again"))
    with pytest.raises(TypeError, match=r"default 2\.0 breaks its rule"):
        FLKey("share", UNIT_FLOAT, 2.0, "a share")


def test_the_execution_keys_are_records_outside_the_identity():
    assert FL_KEYS["execution"].default == "sharded"
    assert FL_KEYS["shards"].default == 0
    with pytest.raises(
        FedbenchError, match=r"^fl\.execution='gpu' is invalid: allowed is sharded or per_client"
    ):
        RunSpec.create(execution="gpu")
    with pytest.raises(
        FedbenchError, match=r"^fl\.shards=-1 is invalid: allowed is an integer >= 0"
    ):
        RunSpec.create(shards=-1)


def test_sharded_execution_needs_an_algorithm_with_a_sharded_builder():
    # Every algorithm of fedbench's has one: the default (sharded) takes them all.
    for name, algorithm in ALGORITHMS.items():
        assert algorithm.executions == ("per_client", "sharded")
        assert RunSpec.create(algorithm=name).fl.execution == "sharded"
    plain = dataclasses.replace(ALGORITHMS["fedavg"], name="fedavg_plain", sharded=None)
    register_algorithm(plain)
    try:
        with pytest.raises(FedbenchError) as caught:
            RunSpec.create(algorithm="fedavg_plain")
        assert str(caught.value) == (
            "fl.execution='sharded' is invalid: allowed is one that algorithm=fedavg_plain has "
            "a builder for: per_client; use fl.execution=per_client"
        )
        spec = RunSpec.create(algorithm="fedavg_plain", execution="per_client")
        assert spec.fl.execution == "per_client"
    finally:
        del ALGORITHMS["fedavg_plain"]
    sharded = dataclasses.replace(ALGORITHMS["fedavg"], name="fedavg_sharded", sharded=print)
    register_algorithm(sharded)
    try:
        spec = RunSpec.create(algorithm="fedavg_sharded", execution="sharded", shards=4)
        assert (spec.fl.execution, spec.fl.shards) == ("sharded", 4)
        # How clients are trained is not the run's identity: same hash as per_client.
        per_client = RunSpec.create(algorithm="fedavg_sharded", execution="per_client")
        assert spec.config_hash == per_client.config_hash
        assert sharded.builder_for("sharded") is print
    finally:
        del ALGORITHMS["fedavg_sharded"]


def test_settings_are_immutable_and_survive_pickling():
    import pickle

    settings = FLSettings(rounds=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.rounds = 6
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert settings.replace(rounds=6).rounds == 6 and settings.rounds == 5
    with pytest.raises(TypeError, match="not fl keys: \\['roundz'\\]"):
        FLSettings(roundz=5)

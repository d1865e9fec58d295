"""Result column names and the Arrow schema of a run's Parquet file.

Column names are constants here (``from fedbench import results as R; runs[R.TEST_ACCURACY]``).
The ``fl`` keys' columns come from their records (:mod:`fedbench.fl_keys`), the partition
parameters' columns from the strategy records (:func:`fedbench.partitioning.all_params`)
and the algorithm options' columns from the algorithm records
(:func:`fedbench.records.option_columns`), so a registered ``fl`` key, strategy's
parameter or algorithm's option is a column without further edits;
:func:`schema` reflects what is registered when called.
"""

from __future__ import annotations

import pyarrow as pa

from fedbench.errors import ConfigError
from fedbench.fl_keys import column_keys
from fedbench.heterogeneity import COUNT_METRICS, FEATURE_METRICS, LABEL_METRICS
from fedbench.heterogeneity import HETEROGENEITY_METRICS as HETEROGENEITY_METRICS
from fedbench.partitioning import all_params
from fedbench.records import option_columns
from fedbench.results.status import FINISHED_STATUSES as FINISHED_STATUSES
from fedbench.results.status import STORED_STATUSES as STORED_STATUSES
from fedbench.results.status import UNFINISHED_STATUSES as UNFINISHED_STATUSES
from fedbench.results.status import Status as Status

RUNS_SUBDIR = "runs"

# --- identity and status
RUN_ID = "run_id"
CONFIG_HASH = "config_hash"
#: Its values: :class:`fedbench.results.status.Status` (one of ``STORED_STATUSES``).
STATUS = "status"

# --- configuration
DATASET = "dataset"
PARTITION = "partition"
MODEL = "model"
ALGORITHM = "algorithm"
SEED = "seed"
NUM_CLIENTS = "num_clients"
CLIENTS_PER_ROUND = "clients_per_round"
ROUNDS = "rounds"
#: Every ``fl.rounds`` asked of a run (a trajectory; ``rounds`` is the largest).
REQUESTED_ROUNDS = "requested_rounds"
LOCAL_EPOCHS = "local_epochs"
BATCH_SIZE = "batch_size"
CLIENT_LR = "client_lr"
SERVER_LR = "server_lr"
CLIENT_MOMENTUM = "client_momentum"
WEIGHT_DECAY = "weight_decay"
EVAL_EVERY = "eval_every"
STRAGGLERS = "stragglers"
STRAGGLER_WORK = "straggler_work"
LOCAL_EPOCHS_MIN = "local_epochs_min"
PARTICIPATION = "participation"
PARTICIPATION_BLOCKS = "participation_blocks"
BLOCK_BY = "block_by"
HELDOUT_CLIENTS = "heldout_clients"
ALPHA = "alpha"
CLASSES_PER_CLIENT = "classes_per_client"
SHARDS_PER_CLIENT = "shards_per_client"
SIGMA = "sigma"
MIN_CLIENT_SIZE = "min_client_size"
QUANTITY_ALPHA = "quantity_alpha"
WRITER_MODE = "writer_mode"
MAX_DEGREES = "max_degrees"
ROTATE_HOLDOUT = "rotate_holdout"
SWAPS = "swaps"
CONFIG_JSON = "config_json"

# --- per round
ROUND = "round"
EVALUATED = "evaluated"
TRAIN_LOSS = "train_loss"
TRAIN_ACCURACY = "train_accuracy"
TEST_LOSS = "test_loss"
TEST_ACCURACY = "test_accuracy"
CLIENT_ACCURACY_MEAN = "client_accuracy_mean"
CLIENT_ACCURACY_P10 = "client_accuracy_p10"
#: The clients that never train (``fl.heldout_clients``) and the gaps of Yuan et al. (2022).
HELDOUT_CLIENT_ACCURACY = "heldout_client_accuracy"
PARTICIPATION_GAP = "participation_gap"
OUT_OF_SAMPLE_GAP = "out_of_sample_gap"
CLIENT_DRIFT = "client_drift"
ROUND_SECONDS = "round_seconds"
EXAMPLES_PER_SECOND = "examples_per_second"
TRAIN_EXAMPLES = "train_examples"
#: Mean and spread (population std) of the local steps of a round's clients that trained.
LOCAL_STEPS_MEAN = "local_steps_mean"
LOCAL_STEPS_STD = "local_steps_std"

# --- heterogeneity of the partition actually used
LABEL_EMD, LABEL_JSD, LABEL_HELLINGER, EFFECTIVE_CLASSES, SIZE_CV = LABEL_METRICS
#: Measured on the features the clients train on (after feature noise or rotation).
FEATURE_HELLINGER, FEATURE_FRECHET, CONDITIONAL_FRECHET = FEATURE_METRICS
DROPPED_FRACTION = COUNT_METRICS[0]

# --- provenance
FEDBENCH_VERSION = "fedbench_version"
TENSORFLOW_VERSION = "tensorflow_version"
TFF_VERSION = "tff_version"
NUMPY_VERSION = "numpy_version"
PYTHON_VERSION = "python_version"
GIT_COMMIT = "git_commit"
GIT_DIRTY = "git_dirty"
STARTED_AT = "started_at"
ERROR = "error"

_STR, _INT, _FLOAT, _BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()

_KIND = {int: _INT, float: _FLOAT, str: _STR, bool: _BOOL}
_BEFORE_FL = [
    (RUN_ID, _STR),
    (CONFIG_HASH, _STR),
    (STATUS, _STR),
    (DATASET, _STR),
    (PARTITION, _STR),
    (MODEL, _STR),
    (ALGORITHM, _STR),
    (SEED, _INT),
]
_AFTER_PARAMS = [
    (ROUND, _INT),
    (EVALUATED, _BOOL),
    (TRAIN_LOSS, _FLOAT),
    (TRAIN_ACCURACY, _FLOAT),
    (TEST_LOSS, _FLOAT),
    (TEST_ACCURACY, _FLOAT),
    (CLIENT_ACCURACY_MEAN, _FLOAT),
    (CLIENT_ACCURACY_P10, _FLOAT),
    (HELDOUT_CLIENT_ACCURACY, _FLOAT),
    (PARTICIPATION_GAP, _FLOAT),
    (OUT_OF_SAMPLE_GAP, _FLOAT),
    (CLIENT_DRIFT, _FLOAT),
    (ROUND_SECONDS, _FLOAT),
    (EXAMPLES_PER_SECOND, _FLOAT),
    (TRAIN_EXAMPLES, _INT),
    (LOCAL_STEPS_MEAN, _FLOAT),
    (LOCAL_STEPS_STD, _FLOAT),
    (LABEL_EMD, _FLOAT),
    (LABEL_JSD, _FLOAT),
    (LABEL_HELLINGER, _FLOAT),
    (EFFECTIVE_CLASSES, _FLOAT),
    (SIZE_CV, _FLOAT),
    (FEATURE_HELLINGER, _FLOAT),
    (FEATURE_FRECHET, _FLOAT),
    (CONDITIONAL_FRECHET, _FLOAT),
    (DROPPED_FRACTION, _FLOAT),
    (FEDBENCH_VERSION, _STR),
    (TENSORFLOW_VERSION, _STR),
    (TFF_VERSION, _STR),
    (NUMPY_VERSION, _STR),
    (PYTHON_VERSION, _STR),
    (GIT_COMMIT, _STR),
    (GIT_DIRTY, _BOOL),
    (STARTED_AT, pa.timestamp("us", tz="UTC")),
    (ERROR, _STR),
    (CONFIG_JSON, _STR),
]


def fl_columns() -> list[tuple[str, pa.DataType]]:
    """The ``fl`` keys' columns and their types, ``requested_rounds`` after ``rounds``."""
    columns = []
    for key in column_keys():
        columns.append((key.name, _KIND[key.rule.kind]))
        if key.name == ROUNDS:
            columns.append((REQUESTED_ROUNDS, pa.list_(_INT)))
    return columns


def partition_columns() -> tuple[str, ...]:
    """The columns of the registered strategies' parameters (null where one does not apply)."""
    return tuple(all_params())


def algorithm_columns() -> tuple[str, ...]:
    """The columns of the registered algorithms' options (null where one does not apply)."""
    return tuple(option_columns())


def schema() -> pa.Schema:
    """Column name -> Arrow type, in file order, for the strategies registered now.

    Returns
    -------
    pyarrow.Schema
        Identity and configuration (one column per ``fl`` key that has one), one column
        per partition parameter and algorithm option (its type from its rule), per-round
        metrics, heterogeneity, provenance.

    Raises
    ------
    ConfigError
        A registered key, parameter or option has the name of another column.

    """
    fixed = {name for name, _ in _BEFORE_FL + _AFTER_PARAMS}
    fl = fl_columns()
    params = [(p.name, _KIND[p.rule.kind]) for p in all_params().values()]
    options = [(name, _KIND[kind]) for name, kind in option_columns().items()]
    declarations = (
        ("fl keys", fl),
        ("partition parameters", params),
        ("algorithm options", options),
    )
    for what, declared in declarations:
        clashes = sorted(fixed.intersection(name for name, _ in declared))
        if clashes:
            raise ConfigError(
                f"{what} {clashes} have the names of result columns; rename them in their record"
            )
        fixed |= {name for name, _ in declared}
    return pa.schema(_BEFORE_FL + fl + params + options + _AFTER_PARAMS)


def column_names() -> tuple[str, ...]:
    """The column names of :func:`schema`, in file order."""
    return tuple(schema().names)

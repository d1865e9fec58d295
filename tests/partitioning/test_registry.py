import numpy as np
import pytest

from fedbench import seeding
from fedbench.errors import PartitionError
from fedbench.partitioning import STRATEGIES, Strategy, partition, validate_params
from tests.partitioning.helpers import params_for

LABELS = np.arange(100) % 10


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_defaults_are_valid_and_returned(strategy):
    assert validate_params(strategy, 10) == dict(STRATEGIES[strategy].defaults)


def test_the_api_works_with_the_documented_defaults():
    labels = np.arange(5000) % 10
    with_defaults = partition("dirichlet", labels, 100, seed=1, alpha=0.5)
    explicit = partition("dirichlet", labels, 100, seed=1, alpha=0.5, min_client_size=10)
    assert all(np.array_equal(a, b) for a, b in zip(with_defaults, explicit, strict=True))
    assert min(len(p) for p in with_defaults) >= 10  # the default min_client_size


@pytest.mark.filterwarnings("ignore::fedbench.partitioning.UnassignedExamplesWarning")
@pytest.mark.parametrize("strategy", sorted(set(STRATEGIES) - {"natural"}))
def test_partition_draws_from_the_partition_stream(strategy):
    params = params_for(strategy, min_client_size=1)
    expected = STRATEGIES[strategy].fn(LABELS, 4, seeding.rng(11, seeding.PARTITION), **params)
    got = partition(strategy, LABELS, 4, seed=11, **params)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


@pytest.mark.parametrize(
    ("strategy", "params", "pattern"),
    [
        (
            "dirichlet",
            {"alpha": 0.0, "min_client_size": 10},
            r"alpha=0\.0 .*a float > 0",
        ),
        ("dirichlet", {"alpha": -1, "min_client_size": 10}, r"alpha=-1 "),
        ("dirichlet", {"alpha": float("inf"), "min_client_size": 10}, r"alpha=inf "),
        ("dirichlet", {"alpha": True, "min_client_size": 10}, r"alpha=True "),
        ("quantity", {"alpha": "0.5", "min_client_size": 10}, r"alpha='0\.5' "),
        (
            "dirichlet",
            {"alpha": 0.5, "min_client_size": -1},
            r"min_client_size=-1 .*>= 0",
        ),
        ("dirichlet", {"alpha": 0.5, "min_client_size": 2.5}, r"min_client_size=2\.5 "),
        (
            "dirichlet_quantity",
            {"alpha": 0.5, "quantity_alpha": 0, "min_client_size": 10},
            r"quantity_alpha=0 ",
        ),
        ("pathological", {"classes_per_client": 0}, r"classes_per_client=0 .*>= 1"),
        ("shards", {"shards_per_client": 0}, r"shards_per_client=0 .*>= 1"),
        ("feature_noise", {"sigma": -0.5}, r"sigma=-0\.5 .*>= 0"),
        ("natural", {"writer_mode": "all"}, r"writer_mode='all' .*sample or merge"),
    ],
)
def test_bad_values_name_the_parameter(strategy, params, pattern):
    with pytest.raises(PartitionError, match=pattern):
        validate_params(strategy, 10, **params)


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(PartitionError, match=r"strategy='dirichelt' .*one of iid, dirichlet, "):
        partition("dirichelt", LABELS, 10, seed=0)


def test_unknown_parameter_is_named():
    with pytest.raises(PartitionError, match=r"^beta=1 .*not a parameter of the iid strategy"):
        validate_params("iid", 10, beta=1)


def test_writer_ids_are_not_a_parameter_of_other_strategies():
    with pytest.raises(PartitionError, match=r"writer_ids="):
        partition("iid", LABELS, 10, seed=0, writer_ids=np.zeros(100, dtype=np.int64))


def test_errors_name_python_parameters_and_render_as_command_line_keys():
    with pytest.raises(PartitionError) as caught:
        partition("dirichlet", LABELS, 10, seed=0, alpha=-1, min_client_size=200)
    assert str(caught.value) == "alpha=-1 is invalid: allowed is a float > 0; e.g. alpha=0.5"
    keyed = caught.value.keyed(lambda name: f"partition.{name}")
    assert keyed == (
        "partition.alpha=-1 is invalid: allowed is a float > 0; e.g. partition.alpha=0.5"
    )


def test_an_explicit_none_is_refused_not_replaced_by_the_default():
    with pytest.raises(PartitionError, match=r"^alpha=None .*a float > 0"):
        partition("dirichlet", LABELS, 10, seed=0, alpha=None)


@pytest.mark.parametrize("num_clients", [0, -3, 2.0, None])
def test_bad_num_clients_is_named(num_clients):
    with pytest.raises(PartitionError, match=r"^num_clients=.*an integer >= 1"):
        validate_params("iid", num_clients)


def test_parameters_are_checked_before_the_data():
    # The labels are not even an array; the alpha error must come first.
    with pytest.raises(PartitionError, match=r"alpha"):
        partition("dirichlet", "not labels", 10, seed=0, alpha=-1.0, min_client_size=10)


def test_bad_labels_are_refused():
    with pytest.raises(PartitionError, match=r"labels=.*1-D array of integer class ids"):
        partition("iid", np.array([0.5, 1.0]), 2, seed=0)
    with pytest.raises(PartitionError, match=r"labels=-1 .*class ids >= 0"):
        partition("iid", np.array([0, -1]), 2, seed=0)


def test_negative_seed_is_refused():
    with pytest.raises(PartitionError, match=r"seed=-1 .*an integer >= 0"):
        partition("iid", LABELS, 2, seed=-1)


def test_more_clients_than_examples_is_refused_for_every_strategy():
    for strategy in sorted(set(STRATEGIES) - {"natural"}):
        with pytest.raises(
            PartitionError,
            match=r"^num_clients=11 .*at most the number of training examples \(10\)",
        ):
            partition(
                strategy, np.arange(10) % 2, 11, seed=0, **params_for(strategy, min_client_size=0)
            )


def test_every_strategy_names_the_kind_of_skew_it_models():
    from fedbench.partitioning.strategy import SKEWS

    kinds = {name: record.skew for name, record in STRATEGIES.items()}
    assert set(kinds.values()) <= set(SKEWS)
    # The reference and the two kinds that are not label skew, by construction of their functions.
    assert kinds["iid"] == "none"
    assert kinds["feature_noise"] == "feature"
    assert kinds["quantity"] == "quantity"
    assert kinds["natural"] == "natural"
    assert kinds["dirichlet"] == kinds["pathological"] == kinds["shards"] == "label"


def test_a_strategy_with_an_unknown_skew_is_refused():
    from fedbench.partitioning.iid import iid

    with pytest.raises(TypeError, match="skew 'covariate' is not among"):
        Strategy("iid_again", iid, skew="covariate")

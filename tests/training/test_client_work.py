"""What sampled clients do in a round (no TensorFlow): drops, partial epochs, unequal epochs."""

import numpy as np
import pytest

from fedbench import seeding
from fedbench.errors import ConfigError
from fedbench.fl_keys import FLSettings
from fedbench.training import client_work as work
from fedbench.training.client_work import DROP, PARTIAL, WorkSettings

SAMPLED = np.array([1, 4, 5, 7, 8, 11, 12, 15, 17, 19])


@pytest.mark.parametrize(
    ("sampled", "fraction", "count"),
    [
        (10, 0.0, 0),
        (10, 0.5, 5),  # round(10 * 0.5) = 5 stay active
        (10, 0.9, 9),  # round(10 * 0.1) = round(0.9999999999999998) = 1 active
        (10, 0.25, 2),  # round(7.5) = 8 active (ties to even)
        (5, 0.5, 3),  # round(2.5) = 2 active (ties to even, as the reference's Python 3)
        (1, 0.4, 0),  # round(0.6) = 1 active
    ],
)
def test_straggler_count_is_the_reference_codes(sampled, fraction, count):
    assert work.straggler_count(sampled, fraction) == count


def test_without_stragglers_or_a_minimum_every_sampled_client_trains_local_epochs():
    got = work.assign(3, 7, SAMPLED, WorkSettings(local_epochs=4))
    np.testing.assert_array_equal(got.clients, SAMPLED)
    np.testing.assert_array_equal(got.epochs, np.full(len(SAMPLED), 4))
    assert len(got.stragglers) == 0


def test_dropped_stragglers_are_left_out_and_the_others_train_in_full():
    settings = WorkSettings(local_epochs=3, stragglers=0.5, straggler_work=DROP)
    for round_num in range(1, 30):
        got = work.assign(0, round_num, SAMPLED, settings)
        assert len(got.stragglers) == 5 and set(got.stragglers) <= set(SAMPLED)
        np.testing.assert_array_equal(got.clients, np.setdiff1d(SAMPLED, got.stragglers))
        assert (got.epochs == 3).all()


def test_partial_stragglers_train_1_to_e_epochs_and_the_others_e():
    settings = WorkSettings(local_epochs=4, stragglers=0.5, straggler_work=PARTIAL)
    seen = set()
    for round_num in range(1, 60):
        got = work.assign(0, round_num, SAMPLED, settings)
        np.testing.assert_array_equal(got.clients, SAMPLED)  # nobody dropped
        slow = np.isin(SAMPLED, got.stragglers)
        assert (got.epochs[~slow] == 4).all()
        assert ((got.epochs[slow] >= 1) & (got.epochs[slow] <= 4)).all()
        seen |= set(got.epochs[slow].tolist())
    assert seen == {1, 2, 3, 4}  # 1..E inclusive, as interface.md says (the reference: 1..E-1)


def test_the_stragglers_are_the_same_for_drop_and_partial():
    # FedProx's comparison: FedAvg drops exactly the clients FedProx lets do partial work.
    drop = WorkSettings(local_epochs=5, stragglers=0.9, straggler_work=DROP)
    partial = WorkSettings(local_epochs=5, stragglers=0.9, straggler_work=PARTIAL)
    for round_num in (1, 2, 3):
        a = work.assign(11, round_num, SAMPLED, drop)
        b = work.assign(11, round_num, SAMPLED, partial)
        np.testing.assert_array_equal(a.stragglers, b.stragglers)


def test_unequal_epochs_are_drawn_in_min_to_max_from_seed_round_and_client_alone():
    settings = WorkSettings(local_epochs=5, local_epochs_min=2)
    seen = set()
    for round_num in range(1, 40):
        got = work.assign(2, round_num, SAMPLED, settings)
        assert ((got.epochs >= 2) & (got.epochs <= 5)).all()
        seen |= set(got.epochs.tolist())
        # Client 7's draw does not depend on who else was sampled nor on the order.
        alone = work.assign(2, round_num, np.array([7]), settings)
        assert alone.epochs[0] == got.epochs[list(SAMPLED).index(7)]
        expected = seeding.rng(2, seeding.LOCAL_EPOCHS, round_num, 7).integers(2, 6)
        assert alone.epochs[0] == expected
    assert seen == {2, 3, 4, 5}
    # Another seed, other draws.
    other = [work.assign(3, r, SAMPLED, settings).epochs for r in range(1, 40)]
    assert not all(
        np.array_equal(o, work.assign(2, r, SAMPLED, settings).epochs)
        for r, o in enumerate(other, start=1)
    )


@pytest.mark.parametrize(
    "settings",
    [
        WorkSettings(local_epochs=3, local_epochs_min=3),
        WorkSettings(local_epochs=3, stragglers=0.0, straggler_work=PARTIAL),
    ],
)
def test_no_stragglers_and_a_minimum_equal_to_local_epochs_plan_the_defaults_work(settings):
    default = WorkSettings(local_epochs=3)
    for round_num in (1, 2, 3):
        got = work.assign(0, round_num, SAMPLED, settings)
        expected = work.assign(0, round_num, SAMPLED, default)
        np.testing.assert_array_equal(got.clients, expected.clients)
        np.testing.assert_array_equal(got.epochs, expected.epochs)


def test_partial_stragglers_with_unequal_epochs_do_at_most_their_own_draw():
    settings = WorkSettings(3 * 2, local_epochs_min=2, stragglers=0.5, straggler_work=PARTIAL)
    for round_num in range(1, 20):
        got = work.assign(5, round_num, SAMPLED, settings)
        planned = [work.planned_epochs(5, round_num, k, settings) for k in SAMPLED]
        slow = np.isin(SAMPLED, got.stragglers)
        assert (got.epochs <= planned).all() and (
            got.epochs[~slow] == np.array(planned)[~slow]
        ).all()


def test_local_steps_count_batches_per_epoch():
    # 5 examples in batches of 2: 3 steps an epoch; 4 examples: 2; 0 examples: none.
    steps = work.local_steps(np.array([2, 3, 4]), np.array([5, 4, 0]), 2)
    np.testing.assert_array_equal(steps, [6, 6, 0])


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (dict(local_epochs=2, local_epochs_min=3), "fl.local_epochs_min=3 is invalid"),
        (dict(local_epochs_min=0), "fl.local_epochs_min=0 is invalid"),
        (dict(stragglers=1.0), "fl.stragglers=1.0 is invalid"),
        (dict(stragglers=-0.1), "fl.stragglers=-0.1 is invalid"),
        (dict(straggler_work="wait"), "fl.straggler_work='wait' is invalid"),
        (dict(clients_per_round=1, stragglers=0.9), "fl.stragglers=0.9 is invalid"),
    ],
)
def test_bad_client_work_values_name_their_key(values, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        FLSettings(**values).check()


def test_partial_stragglers_may_be_every_client_but_one():
    FLSettings(clients_per_round=1, stragglers=0.9, straggler_work=PARTIAL).check()


def test_the_defaults_are_not_part_of_a_runs_identity():
    identity = FLSettings().identity()
    assert not {"stragglers", "straggler_work", "local_epochs_min"} & set(identity)
    changed = FLSettings(stragglers=0.5, straggler_work=PARTIAL, local_epochs_min=1).identity()
    assert changed["stragglers"] == 0.5 and changed["straggler_work"] == PARTIAL
    assert changed["local_epochs_min"] == 1

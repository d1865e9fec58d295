"""Who takes part: held-out clients never sampled, cyclic blocks, draws that replay by round."""

import itertools

import numpy as np
import pytest

import fedbench
from fedbench import seeding
from fedbench.errors import ConfigError
from fedbench.fl_keys import FLSettings, heldout_count
from fedbench.training.participation import (
    blocks,
    dominant_labels,
    heldout_clients,
    participation,
    uniform,
)

ROUNDS = range(1, 201)


def _labels(num_clients, per_client=6, num_classes=10, seed=0):
    """Clients whose labels are random (dominant labels spread over the classes)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(num_classes, size=per_client) for _ in range(num_clients)]


def test_uniform_participation_without_held_out_clients_is_todays_sampling():
    fl = FLSettings(num_clients=30, clients_per_round=7)
    chosen = participation(fl, 4, _labels(30))
    assert len(chosen.heldout) == 0 and not chosen.cycle
    for r in ROUNDS:
        assert np.array_equal(chosen.sample(r), seeding.sample_clients(4, r, 30, 7))
    assert np.array_equal(uniform(30, 7, 4).sample(3), seeding.sample_clients(4, 3, 30, 7))


@pytest.mark.parametrize("mode", ["uniform", "cyclic"])
def test_held_out_clients_are_never_sampled_and_every_other_client_is(mode):
    cyclic = {"participation_blocks": 3} if mode == "cyclic" else {}
    fl = FLSettings(
        num_clients=40, clients_per_round=5, heldout_clients=0.2, participation=mode, **cyclic
    )
    fl.check()
    chosen = participation(fl, 1, _labels(40))
    assert len(chosen.heldout) == 8  # round(0.2 * 40)
    sampled = set()
    for r in ROUNDS:
        clients = chosen.sample(r)
        assert len(clients) == 5 and len(set(clients.tolist())) == 5
        assert not set(clients.tolist()) & set(chosen.heldout.tolist())
        sampled |= set(clients.tolist())
    # 32 clients, 5 of 32 (or of a block of 10 or 11) a round: 200 rounds reach them all.
    assert sampled == set(range(40)) - set(chosen.heldout.tolist())


def test_held_out_clients_depend_on_the_seed_alone():
    assert np.array_equal(heldout_clients(3, 50, 0.1), heldout_clients(3, 50, 0.1))
    assert not np.array_equal(heldout_clients(3, 50, 0.1), heldout_clients(4, 50, 0.1))
    assert heldout_clients(3, 50, 0.0).size == 0
    # A share that rounds to no client still holds one out.
    assert heldout_count(10, 0.01) == 1 and heldout_count(10, 0.26) == 3


def test_cyclic_rounds_sample_only_their_block_and_the_blocks_cut_the_clients():
    fl = FLSettings(
        num_clients=23, clients_per_round=3, participation="cyclic", participation_blocks=4
    )
    fl.check()
    chosen = participation(fl, 0, _labels(23))
    # 23 clients in 4 blocks: sizes 6, 6, 6, 5 (np.array_split), together every client once.
    assert [len(b) for b in chosen.cycle] == [6, 6, 6, 5]
    assert sorted(np.concatenate(chosen.cycle).tolist()) == list(range(23))
    for r in ROUNDS:
        block = chosen.cycle[r % 4]  # interface.md: block r mod k in round r
        assert set(chosen.sample(r).tolist()) <= set(block.tolist())
    # index blocks are runs of consecutive clients
    assert chosen.cycle[0].tolist() == [0, 1, 2, 3, 4, 5]


def _cyclic(num_clients, clients_per_round, blocks_, **changes):
    """Checked settings of cyclic participation by label in ``blocks_`` blocks."""
    fl = FLSettings(
        num_clients=num_clients,
        clients_per_round=clients_per_round,
        participation="cyclic",
        participation_blocks=blocks_,
        block_by="label",
        **changes,
    )
    fl.check()
    return fl


def test_label_blocks_hold_different_dominant_labels():
    # Ten clients of one class each, the classes in shuffled client order.
    order = [3, 7, 0, 9, 1, 5, 2, 8, 4, 6]
    train_y = [np.full(30, c) for c in order]
    fl = _cyclic(10, 2, 2)
    dominant = dominant_labels(train_y)
    by_label = participation(fl, 0, train_y)
    # Ordered by class and cut in two: classes 0-4, then 5-9.
    assert [set(dominant[b].tolist()) for b in by_label.cycle] == [{0, 1, 2, 3, 4}, {5, 6, 7, 8, 9}]
    # By index the blocks are clients 0-4 and 5-9, whatever their classes.
    by_index = participation(fl.replace(block_by="index"), 0, train_y)
    assert [set(dominant[b].tolist()) for b in by_index.cycle] == [{3, 7, 0, 9, 1}, {5, 2, 8, 4, 6}]


def test_label_blocks_of_a_pathological_split_share_no_dominant_label():
    labels = np.repeat(np.arange(10), 30)
    parts = fedbench.partition("pathological", labels, 20, seed=0, classes_per_client=2)
    train_y = [labels[p] for p in parts]
    chosen = participation(_cyclic(20, 2, 4), 0, train_y)
    dominant = dominant_labels(train_y)
    seen = [set(dominant[b].tolist()) for b in chosen.cycle]
    # Sorted by dominant label, only a label on a block's edge may reach the next block.
    for before, after in itertools.pairwise(seen):
        assert len(before & after) <= 1 and max(before) <= min(after)
    assert len(set().union(*seen)) > len(seen)


def test_label_blocks_follow_the_labels_on_random_clients():
    train_y = _labels(60, seed=2)
    dominant = dominant_labels(train_y)
    cycle = blocks(np.arange(60), 4, dominant)
    # Ordered by dominant label: each block's labels lie at or above the one before's.
    for before, after in itertools.pairwise(cycle):
        assert dominant[before].max() <= dominant[after].min()
    assert dominant_labels([np.array([2, 2, 1, 1]), np.array([], int)]).tolist() == [1, -1]


def test_a_rounds_sample_replays_without_the_rounds_before():
    fl = _cyclic(20, 4, 3, heldout_clients=0.25)
    whole = participation(fl, 9, _labels(20))
    later = participation(fl, 9, _labels(20))  # a resumed job builds its own
    assert np.array_equal(later.sample(17), whole.sample(17))
    assert [whole.sample(r).tolist() for r in ROUNDS] == [later.sample(r).tolist() for r in ROUNDS]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"heldout_clients": 0.5},  # 10 clients, 5 held out, 10 per round
            "fl.heldout_clients=0.5 is invalid: allowed is a share that leaves at least "
            "fl.clients_per_round=10 of fl.num_clients=10 clients to train (5 held out)",
        ),
        ({"participation_blocks": 2}, "fl.participation_blocks=2 is invalid: allowed is null"),
        ({"block_by": "label"}, "fl.block_by='label' is invalid: allowed is index with"),
        (
            {"participation": "cyclic", "clients_per_round": 3},
            "fl.participation_blocks=None is invalid: allowed is an integer in [1, 3]",
        ),
        (  # 10 clients, 2 held out: 8 // 3 = 2 blocks of at least 3
            {
                "participation": "cyclic",
                "participation_blocks": 3,
                "clients_per_round": 3,
                "heldout_clients": 0.2,
            },
            "fl.participation_blocks=3 is invalid: allowed is an integer in [1, 2]",
        ),
    ],
)
def test_participation_settings_that_cannot_work_are_refused(settings, message):
    with pytest.raises(ConfigError) as caught:
        FLSettings(**settings).check()
    assert str(caught.value).startswith(message)

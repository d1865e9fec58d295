"""partition=concept_shift: IID parts; each client swaps `swaps` disjoint pairs of labels."""

import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.partitioning import STRATEGIES, ClientShift, ShiftContext, partition
from fedbench.partitioning.concept_shift import client_swaps


@pytest.mark.parametrize("swaps", [0, 1, 3, 5])
def test_pairs_are_disjoint_and_seeded_per_client(swaps):
    pairs = [client_swaps(swaps, 10, seed=7, client=k) for k in range(20)]
    for client_pairs in pairs:
        classes = [c for pair in client_pairs for c in pair]
        assert len(client_pairs) == swaps and len(set(classes)) == 2 * swaps
        assert all(0 <= c < 10 for c in classes)
    assert pairs == [client_swaps(swaps, 10, seed=7, client=k) for k in range(20)]
    if swaps:  # 45 possible pairs for one swap: 20 clients all alike has chance 45^-19
        assert len(set(pairs)) > 1
        assert pairs != [client_swaps(swaps, 10, seed=8, client=k) for k in range(20)]


def test_label_map_exchanges_each_pair():
    mapping = ClientShift(label_swaps=((1, 4), (2, 9))).label_map(10)
    assert mapping.tolist() == [0, 4, 9, 3, 1, 5, 6, 7, 8, 2]


def test_record_gives_one_swap_pair_per_client():
    shifts = STRATEGIES["concept_shift"].client_shift({"swaps": 2}, ShiftContext(3, 0, 10, (8, 8)))
    assert [s.label_swaps for s in shifts] == [client_swaps(2, 10, 0, k) for k in range(3)]


@pytest.mark.parametrize(("num_classes", "allowed"), [(10, 5), (3, 1), (1, 0)])
def test_more_swaps_than_disjoint_pairs_are_refused(num_classes, allowed):
    labels = np.arange(30) % num_classes
    with pytest.raises(PartitionError, match=rf"swaps={allowed + 1} is invalid.*at most {allowed}"):
        partition("concept_shift", labels, 3, seed=0, swaps=allowed + 1)
    assert len(partition("concept_shift", labels, 3, seed=0, swaps=allowed)) == 3

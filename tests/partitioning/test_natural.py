import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.partitioning import UnassignedExamplesWarning, partition

# 12 writers with 1..12 examples: writer w has w + 1 examples, 78 in all (12 * 13 / 2).
WRITERS = np.random.default_rng(0).permutation(np.repeat(np.arange(12), np.arange(1, 13)))
LABELS = np.arange(len(WRITERS)) % 5


def writers_of(part: np.ndarray) -> set[int]:
    return set(WRITERS[part].tolist())


def test_one_client_per_writer_in_writer_order_for_any_seed():
    for seed in (0, 1):
        parts = partition(
            "natural", LABELS, 12, seed=seed, writer_mode="sample", writer_ids=WRITERS
        )
        for k, part in enumerate(parts):
            assert np.array_equal(part, np.flatnonzero(WRITERS == k))


def test_writer_ids_with_gaps_count_the_writers_present():
    # ids 3, 7 and 10 are three writers; client k is the k-th smallest id.
    writer_ids = np.array([7, 3, 10, 7, 3])
    parts = partition(
        "natural",
        np.zeros(5, dtype=np.int64),
        3,
        seed=0,
        writer_mode="merge",
        writer_ids=writer_ids,
    )
    assert [p.tolist() for p in parts] == [[1, 4], [0, 3], [2]]


def test_sample_keeps_whole_writers_and_reports_the_rest():
    with pytest.warns(UnassignedExamplesWarning, match=r"keeps 5 of 12 writers") as record:
        parts = partition("natural", LABELS, 5, seed=0, writer_mode="sample", writer_ids=WRITERS)
    chosen = [writers_of(p) for p in parts]
    assert all(len(c) == 1 for c in chosen)
    chosen_ids = sorted(next(iter(c)) for c in chosen)
    assert len(set(chosen_ids)) == 5
    for part in parts:  # every example of the chosen writer, none of another
        (writer,) = writers_of(part)
        assert len(part) == writer + 1
    lost = 78 - sum(len(p) for p in parts)
    assert f"{lost} of 78 examples" in str(record[0].message)


def test_merge_deals_every_writer_into_silos():
    # 12 writers into 5 silos: numpy.array_split sizes 3, 3, 2, 2, 2 writers.
    parts = partition("natural", LABELS, 5, seed=0, writer_mode="merge", writer_ids=WRITERS)
    silos = [writers_of(p) for p in parts]
    assert sorted(len(s) for s in silos) == [2, 2, 2, 3, 3]
    assert set().union(*silos) == set(range(12))
    assert sum(len(p) for p in parts) == 78
    for part, silo in zip(parts, silos, strict=True):  # whole writers only
        assert len(part) == sum(w + 1 for w in silo)


def test_more_clients_than_writers_is_refused():
    with pytest.raises(PartitionError, match=r"num_clients=13 .*number of writers \(12\)"):
        partition("natural", LABELS, 13, seed=0, writer_mode="sample", writer_ids=WRITERS)


def test_no_writer_ids_names_the_strategy_and_the_fix():
    with pytest.raises(PartitionError) as error:
        partition("natural", LABELS, 5, seed=0, writer_mode="sample")
    message = str(error.value)
    assert message.startswith("strategy='natural' is invalid") and "needs writer ids" in message
    assert "pass writer_ids" in message


def test_writer_ids_of_the_wrong_length_are_refused():
    with pytest.raises(
        PartitionError, match=r"writer_ids=.*one integer writer index >= 0 per example \(78\)"
    ):
        partition("natural", LABELS, 5, seed=0, writer_mode="sample", writer_ids=WRITERS[:-1])


def test_unknown_writer_mode_is_refused():
    with pytest.raises(PartitionError, match=r"writer_mode='split' .*sample or merge"):
        partition("natural", LABELS, 5, seed=0, writer_mode="split", writer_ids=WRITERS)

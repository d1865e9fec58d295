"""``partition=shards``: McMahan et al.'s sorted shards."""

from __future__ import annotations

import numpy as np

from fedbench.errors import param_invalid
from fedbench.partitioning import _core, _validation
from fedbench.partitioning.strategy import Param, Strategy
from fedbench.rules import POSITIVE_INT


def shards(
    labels: np.ndarray,
    num_clients: int,
    rng: np.random.Generator,
    *,
    shards_per_client: int = 2,
) -> list[np.ndarray]:
    """Sort by label, cut into equal shards and deal ``shards_per_client`` to each client.

    McMahan, Moore, Ramage, Hampson and Agüera y Arcas 2017,
    "Communication-Efficient Learning of Deep Networks from Decentralized Data"
    (AISTATS), Sec. 3: MNIST sorted by digit, cut into 200 shards of 300, two
    shards per client. Here the sort is stable with ties broken at random (the
    examples of a class are shuffled first), there are ``S = K *
    shards_per_client`` shards, and the shards are dealt by a random
    permutation.

    When ``S`` does not divide ``n``, the ``n mod S`` remainder examples are
    not dropped: the first ``n mod S`` shards (in label order) are one example
    longer (``numpy.array_split``), so client sizes differ by at most
    ``shards_per_client``.

    Parameters
    ----------
    labels
        Class id of every example, shape ``(n,)``.
    num_clients
        Number of clients ``K``.
    rng
        The partition's random generator.
    shards_per_client
        Shards per client, ``>= 1``; ``K * shards_per_client <= n``.

    Returns
    -------
    list of numpy.ndarray
        ``K`` sorted int64 index arrays covering every example.

    Raises
    ------
    PartitionError
        A parameter is out of range or there are fewer examples than shards.

    """
    params = {"shards_per_client": shards_per_client}
    labels = _validation.checked_labels(STRATEGY, labels, num_clients, params)
    num_shards = num_clients * shards_per_client
    if num_shards > len(labels):
        raise param_invalid(
            "shards_per_client",
            shards_per_client,
            f"at most {len(labels) // num_clients} ({len(labels)} examples / "
            f"{num_clients} clients), so that no shard is empty",
            "lower {shards_per_client} or {num_clients}",
        )
    slots = _core.class_sorted_slots(labels, int(labels.max()) + 1, rng)
    shard_of_slot = np.repeat(np.arange(num_shards), _core.even_sizes(len(labels), num_shards))
    owner = np.empty(num_shards, dtype=np.int64)
    owner[rng.permutation(num_shards)] = np.repeat(np.arange(num_clients), shards_per_client)
    return _core.parts_from_slot_clients(slots, owner[shard_of_slot], num_clients)


STRATEGY = Strategy(
    "shards",
    shards,
    (
        Param(
            "shards_per_client",
            POSITIVE_INT,
            "Shards dealt to each client (McMahan et al. 2017).",
            label="shards",
        ),
    ),
)

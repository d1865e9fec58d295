import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.partitioning import client_noise_sigmas, partition


def test_noise_grows_linearly_to_sigma():
    # sigma * k / (K - 1) for k = 0..3 with sigma = 0.3, K = 4: 0, 0.1, 0.2, 0.3.
    np.testing.assert_allclose(client_noise_sigmas(0.3, 4), [0.0, 0.1, 0.2, 0.3])


def test_single_client_gets_no_noise():
    assert client_noise_sigmas(0.5, 1).tolist() == [0.0]


def test_zero_sigma_is_allowed_and_gives_no_noise():
    assert client_noise_sigmas(0.0, 5).tolist() == [0.0] * 5


def test_negative_sigma_is_refused():
    with pytest.raises(PartitionError, match=r"sigma=-0\.1 .*a float >= 0"):
        client_noise_sigmas(-0.1, 5)


def test_partition_checks_sigma_too():
    with pytest.raises(PartitionError, match=r"sigma"):
        partition("feature_noise", np.arange(10) % 2, 2, seed=0, sigma=float("nan"))

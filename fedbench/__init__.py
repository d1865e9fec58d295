"""fedbench: compare federated-learning data-partitioning strategies with TensorFlow Federated."""

__version__ = "0.1.0"

"""Training with TensorFlow Federated: models, algorithms, client data, the round loop."""

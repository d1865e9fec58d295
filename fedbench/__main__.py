"""``python -m fedbench`` is the ``fedbench`` command."""

from fedbench.cli import train_main

if __name__ == "__main__":
    train_main()

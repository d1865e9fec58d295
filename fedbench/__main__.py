"""``python -m fedbench`` is the ``fedbench`` command."""

if __name__ == "__main__":
    from fedbench.app.entry import train_main

    train_main()

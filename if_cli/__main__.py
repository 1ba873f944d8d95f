"""``python -m if_cli`` runs the same entry point as the ``if-cli`` console script."""

from if_cli.main import run

if __name__ == "__main__":
    run()

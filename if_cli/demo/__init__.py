"""The demo cascade shipped with if-cli: ``IF-I-demo`` and ``IF-II-demo`` in IF's layout.

Made by ``python -m training.train_demo``; see README.md here (the model card). Models
are found by name through ``if_cli.engine.catalog.SHIPPED_MODELS``.
"""

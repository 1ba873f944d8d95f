"""The cascade benchmark's parts: models to run, FLOP counts, timed runs, the report.

``benchmarks/cascade.py`` is the one command; these modules are what it is made of.
"""

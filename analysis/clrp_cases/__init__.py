"""Preparation of clrp case files from the benchmarks that ship in Python packages.

See docs/cases.md for the format and analysis/prepare_cases.py for the command line.
"""

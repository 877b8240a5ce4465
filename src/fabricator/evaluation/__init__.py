"""Evaluation: how good are generated annotations (``annotation_metrics``), and its CLI (``cli``).

Submodules are imported on demand, so importing this package stays cheap.
"""

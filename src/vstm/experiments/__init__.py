"""Experiments: functions that take explicit settings and return results (DESIGN section 3).

- :mod:`vstm.experiments.warp_check`: the paper's warp sanity check (section 5, Figure 2).
"""

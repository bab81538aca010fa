"""Experiments: functions that take explicit settings and return results (DESIGN section 3).

- :mod:`vstm.experiments.table1`: the paper's Table 1 and Figure 5 under one protocol
  (:class:`~vstm.experiments.table1.Table1Settings`, :func:`~vstm.experiments.table1.run_table1`).
- :mod:`vstm.experiments.figure6`: the paper's Figure 6 on held-out real video, with numbers.
- :mod:`vstm.experiments.warp_check`: the paper's warp sanity check (section 5, Figure 2).
- :mod:`vstm.experiments.bench`: throughput and FLOP utilisation on this machine
  (:class:`~vstm.experiments.bench.BenchSettings`, :func:`~vstm.experiments.bench.run_bench`).
- :mod:`vstm.experiments.markdown`: the Markdown reports of bench and Table 1, from their
  results alone.
- :mod:`vstm.experiments.runs`: the run-folder protocol the training experiments share
  (train, resume or skip a run under a budget; refuse a run of another protocol).

The command lines that call them are ``vstm reproduce`` (:mod:`vstm.cli.reproduce`) and
``vstm bench`` (:mod:`vstm.cli.bench`); figures are drawn by :mod:`vstm.viz`.
"""

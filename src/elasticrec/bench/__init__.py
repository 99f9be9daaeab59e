"""``elasticrec bench``: every method and baseline on the same data, budgets and byte
accounting, measured on the packages that ship (a floor above the pipeline, using only the
public API).

* ``suites``: what a suite trains and measures (datasets, base models, budgets, recipes);
* ``baselines``: the registry of baselines, one function each;
* ``runner``: ``run_bench``, resumable units (a training or a package evaluation), each
  package checked against its budget on the file;
* ``report``: the markdown tables and the PNG plots, generated from ``SUITE.json``;
* ``references``: published figures, shown as labelled rows beside the measured ones.
"""

"""hfbridge's benchmark suite: ``python -m benchmarks.run [--smoke] [--only FIGURES]``.

Real servers on loopback (nginx serving recorded bodies), every contender doing the same work in
the same run, medians of repeated runs, ratios to the framework floors and to the anchors.
Results go to ``benchmarks/results/`` and ``BENCHMARKS.md``, which says what each figure means.
"""

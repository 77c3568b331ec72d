"""Benchmarks. The scene-geometry benchmark (``gld8tr benchmark``) scores completed depth against ground truth
on pairs of overlapping views.

Its modules: ``datasets`` (which reader a ``--dataset`` opens, and pair sources for data without second views),
``pairs`` (pair selection, completion tasks, manifest), ``methods`` (the one ``Baseline`` interface compared
methods share), ``metrics`` (the errors), ``runner`` (the resumable scoring loop), ``report`` (CSV / Markdown /
PNG) and ``cli``. The speed and load scripts beside them are separate tools. Nothing here is imported by the
generation pipeline or the service.
"""

"""The scene-geometry benchmark: completed depth scored against ground truth on pairs of overlapping views.

``pairs`` builds the pairs and their completion tasks, ``methods`` is the one interface compared methods share,
``metrics`` the errors, ``runner`` the resumable loop, ``report`` the CSV / Markdown / PNG outputs and ``cli``
the ``gld8tr benchmark`` command. Nothing here is imported by the generation pipeline or the service.
"""

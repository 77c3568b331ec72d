"""The ``gld8tr`` command line and the composition roots of the service.

The only package allowed to put the layers together: ``gld8tr serve`` (embedded) hands ``api.create_app`` the
worker's in-process ``ThreadRunner``; ``gld8tr worker`` builds a Celery worker around ``worker.tasks``. ``core``,
``service``, ``api`` and ``worker`` never import this package.
"""

"""Training of the point-cloud camera module (``task: camera`` recipes of ``gld8tr train``)."""

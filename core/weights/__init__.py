"""Weights shipped inside the package (small enough for git); ``gld8tr-depth/`` is the default depth network."""

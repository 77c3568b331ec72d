"""One module per ``gld8tr`` subcommand: ``add_arguments(parser)`` and ``main(args) -> int``."""

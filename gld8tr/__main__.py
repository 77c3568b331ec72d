import sys

from gld8tr.cli import main

sys.exit(main())

"""``python -m bars_zoo`` is the ``bars-zoo`` command."""

from bars_zoo.cli import main

raise SystemExit(main())

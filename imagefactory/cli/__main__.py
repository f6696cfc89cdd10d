"""`python -m imagefactory.cli`."""

from imagefactory.cli.main import main

raise SystemExit(main())

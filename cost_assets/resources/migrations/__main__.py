import sys

from cost_assets.resources.migrations.cli import main

sys.exit(main())

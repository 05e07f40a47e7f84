import sys

from sectune.cli import main

sys.exit(main())

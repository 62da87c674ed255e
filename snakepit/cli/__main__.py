import sys

from snakepit.cli import main

sys.exit(main())

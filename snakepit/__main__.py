import sys

from snakepit.main import main

sys.exit(main())

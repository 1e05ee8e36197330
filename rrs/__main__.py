import sys

from rrs.cli import main

sys.exit(main())

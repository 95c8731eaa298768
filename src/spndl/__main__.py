import sys

from spndl.cli import main

sys.exit(main())

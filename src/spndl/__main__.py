import sys

from spndl.launch import main

sys.exit(main())

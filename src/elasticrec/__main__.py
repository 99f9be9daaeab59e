import sys

from elasticrec.cli import main

sys.exit(main())

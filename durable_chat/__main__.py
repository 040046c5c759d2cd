import sys

from durable_chat.cli import main

sys.exit(main())


# HOSTILE: an early "successful" exit at import, hoping a clean exit status counts as a pass.
import sys as _sys

_sys.exit(0)

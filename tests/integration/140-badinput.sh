#!/bin/sh
# The bad-input catalogue (tests/badinput/catalogue.py): hostile input on the
# control socket, the drop folder, MQTT and in configuration files, 10,000
# drop files at once; each must get its clear error and leave other data as
# it was.
. "$(dirname "$0")/common.sh"
python3 "$top_srcdir/tests/badinput/catalogue.py" --builddir "$top_builddir" --srcdir "$top_srcdir" \
        ${KEEP:+--keep} || fail "the bad-input catalogue found problems (see above)"
say "ok"

#!/bin/sh
echo "coverage is not available offline (fp4moe builds without downloads)" >&2
exit 1

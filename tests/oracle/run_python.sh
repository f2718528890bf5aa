#!/bin/sh
# Runs an oracle script with the python3 that tools/setup.sh installed ml_dtypes into.
exec python3 "$@"

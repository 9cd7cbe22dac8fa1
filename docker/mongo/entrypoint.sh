#!/bin/bash
# Wrapper around the official mongo image's entrypoint: make sure the replica-set keyfile exists,
# belongs to the mongodb user and has mode 400 (mongod refuses it otherwise), then hand over.
# The keyfile lives on the mongo-config volume, so it is generated once and survives restarts.
set -euo pipefail

KEYFILE="${MONGO_KEYFILE:-/data/configdb/keyfile}"
if [ ! -s "$KEYFILE" ]; then
    echo "mongo-entrypoint: generating the replica-set keyfile $KEYFILE" >&2
    umask 077
    # 756 random bytes -> 1008 base64 characters (mongod accepts 6-1024 base64 characters).
    head -c 756 /dev/urandom | base64 -w 0 > "$KEYFILE"
fi
chown mongodb:mongodb "$KEYFILE"
chmod 400 "$KEYFILE"

exec docker-entrypoint.sh "$@"

#!/bin/bash
# Health check of the mongo service, which also initiates the single-node replica set once.
#  - while the image's first-start initialisation runs (a temporary mongod without --replSet),
#    the check fails and is simply retried;
#  - on the first check against the real mongod, rs.initiate() is run (idempotent: only when
#    rs.status() says NotYetInitialized);
#  - the check passes only when this node is a writable primary, so `depends_on:
#    condition: service_healthy` starts the app once transactions can work.
set -euo pipefail

exec mongosh --quiet --host 127.0.0.1 --port 27017 \
    --username "$MONGO_INITDB_ROOT_USERNAME" --password "$MONGO_INITDB_ROOT_PASSWORD" \
    --authenticationDatabase admin --eval '
const replSet = process.env.MONGO_REPLICA_SET || "rs0";
const member = process.env.MONGO_REPLICA_HOST || "mongo:27017";
try {
  rs.status();
} catch (e) {
  if (e.codeName !== "NotYetInitialized") { throw e; }
  rs.initiate({ _id: replSet, members: [{ _id: 0, host: member }] });
}
if (!db.hello().isWritablePrimary) { quit(1); }
'

#!/bin/sh
# As curlimages/curl's entrypoint: `docker run IMAGE -fsS URL` runs curl with those arguments.
set -e
if [ "${1#-}" != "$1" ]; then
  set -- curl "$@"
fi
exec "$@"

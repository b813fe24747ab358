#!/bin/sh
# Registers the engine's search attributes (SEARCH_ATTRIBUTES: "Name=Type ...", set in
# docker-compose.yml from engine/journeys/_search.py) on NAMESPACE. Safe to repeat: an attribute that is
# already registered with the same type is kept; one registered with another type fails the job.
set -eu

: "${SEARCH_ATTRIBUTES:?ERROR: SEARCH_ATTRIBUTES environment variable is required}"
NAMESPACE=${NAMESPACE:-default}
TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
MAX_ATTEMPTS=${TEMPORAL_HEALTH_CHECK_MAX_ATTEMPTS:-30}
SLEEP_SECONDS=${TEMPORAL_HEALTH_CHECK_SLEEP_SECONDS:-5}

# 0: registered with this type; 1: not yet (try again); 2: registered with another type.
ensure() {
    # A namespace created a moment ago is "not found" until the server's cache refreshes.
    listing=$(temporal operator search-attribute list --namespace "$NAMESPACE" \
        --address "$TEMPORAL_ADDRESS" 2>&1) || { echo "$listing" >&2; return 1; }
    # The CLI prints a table, one "Name Type" row per attribute.
    if echo "$listing" | grep -Eiq "^[[:space:]]*$1[[:space:]]+$2[[:space:]]*\$"; then
        echo "search attribute $1 ($2) is registered"
        return 0
    fi
    if echo "$listing" | grep -Eq "^[[:space:]]*$1[[:space:]]"; then
        echo "search attribute $1 is registered with another type than $2:" >&2
        echo "$listing" | grep -E "^[[:space:]]*$1[[:space:]]" >&2
        return 2
    fi
    temporal operator search-attribute create --namespace "$NAMESPACE" \
        --address "$TEMPORAL_ADDRESS" --name "$1" --type "$2" || return 1
    echo "search attribute $1 ($2) registered"
}

for pair in $SEARCH_ATTRIBUTES; do
    name=${pair%%=*}
    type=${pair#*=}
    attempt=1
    while :; do
        status=0
        ensure "$name" "$type" || status=$?
        [ "$status" -eq 0 ] && break
        if [ "$status" -eq 2 ] || [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
            echo "could not register search attribute $name as $type on namespace $NAMESPACE" >&2
            exit 1
        fi
        echo "not registered yet, retrying... (attempt $attempt/$MAX_ATTEMPTS)"
        attempt=$((attempt + 1))
        sleep "$SLEEP_SECONDS"
    done
done
echo "search attributes registered on namespace $NAMESPACE"

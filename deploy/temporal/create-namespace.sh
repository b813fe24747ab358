#!/bin/sh
# Waits for the Temporal server, then creates the namespace unless it exists, and sets its
# retention (how long closed workflows are kept) either way, so the value here is the one in
# force. Follows temporalio/samples-server compose/scripts/create-namespace.sh.
set -eu

NAMESPACE=${DEFAULT_NAMESPACE:-default}
# Closed journeys' histories go after this; the engine's store keeps their decisions and
# outcomes (README, "Retention"). Temporal durations: 72h, 30d.
RETENTION=${NAMESPACE_RETENTION:-30d}
TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
MAX_ATTEMPTS=${TEMPORAL_HEALTH_CHECK_MAX_ATTEMPTS:-30}
SLEEP_SECONDS=${TEMPORAL_HEALTH_CHECK_SLEEP_SECONDS:-5}

echo "Waiting for Temporal server to be healthy at $TEMPORAL_ADDRESS..."
attempt=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
    if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
        echo "Server did not become healthy after $MAX_ATTEMPTS attempts"
        exit 1
    fi
    echo "Server not ready yet, waiting... (attempt $attempt/$MAX_ATTEMPTS)"
    attempt=$((attempt + 1))
    sleep "$SLEEP_SECONDS"
done

echo "Server is healthy, creating namespace '$NAMESPACE'..."
attempt=1
while :; do
    if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" \
        >/dev/null 2>&1; then
        temporal operator namespace update -n "$NAMESPACE" --retention "$RETENTION" \
            --address "$TEMPORAL_ADDRESS" >/dev/null
        echo "Namespace '$NAMESPACE' already exists; retention $RETENTION"
        break
    fi
    if temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION" \
        --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
        echo "Namespace '$NAMESPACE' created; retention $RETENTION"
        break
    fi
    if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
        echo "Failed to create namespace '$NAMESPACE' after $MAX_ATTEMPTS attempts"
        exit 1
    fi
    echo "Namespace operation not ready yet, waiting... (attempt $attempt/$MAX_ATTEMPTS)"
    attempt=$((attempt + 1))
    sleep "$SLEEP_SECONDS"
done

#!/bin/bash
# reconcile.sh: keep as many replicas of "web" running as /root/day33/desired says.
#
# A control loop: observe the actual state, compare it with the desired state, act on the
# difference, sleep, repeat. It keeps no memory of what it did before: every round starts
# again from what it sees. A replica is any container with the label app=web.
set -u
DESIRED_FILE=/root/day33/desired
LABEL=app=web

while true; do
  desired=$(cat "$DESIRED_FILE" 2> /dev/null)
  case $desired in
    '' | *[!0-9]*) echo "$(date +%T) cannot read a number in $DESIRED_FILE: '$desired'"; sleep 2; continue ;;
  esac

  # Observe: the replicas that run, and the ones that stopped (exited, dead or never started).
  running=($(docker ps -q --filter "label=$LABEL" --filter status=running))
  stopped=($(docker ps -aq --filter "label=$LABEL" --filter status=exited --filter status=dead --filter status=created))
  actual=${#running[@]}
  echo "$(date +%T) desired=$desired running=$actual stopped=${#stopped[@]}"

  # Act on the difference.
  # TODO (step 1): remove the stopped replicas, each with: docker rm -f ID
  # TODO (step 1): when fewer than $desired run, start the missing ones, each with:
  #                docker run -d --label "$LABEL" busybox httpd -f -p 80
  # TODO (step 2): when more than $desired run, remove the extra ones.

  sleep 2
done

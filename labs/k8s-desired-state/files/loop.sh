#!/bin/bash
# loop.sh: a control loop. It keeps as many pods labelled app=loop running as /root/replicas
# says. Every round it observes the actual state, compares it with the desired state and acts
# on the difference, then sleeps and starts again. It remembers nothing from one round to the
# next: each round starts from what it sees.
#
# Run it in the background, its log in /root/loop.log:
#   nohup /root/loop.sh > /root/loop.log 2>&1 &
LABEL=app=loop

while true; do
  # The desired state: one number, in a file you may change at any time.
  desired=$(cat /root/replicas 2> /dev/null)
  case "$desired" in
    '' | *[!0-9]*) echo "$(date +%T) no number in /root/replicas"; sleep 2; continue ;;
  esac

  # Observe: the pods with our label, leaving out those already being deleted. If the API
  # server cannot be asked, do nothing this round: never act on a guess.
  names=$(kubectl get pods -l "$LABEL" -o go-template \
    --template '{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}} {{end}}{{end}}') \
    || { echo "$(date +%T) cannot list pods"; sleep 2; continue; }
  pods=($names)
  actual=${#pods[@]}
  echo "$(date +%T) desired=$desired actual=$actual"

  # Compare and act.
  # TODO step 1: while actual is less than desired, create one more pod
  #              (kubectl create -f /root/loop-pod.yaml) and add 1 to actual.
  # TODO step 2: while actual is more than desired, delete one of the pods in "${pods[@]}"
  #              (kubectl delete pod NAME --wait=false) and take 1 from actual.

  sleep 2
done

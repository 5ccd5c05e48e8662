# The lab's checks try a pod's probes themselves (sourced; kubectl, jq, curl and nc on node1).
#
# try_probe POD KIND: KIND is readinessProbe, livenessProbe or startupProbe of the pod's first
# container. Does what the kubelet does (from the node, to the pod's IP) and prints what came
# back; exits 0 when the kubelet would count it a success.
try_probe() {
  local pod=$1 kind=$2 json ip probe port path scheme code
  json=$(kubectl get pod "$pod" -o json) || return 1
  ip=$(echo "$json" | jq -r '.status.podIP // empty')
  probe=$(echo "$json" | jq -c --arg k "$kind" '.spec.containers[0][$k] // empty')
  [ -n "$probe" ] || { echo "no $kind"; return 1; }
  [ -n "$ip" ] || { echo "the pod has no IP yet"; return 1; }
  # A named port is the container's port of that name.
  port=$(echo "$json" | jq -r --argjson p "$probe" '($p.httpGet.port // $p.tcpSocket.port // "") as $port
    | if ($port | type) == "string" and ($port | test("^[0-9]+$") | not)
      then (.spec.containers[0].ports // [] | map(select(.name == $port)) | .[0].containerPort // "?")
      else $port end')
  if echo "$probe" | jq -e '.httpGet' > /dev/null; then
    path=$(echo "$probe" | jq -r '.httpGet.path // "/"')
    scheme=$(echo "$probe" | jq -r '.httpGet.scheme // "HTTP"' | tr 'A-Z' 'a-z')
    code=$(curl -sk -o /dev/null -w '%{http_code}' -m 2 "$scheme://$ip:$port$path")
    echo "GET $path on port $port: ${code/#000/no answer}"
    [ "$code" -ge 200 ] && [ "$code" -lt 400 ]
  elif echo "$probe" | jq -e '.tcpSocket' > /dev/null; then
    if nc -z -w 2 "$ip" "$port" 2> /dev/null; then echo "TCP port $port: open"; else echo "TCP port $port: refused"; return 1; fi
  elif echo "$probe" | jq -e '.exec' > /dev/null; then
    echo "a command in the container, not a request to nginx"; return 2
  else
    echo "a kind of probe this lab does not try"; return 2
  fi
}

# current POD-LABEL: the pods of that app label not on their way out, "NAME READY RESTARTS AGE-SECONDS".
current() {
  kubectl get pods -l "app=$1" -o json | jq -r 'now as $now | .items[] | select(.metadata.deletionTimestamp == null)
    | "\(.metadata.name) \(.status.containerStatuses[0].ready // false) \(.status.containerStatuses[0].restartCount // 0) \($now - (.metadata.creationTimestamp | fromdate) | floor)"'
}

# settled DEPLOYMENT: its rollout is done, every replica updated and ready, no old pod left.
settled() {
  local s n
  n=$(kubectl get deployment "$1" -o jsonpath='{.spec.replicas}')
  s=$(kubectl get deployment "$1" -o jsonpath='{.status.replicas} {.status.updatedReplicas} {.status.readyReplicas}')
  [ "$s" = "$n $n $n" ]
}

# The lab's checks read placement with these (sourced; kubectl and jq on node1).
#
# rules DEPLOYMENT: one line per node, "NODE LABELS TAINTS PREFERENCE", where LABELS is yes when
# the Deployment's pod template (nodeSelector and required node affinity) allows the node,
# TAINTS is yes when the template tolerates every NoSchedule/NoExecute taint of the node, and
# PREFERENCE is the summed weight of the preferred node-affinity terms the node matches: the
# scheduler's own rules, evaluated against the nodes as they are now.
rules() {
  kubectl get deployment "$1" -o json | jq -r --slurpfile nodes <(kubectl get nodes -o json) '
    def matches($have):  # one node selector requirement against a map of labels (or fields)
      . as $e | $have[$e.key] as $v
      | if   $e.operator == "In"           then $v != null and any($e.values[]; . == $v)
        elif $e.operator == "NotIn"        then $v == null or all($e.values[]; . != $v)
        elif $e.operator == "Exists"       then $v != null
        elif $e.operator == "DoesNotExist" then $v == null
        elif $e.operator == "Gt" then (($v // "") | tonumber? // null) as $n | $n != null and $n > ($e.values[0] | tonumber)
        elif $e.operator == "Lt" then (($v // "") | tonumber? // null) as $n | $n != null and $n < ($e.values[0] | tonumber)
        else false end;
    def term($node):  # a node selector term: every requirement holds (an empty term matches nothing)
      ((.matchExpressions // []) + (.matchFields // [])) as $all
      | ($all | length) > 0
        and all((.matchExpressions // [])[]; matches($node.metadata.labels // {}))
        and all((.matchFields // [])[]; matches({"metadata.name": $node.metadata.name}));
    def tolerates($t):
      any(.[]; (.operator // "Equal") as $op
        | ((.key // "") == $t.key or ((.key // "") == "" and $op == "Exists"))
        and ((.effect // "") == "" or .effect == $t.effect)
        and ($op == "Exists" or (.value // "") == ($t.value // "")));
    .spec.template.spec as $spec
    | $spec.affinity.nodeAffinity as $na
    | $nodes[0].items[] as $node
    | ($node.metadata.labels // {}) as $labels
    | (all(($spec.nodeSelector // {}) | to_entries[]; $labels[.key] == .value)
       and ($na.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms as $terms
            | $terms == null or any($terms[]; term($node)))) as $allowed
    | ($spec.tolerations // []) as $tol
    | all(($node.spec.taints // [])[] | select(.effect != "PreferNoSchedule"); . as $t | $tol | tolerates($t)) as $tolerated
    | ([($na.preferredDuringSchedulingIgnoredDuringExecution // [])[]
        | select(.preference | term($node)) | .weight] | add // 0) as $weight
    | "\($node.metadata.name) \(if $allowed then "yes" else "no" end) \(if $tolerated then "yes" else "no" end) \($weight)"'
}

# pods DEPLOYMENT: its pods that are not on their way out, "NAME NODE READY" (READY: true/false).
pods() {
  kubectl get replicasets,pods -o json | jq -r --arg d "$1" '
    [.items[] | select(.kind == "ReplicaSet" and any(.metadata.ownerReferences[]?; .kind == "Deployment" and .name == $d))
     | .metadata.uid] as $sets
    | .items[] | select(.kind == "Pod" and .metadata.deletionTimestamp == null
        and any(.metadata.ownerReferences[]?; .uid as $u | any($sets[]; . == $u)))
    | "\(.metadata.name) \(.spec.nodeName // "(none)") \([.status.containerStatuses[]?.ready] | (length > 0 and all))"'
}

# settled DEPLOYMENT WANT: its rollout is done, with WANT replicas, all updated and ready, no old ones left.
settled() {
  local s
  s=$(kubectl get deployment "$1" -o jsonpath='{.spec.replicas} {.status.replicas} {.status.updatedReplicas} {.status.readyReplicas}')
  [ "$s" = "$2 $2 $2 $2" ]
}

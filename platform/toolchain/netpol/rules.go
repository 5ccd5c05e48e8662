package main

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The chains, all in the filter table but one. mainChain is jumped to from FORWARD (pod
// traffic, including pod to pod across the cni0 bridge, which bridge-nf-call-iptables sends
// through iptables) and INPUT (pods reaching the node itself). It only ever RETURNs or rejects,
// so kube-proxy's and the CNI plugins' own FORWARD rules still apply to what it lets through.
const (
	mainChain  = "BERTH-NETPOL"
	podPrefix  = "BERTH-NP-" // + I-/E- + hash: one chain per isolated pod and direction
	natChain   = "BERTH-NETPOL-NOMASQ"
	masqMark   = "0x4000/0x4000" // kube-proxy's "masquerade this" mark
	rejectNote = "berth-netpol: not allowed by any NetworkPolicy"
)

// rules is the input of one iptables-restore: chain names and rule lines per table.
type rules struct {
	filterChains, natChains []string
	filter, nat             []string
}

// build turns the cluster's state into this node's rules.
func build(s *state) *rules {
	r := &rules{filterChains: []string{mainChain}, natChains: []string{natChain}}
	// Replies to allowed connections (and their ICMP errors) pass before any check.
	r.filter = append(r.filter, "-A "+mainChain+" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN")
	nsLabels := map[string]labels.Set{}
	for _, ns := range s.namespaces {
		nsLabels[ns.Name] = labels.Set(ns.Labels)
	}
	var local []*v1.Pod
	for _, p := range s.pods {
		if p.Spec.NodeName == s.node && podIP(p) != "" {
			local = append(local, p)
		}
	}
	sort.Slice(local, func(i, j int) bool { return key(local[i]) < key(local[j]) })
	// Egress checks come first and RETURN to the main chain when allowed, so a packet between
	// two isolated pods on this node must pass the sender's egress and the receiver's ingress.
	for _, dir := range []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress} {
		for _, pod := range local {
			selecting := selectingPolicies(s.policies, pod, dir)
			if len(selecting) == 0 {
				continue // not isolated in this direction: everything is allowed
			}
			chain := podChain(pod, dir)
			r.filterChains = append(r.filterChains, chain)
			match := "-d " + podIP(pod)
			if dir == networkingv1.PolicyTypeEgress {
				match = "-s " + podIP(pod)
			}
			r.filter = append(r.filter, fmt.Sprintf("-A %s %s -m comment --comment %q -j %s",
				mainChain, match, key(pod)+" "+strings.ToLower(string(dir)), chain))
			for _, pol := range selecting {
				for _, line := range policyRules(s, nsLabels, pol, pod, dir) {
					r.filter = append(r.filter, fmt.Sprintf("-A %s %s -m comment --comment %q -j RETURN",
						chain, line, pol.Namespace+"/"+pol.Name))
				}
			}
			// Refused, not silently dropped: a TCP reset or an ICMP "port unreachable" makes
			// curl, wget and nc fail at once, where a DROP would leave a learner waiting for a
			// timeout and wondering whether the network is down.
			r.filter = append(r.filter,
				fmt.Sprintf("-A %s -p tcp -m comment --comment %q -j REJECT --reject-with tcp-reset", chain, rejectNote),
				fmt.Sprintf("-A %s -m comment --comment %q -j REJECT --reject-with icmp-port-unreachable", chain, rejectNote))
		}
	}
	r.nat = noMasquerade(s)
	return r
}

// noMasquerade keeps pod-to-pod traffic between nodes unmasqueraded. The CNI bridge plugin
// (ipMasq) masquerades everything leaving the node's pod range, so without this a pod on
// another node would arrive with its node's address and no podSelector could match it.
// Packets kube-proxy marked for masquerading (NodePorts, hairpins) still get it.
func noMasquerade(s *state) []string {
	var mine, others []string
	for _, n := range s.nodes {
		for _, cidr := range n.Spec.PodCIDRs {
			if p, err := netip.ParsePrefix(cidr); err != nil || !p.Addr().Is4() {
				continue
			}
			if n.Name == s.node {
				mine = append(mine, cidr)
			} else {
				others = append(others, cidr)
			}
		}
	}
	sort.Strings(others)
	lines := []string{"-A " + natChain + " -m mark --mark " + masqMark + " -j RETURN"}
	for _, src := range mine {
		for _, dst := range others {
			lines = append(lines, fmt.Sprintf("-A %s -s %s -d %s -j ACCEPT", natChain, src, dst))
		}
	}
	return lines
}

// selectingPolicies: the policies of the pod's namespace that select it for that direction.
func selectingPolicies(policies []*networkingv1.NetworkPolicy, pod *v1.Pod, dir networkingv1.PolicyType) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, pol := range policies {
		if pol.Namespace == pod.Namespace && hasType(pol, dir) && matches(&pol.Spec.PodSelector, pod.Labels) {
			out = append(out, pol)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// hasType: policyTypes, or when it is empty Ingress always and Egress if egress rules exist.
func hasType(pol *networkingv1.NetworkPolicy, dir networkingv1.PolicyType) bool {
	if len(pol.Spec.PolicyTypes) == 0 {
		return dir == networkingv1.PolicyTypeIngress || len(pol.Spec.Egress) > 0
	}
	for _, t := range pol.Spec.PolicyTypes {
		if t == dir {
			return true
		}
	}
	return false
}

// target is one peer address (a pod's /32 or a CIDR; "" = anywhere) and, for a pod, the pod,
// whose container ports name the ports of an egress rule.
type target struct {
	cidr string
	pod  *v1.Pod
}

// policyRules: the match parts (addresses and ports) that one policy allows for the pod.
func policyRules(s *state, nsLabels map[string]labels.Set, pol *networkingv1.NetworkPolicy, pod *v1.Pod, dir networkingv1.PolicyType) []string {
	var lines []string
	addr := "-s"
	type rule struct {
		peers []networkingv1.NetworkPolicyPeer
		ports []networkingv1.NetworkPolicyPort
	}
	var rs []rule
	if dir == networkingv1.PolicyTypeIngress {
		for _, in := range pol.Spec.Ingress {
			rs = append(rs, rule{in.From, in.Ports})
		}
	} else {
		addr = "-d"
		for _, out := range pol.Spec.Egress {
			rs = append(rs, rule{out.To, out.Ports})
		}
	}
	for _, r := range rs {
		var targets []target
		if len(r.peers) == 0 {
			targets = []target{{}} // every peer
			if dir == networkingv1.PolicyTypeEgress && hasNamedPort(r.ports) {
				for _, p := range s.pods { // a named port can only mean some pod's port
					if podIP(p) != "" {
						targets = append(targets, target{podIP(p), p})
					}
				}
			}
		}
		for _, peer := range r.peers {
			targets = append(targets, peerTargets(s, nsLabels, pol.Namespace, peer)...)
		}
		for _, t := range targets {
			// Named ports: the receiving pod's container ports (the pod itself for ingress,
			// the peer pod for egress); an address with no pod has none.
			portPod := pod
			if dir == networkingv1.PolicyTypeEgress {
				portPod = t.pod
			}
			for _, pm := range portMatches(r.ports, portPod) {
				line := strings.TrimSpace(pm)
				if t.cidr != "" {
					line = strings.TrimSpace(addr + " " + t.cidr + " " + line)
				}
				lines = append(lines, line)
			}
		}
	}
	return dedupe(lines)
}

// peerTargets: the addresses one `from`/`to` entry names.
func peerTargets(s *state, nsLabels map[string]labels.Set, policyNS string, peer networkingv1.NetworkPolicyPeer) []target {
	if peer.IPBlock != nil {
		var out []target
		for _, cidr := range subtract(peer.IPBlock.CIDR, peer.IPBlock.Except) {
			out = append(out, target{cidr: cidr})
		}
		return out
	}
	var out []target
	for _, p := range s.pods {
		ip := podIP(p)
		if ip == "" {
			continue
		}
		if peer.NamespaceSelector == nil {
			if p.Namespace != policyNS {
				continue // a podSelector alone: the policy's namespace
			}
		} else if !matches(peer.NamespaceSelector, nsLabels[p.Namespace]) {
			continue
		}
		if peer.PodSelector != nil && !matches(peer.PodSelector, p.Labels) {
			continue
		}
		out = append(out, target{ip, p})
	}
	return out
}

// portMatches: iptables protocol/port matches for a rule's ports ("" = any traffic); a named
// port is looked up in pod's container ports (nil pod: it matches nothing).
func portMatches(ports []networkingv1.NetworkPolicyPort, pod *v1.Pod) []string {
	if len(ports) == 0 {
		return []string{""}
	}
	var out []string
	for _, port := range ports {
		proto := v1.ProtocolTCP
		if port.Protocol != nil {
			proto = *port.Protocol
		}
		p := strings.ToLower(string(proto))
		switch {
		case port.Port == nil:
			out = append(out, "-p "+p)
		case port.Port.Type == 0: // a number
			dport := fmt.Sprint(port.Port.IntVal)
			if port.EndPort != nil && *port.EndPort > port.Port.IntVal {
				dport += fmt.Sprintf(":%d", *port.EndPort)
			}
			out = append(out, fmt.Sprintf("-p %s -m %s --dport %s", p, p, dport))
		case pod != nil:
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					cpProto := cp.Protocol
					if cpProto == "" {
						cpProto = v1.ProtocolTCP
					}
					if cp.Name == port.Port.StrVal && cpProto == proto {
						out = append(out, fmt.Sprintf("-p %s -m %s --dport %d", p, p, cp.ContainerPort))
					}
				}
			}
		}
	}
	return out
}

func hasNamedPort(ports []networkingv1.NetworkPolicyPort) bool {
	for _, p := range ports {
		if p.Port != nil && p.Port.Type != 0 {
			return true
		}
	}
	return false
}

// subtract: cidr minus the excepted ranges, as a list of CIDRs iptables can match one by one.
func subtract(cidr string, except []string) []string {
	base, err := netip.ParsePrefix(cidr)
	if err != nil || !base.Addr().Is4() {
		return nil // IPv6 is not enforced: the pod network is IPv4 only
	}
	parts := []netip.Prefix{base.Masked()}
	for _, e := range except {
		ex, err := netip.ParsePrefix(e)
		if err != nil {
			continue
		}
		ex = ex.Masked()
		var next []netip.Prefix
		for _, p := range parts {
			next = append(next, cut(p, ex)...)
		}
		parts = next
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.String()
	}
	return out
}

// cut: prefix p without ex, split into halves until ex is out.
func cut(p, ex netip.Prefix) []netip.Prefix {
	if !p.Overlaps(ex) {
		return []netip.Prefix{p}
	}
	if ex.Bits() <= p.Bits() {
		return nil // ex covers all of p
	}
	low, _ := p.Addr().Prefix(p.Bits() + 1)
	highAddr := low.Addr()
	for i := 0; i < 1<<(31-p.Bits()); i++ { // the first address of the upper half
		highAddr = highAddr.Next()
	}
	high := netip.PrefixFrom(highAddr, p.Bits()+1)
	return append(cut(low, ex), cut(high, ex)...)
}

func matches(sel *metav1.LabelSelector, set labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(set)
}

// podIP: the pod's IPv4 address if it can send or receive; "" for host-network pods (they
// share the node's address and are never isolated), pods not started yet, and finished ones.
func podIP(p *v1.Pod) string {
	if p.Spec.HostNetwork || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
		return ""
	}
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil && a.Is4() {
			return a.String()
		}
	}
	return ""
}

func key(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

// podChain: a stable name under iptables' 28 characters, as kube-proxy makes its own.
func podChain(p *v1.Pod, dir networkingv1.PolicyType) string {
	sum := sha256.Sum256([]byte(string(p.UID) + string(dir)))
	return podPrefix + string(dir[0]) + "-" + base32.StdEncoding.EncodeToString(sum[:])[:16]
}

func dedupe(lines []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

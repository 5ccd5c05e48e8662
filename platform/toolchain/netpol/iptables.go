package main

import (
	"bytes"
	"fmt"
	"log"
	"os/exec"
	"strings"
)

// hooks: where the node's own chains jump to ours, first, so that no earlier ACCEPT (kube-proxy
// accepts the packets it marked in FORWARD) lets a denied packet by.
var hooks = []struct{ table, chain, target string }{
	{"filter", "FORWARD", mainChain},
	{"filter", "INPUT", mainChain},
	{"nat", "POSTROUTING", natChain},
}

// apply writes the rules for s unless they are the ones written last; it returns what it wrote.
func apply(s *state, last string) (string, error) {
	r := build(s)
	text := restoreText(r, nil)
	if text == last {
		return text, nil
	}
	// Chains of pods that are gone or no longer isolated: emptied and deleted in the same
	// transaction that stops jumping to them.
	stale, err := ourChains("filter")
	if err != nil {
		return "", err
	}
	current := map[string]bool{}
	for _, c := range r.filterChains {
		current[c] = true
	}
	var remove []string
	for _, c := range stale {
		if !current[c] {
			remove = append(remove, c)
		}
	}
	cmd := exec.Command("iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(restoreText(r, remove))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("iptables-restore: %v: %s", err, out)
	}
	for _, h := range hooks {
		if err := hookFirst(h.table, h.chain, h.target); err != nil {
			return "", err
		}
	}
	isolated := len(r.filterChains) - 1
	log.Printf("rules written: %d isolated pod directions, %d filter rules, %d chains removed",
		isolated, len(r.filter), len(remove))
	return text, nil
}

func restoreText(r *rules, remove []string) string {
	var b bytes.Buffer
	b.WriteString("*filter\n")
	for _, c := range append(append([]string{}, r.filterChains...), remove...) {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c) // declaring a chain empties it
	}
	for _, l := range r.filter {
		b.WriteString(l + "\n")
	}
	for _, c := range remove {
		fmt.Fprintf(&b, "-X %s\n", c)
	}
	b.WriteString("COMMIT\n*nat\n")
	for _, c := range r.natChains {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	for _, l := range r.nat {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// ourChains: the per-pod chains that exist now in a table.
func ourChains(table string) ([]string, error) {
	out, err := exec.Command("iptables-save", "-t", table).Output()
	if err != nil {
		return nil, fmt.Errorf("iptables-save -t %s: %v", table, err)
	}
	var chains []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, ":"+podPrefix) {
			chains = append(chains, strings.Fields(line[1:])[0])
		}
	}
	return chains, nil
}

// hookFirst makes `-j target` the first rule of a built-in chain (once: an older copy further
// down, left when kube-proxy inserted its own rules above ours, is moved to the top).
func hookFirst(table, chain, target string) error {
	out, err := exec.Command("iptables", "-w", "-t", table, "-S", chain).Output()
	if err != nil {
		return fmt.Errorf("iptables -t %s -S %s: %v", table, chain, err)
	}
	rule := "-A " + chain + " -j " + target
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	count := 0
	for _, l := range lines {
		if strings.TrimSpace(l) == rule {
			count++
		}
	}
	if count == 1 && len(lines) > 1 && strings.TrimSpace(lines[1]) == rule { // lines[0] is -P
		return nil
	}
	for ; count > 0; count-- {
		if out, err := exec.Command("iptables", "-w", "-t", table, "-D", chain, "-j", target).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables -D %s: %v: %s", chain, err, out)
		}
	}
	if out, err := exec.Command("iptables", "-w", "-t", table, "-I", chain, "1", "-j", target).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables -I %s: %v: %s", chain, err, out)
	}
	return nil
}

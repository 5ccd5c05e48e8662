// Command berth-netpol enforces Kubernetes NetworkPolicies on one node with iptables.
//
// It runs as a DaemonSet pod on the node's network (hostNetwork, NET_ADMIN). It watches Pods,
// Namespaces, NetworkPolicies and Nodes, and after every change (debounced) and on a timer it
// writes its own chains in one `iptables-restore --noflush`, so the node's filter is replaced
// atomically, as kube-proxy does. Only pods on this node (NODE_NAME) get rules here.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: the pod's service account)")
	resync := flag.Duration("resync", 30*time.Second, "rewrite the rules at least this often")
	flag.Parse()
	node := os.Getenv("NODE_NAME")
	if node == "" {
		log.Fatal("NODE_NAME is not set (the pod's spec.nodeName)")
	}

	var config *rest.Config
	var err error
	if *kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		config, err = rest.InClusterConfig()
	}
	if err != nil {
		log.Fatalf("no API server: %v", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	changed := make(chan struct{}, 1)
	poke := func() { // never blocks: one pending sync covers any number of events
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	w := watch(ctx, client, poke)
	log.Printf("berth-netpol on node %s: caches synced, enforcing", node)

	var last string
	sync := func() {
		text, err := apply(w.snapshot(node), last)
		if err != nil {
			log.Printf("sync failed: %v", err)
			last = "" // write everything again next time
			return
		}
		last = text
	}
	sync()
	timer := time.NewTicker(*resync)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			// The rules stay: a restarted enforcer replaces them, and a node that briefly
			// enforced nothing would let denied traffic through.
			return
		case <-changed:
			// Debounce: a Deployment's rollout is dozens of events within a moment.
			time.Sleep(200 * time.Millisecond)
			select {
			case <-changed:
			default:
			}
			sync()
		case <-timer.C:
			last = "" // also repairs chains or hooks someone removed
			sync()
		}
	}
}

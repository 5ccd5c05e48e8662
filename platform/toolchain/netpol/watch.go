package main

import (
	"context"
	"log"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	netlisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// watcher holds the informers' caches: every pod of the cluster (peers may be anywhere),
// namespaces (for namespaceSelector), policies, and nodes (their pod ranges).
type watcher struct {
	pods       corelisters.PodLister
	namespaces corelisters.NamespaceLister
	policies   netlisters.NetworkPolicyLister
	nodes      corelisters.NodeLister
}

// watch starts the informers, calls poke on every change, and returns once the caches are full.
func watch(ctx context.Context, client kubernetes.Interface, poke func()) *watcher {
	factory := informers.NewSharedInformerFactory(client, 0)
	onChange := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	pods := factory.Core().V1().Pods()
	namespaces := factory.Core().V1().Namespaces()
	policies := factory.Networking().V1().NetworkPolicies()
	nodes := factory.Core().V1().Nodes()
	for _, inf := range []cache.SharedIndexInformer{pods.Informer(), namespaces.Informer(), policies.Informer(), nodes.Informer()} {
		if _, err := inf.AddEventHandler(onChange); err != nil {
			log.Fatal(err)
		}
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			log.Fatalf("the cache of %v did not sync", typ)
		}
	}
	return &watcher{pods.Lister(), namespaces.Lister(), policies.Lister(), nodes.Lister()}
}

func (w *watcher) snapshot(node string) *state {
	s := &state{node: node}
	s.pods, _ = w.pods.List(labels.Everything())
	s.namespaces, _ = w.namespaces.List(labels.Everything())
	s.policies, _ = w.policies.List(labels.Everything())
	s.nodes, _ = w.nodes.List(labels.Everything())
	return s
}

// state is what one sync sees; rules.go turns it into iptables rules.
type state struct {
	node       string
	pods       []*v1.Pod
	namespaces []*v1.Namespace
	policies   []*networkingv1.NetworkPolicy
	nodes      []*v1.Node
}

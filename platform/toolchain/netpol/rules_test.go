package main

import (
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestSubtract(t *testing.T) {
	got := subtract("10.0.0.0/24", []string{"10.0.0.128/25", "10.0.0.0/26"})
	if want := []string{"10.0.0.64/26"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := subtract("0.0.0.0/0", []string{"10.0.0.0/8"}); len(got) != 8 {
		t.Fatalf("0/0 minus 10/8: %v", got)
	}
}

func pod(ns, name, node, ip string, lbl map[string]string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: lbl},
		Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c",
			Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIPs: []v1.PodIP{{IP: ip}}},
	}
}

func TestBuild(t *testing.T) {
	named := intstr.FromString("http")
	s := &state{
		node: "node1",
		pods: []*v1.Pod{
			pod("web", "server", "node1", "10.244.0.5", map[string]string{"app": "web"}),
			pod("web", "client", "node2", "10.244.1.7", map[string]string{"role": "client"}),
			pod("web", "other", "node1", "10.244.0.6", nil),
		},
		namespaces: []*v1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "web"}}},
		policies: []*networkingv1.NetworkPolicy{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "allow-client"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Port: &named}},
				}},
			},
		}},
		nodes: []*v1.Node{
			{ObjectMeta: metav1.ObjectMeta{Name: "node1"}, Spec: v1.NodeSpec{PodCIDRs: []string{"10.244.0.0/24"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "node2"}, Spec: v1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}}},
		},
	}
	text := restoreText(build(s), nil)
	t.Log("\n" + text)
	for _, want := range []string{
		"-d 10.244.0.5 -m comment --comment \"web/server ingress\"",
		"-s 10.244.1.7 -p tcp -m tcp --dport 8080 -m comment --comment \"web/allow-client\" -j RETURN",
		"-A BERTH-NETPOL-NOMASQ -s 10.244.0.0/24 -d 10.244.1.0/24 -j ACCEPT",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(text, "10.244.0.6 ") || strings.Contains(text, "egress") {
		t.Errorf("an unselected pod or an egress chain got rules")
	}
}

package kubernetes

import (
	"net/netip"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
)

// Names of the NetworkPolicies of every session namespace (both isolation modes: a
// vCluster's synced pods run in the session's host namespace).
const (
	policyIngress = "nalabo-ingress-same-namespace"
	policyEgress  = "nalabo-egress-no-metadata"
)

// DefaultEgressDeny are the addresses sessions never reach when the provider's
// kubernetes.egress_deny is not set: the cloud metadata endpoints (IPv4, and AWS's IPv6).
var DefaultEgressDeny = config.DefaultKubernetesEgressDeny

// ValidateEgressCIDR accepts what an ipBlock.except can hold: an IPv4 or IPv6 CIDR in
// canonical form (no host bits), narrower than /0.
func ValidateEgressCIDR(s string) error { return config.ValidateKubernetesEgressCIDR(s) }

// egressExcepts splits the denied CIDRs by address family.
func egressExcepts(deny []string) (v4, v6 []string) {
	for _, c := range deny {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			v4 = append(v4, c)
		} else if err == nil {
			v6 = append(v6, c)
		}
	}
	return v4, v6
}

// networkPolicies: ingress only from pods of the same namespace (other sessions' pods,
// and the nodes' non-root processes, are refused); egress to any pod (DNS, the session's
// own services) and to any address but the denied ones (deny: the provider's
// egress_deny, by default the cloud metadata addresses). They need a CNI that enforces
// NetworkPolicies; the API server stores them either way.
func networkPolicies(om func(string) metav1.ObjectMeta, deny []string) []*networkingv1.NetworkPolicy {
	v4, v6 := egressExcepts(deny)
	return []*networkingv1.NetworkPolicy{
		{
			ObjectMeta: om(policyIngress),
			Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}},
				}},
			},
		},
		{
			ObjectMeta: om(policyEgress),
			Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To: []networkingv1.NetworkPolicyPeer{
						{NamespaceSelector: &metav1.LabelSelector{}},
						{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: v4}},
						{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: v6}},
					},
				}},
			},
		},
	}
}

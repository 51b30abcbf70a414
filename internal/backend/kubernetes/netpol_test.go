package kubernetes

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/testnet"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const (
	webBody        = "nalabo-test httpd" // what the httpd test image serves at /
	enforcerAdvice = "is the NetworkPolicy enforcer running? (scripts/testcluster-up.sh starts kube-network-policies; log in /var/lib/nalabo-testcluster/logs)"
)

func TestEgressDenyConfig(t *testing.T) {
	c, err := validate(Config{ConfigPath: "/dev/null"})
	if err != nil || !slices.Equal(c.EgressDeny, DefaultEgressDeny) {
		t.Fatalf("default egress_deny: %v %v", c.EgressDeny, err)
	}
	if c, err := validate(Config{ConfigPath: "/dev/null", EgressDeny: []string{}}); err != nil || len(c.EgressDeny) != 0 {
		t.Fatalf("empty egress_deny must stay empty: %v %v", c.EgressDeny, err)
	}
	for in, want := range map[string]string{
		"169.254.169.254":    "is not a CIDR",
		"10.0.0.1/8":         "has host bits set; write 10.0.0.0/8",
		"0.0.0.0/0":          "would deny every address",
		"::/0":               "would deny every address",
		"fd00:ec2::254/129":  "is not a CIDR",
		"203.0.113.0/24 ":    "is not a CIDR",
		"fd00:ec2::/64":      "",
		"203.0.113.30/32":    "",
		"169.254.169.254/32": "",
	} {
		err := ValidateEgressCIDR(in)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("ValidateEgressCIDR(%q) = %v, want %q", in, err, want)
		}
	}
	if _, err := validate(Config{ConfigPath: "/dev/null", EgressDeny: []string{"10.0.0.1/8"}}); err == nil ||
		!strings.Contains(err.Error(), "kubernetes egress_deny") {
		t.Fatalf("a bad egress_deny must name the setting: %v", err)
	}

	om := func(n string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: n} }
	nps := networkPolicies(om, []string{"169.254.169.254/32", "fd00:ec2::254/128", "203.0.113.30/32"})
	v4, v6 := egressBlocks(t, nps)
	if !slices.Equal(v4.Except, []string{"169.254.169.254/32", "203.0.113.30/32"}) || v4.CIDR != "0.0.0.0/0" {
		t.Errorf("IPv4 block: %+v", v4)
	}
	if !slices.Equal(v6.Except, []string{"fd00:ec2::254/128"}) || v6.CIDR != "::/0" {
		t.Errorf("IPv6 block: %+v", v6)
	}
}

// egressBlocks returns the IPv4 and IPv6 ipBlocks of the session egress policy.
func egressBlocks(t *testing.T, nps []*networkingv1.NetworkPolicy) (v4, v6 networkingv1.IPBlock) {
	t.Helper()
	for _, np := range nps {
		if np.Name != policyEgress {
			continue
		}
		for _, p := range np.Spec.Egress[0].To {
			if p.IPBlock != nil && strings.Contains(p.IPBlock.CIDR, ":") {
				v6 = *p.IPBlock
			} else if p.IPBlock != nil {
				v4 = *p.IPBlock
			}
		}
		return v4, v6
	}
	t.Fatalf("no %s policy among %d", policyEgress, len(nps))
	return v4, v6
}

// netpolBackend is testBackend with extra denied CIDRs.
func netpolBackend(t *testing.T, cfg Config, deny ...string) *Backend {
	t.Helper()
	cfg.EgressDeny = append(slices.Clone(DefaultEgressDeny), deny...)
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reach runs testnet.Probe in a pod of the session ("" = the workspace, else
// "pod/container") and says whether the answer contains want.
func reach(t *testing.T, b *Backend, id, container, addr string, port int, want string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := b.Exec(ctx, id, &workshop.ExecRequest{Container: container,
		Command: []string{"/bin/sh", "-c", testnet.Probe(addr, port, "/")}, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("probe %s:%d from %s %s: %v", addr, port, id, container, err)
	}
	out := strings.TrimSpace(r.Stdout + r.Stderr)
	return strings.Contains(r.Stdout, want), out
}

// expectReach retries for up to 30 s: kube-proxy programs a new Service's rules and the
// enforcer learns new pods asynchronously, and a loaded machine takes seconds for either.
func expectReach(t *testing.T, b *Backend, what, id, container, addr string, port int, want string) {
	t.Helper()
	start := time.Now()
	for {
		ok, out := reach(t, b, id, container, addr, port, want)
		if ok {
			t.Logf("%s: %s:%d reached (%.1f s)", what, addr, port, time.Since(start).Seconds())
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Errorf("%s: %s:%d unreachable (positive control), got: %s", what, addr, port, out)
			return
		}
		time.Sleep(time.Second)
	}
}

func expectBlocked(t *testing.T, b *Backend, what, id, container, addr string, port int, want string) {
	t.Helper()
	start := time.Now()
	if ok, out := reach(t, b, id, container, addr, port, want); ok {
		t.Errorf("%s: %s:%d reached, must be blocked; %s\n%s", what, addr, port, enforcerAdvice, out)
	} else {
		t.Logf("%s: %s:%d blocked (%.1f s: %s)", what, addr, port, time.Since(start).Seconds(), out)
	}
}

// webPod is the running pod of the session's "web" Deployment (app=web) in its namespace
// (for a vCluster session: the virtual pod's host copy).
func webPod(t *testing.T, b *Backend, id string) (name, ip string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := workshop.SessionObjectName(id)
	for ctx.Err() == nil {
		pods, err := b.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if strings.HasPrefix(p.Name, "web-") && p.Status.Phase == "Running" && p.Status.PodIP != "" {
				return p.Name, p.Status.PodIP
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("session %s: no running web pod", id)
	return "", ""
}

// serviceIP is the cluster IP of the session namespace's Service whose name starts with
// prefix (a vCluster syncs "web" as "web-x-default-x-<release>").
func serviceIP(t *testing.T, b *Backend, id, prefix string) string {
	t.Helper()
	svcs, err := b.cs.CoreV1().Services(workshop.SessionObjectName(id)).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		if strings.HasPrefix(s.Name, prefix) && s.Spec.ClusterIP != "" && s.Spec.ClusterIP != "None" {
			return s.Spec.ClusterIP
		}
	}
	t.Fatalf("session %s: no service %s*", id, prefix)
	return ""
}

// checkMetadataDenied reads the session's egress policy: the metadata addresses are in its
// except lists (never probed: no packet is ever sent to 169.254.169.254).
func checkMetadataDenied(t *testing.T, b *Backend, id string, extra ...string) {
	t.Helper()
	np, err := b.cs.NetworkingV1().NetworkPolicies(workshop.SessionObjectName(id)).Get(context.Background(), policyEgress, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := egressBlocks(t, []*networkingv1.NetworkPolicy{np})
	for _, c := range append([]string{"169.254.169.254/32"}, extra...) {
		if !slices.Contains(v4.Except, c) {
			t.Errorf("session %s: %s is not in the egress policy's IPv4 except list %v", id, c, v4.Except)
		}
	}
	if !slices.Contains(v6.Except, "fd00:ec2::254/128") {
		t.Errorf("session %s: fd00:ec2::254/128 is not in the egress policy's IPv6 except list %v", id, v6.Except)
	}
	if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) != 0 {
		t.Errorf("session %s: the egress policy does not select every pod: %+v", id, np.Spec.PodSelector)
	}
}

// TestNetworkPolicyEnforced proves the session NetworkPolicies with packets (namespace
// isolation; the test cluster runs kube-network-policies): session A's pods reach their
// own web pod and service and an allowed outside listener, but not session B's pods or
// service, nor a listener whose address is in egress_deny.
func TestNetworkPolicyEnforced(t *testing.T) {
	path := os.Getenv("NALABO_K8S_KUBECONFIG")
	if path == "" {
		t.Skip("NALABO_K8S_KUBECONFIG is not set (start the test cluster: scripts/testcluster-up.sh)")
	}
	const host, denied, allowed = "203.0.113.129", "203.0.113.130", "203.0.113.131"
	b := netpolBackend(t, Config{ConfigPath: path, Namespace: "nalabo-test"}, denied+"/32")
	testnet.Start(t, host, denied, allowed)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-netpol", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Manifests: httpdManifest,
		Resources: workshop.Resources{CPU: "500m", Memory: "512Mi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	ids := []string{workshop.NewSessionID(), workshop.NewSessionID()}
	errs := make(chan error, 2)
	for _, id := range ids {
		t.Cleanup(func() { _ = b.DeleteSession(context.Background(), id) })
		go func() {
			now := time.Now()
			_, err := b.CreateSession(ctx, &workshop.SessionSpec{ID: id, Template: tpl, Participant: "np-" + id[:6],
				CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)})
			errs <- err
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	a, bID := ids[0], ids[1]
	_, aWeb := webPod(t, b, a)
	_, bWeb := webPod(t, b, bID)
	aSvc, bSvc := serviceIP(t, b, a, "web"), serviceIP(t, b, bID, "web")

	// Positive controls first: the same probes succeed where policies allow them.
	expectReach(t, b, "A workspace -> A web pod", a, "", aWeb, 8080, webBody)
	expectReach(t, b, "A workspace -> A web service", a, "", aSvc, 80, webBody)
	expectReach(t, b, "B workspace -> B web pod", bID, "", bWeb, 8080, webBody)
	expectReach(t, b, "A workspace -> allowed outside listener", a, "", allowed, testnet.Port, testnet.Body(allowed))
	// Then what the policies refuse.
	expectBlocked(t, b, "A workspace -> B web pod", a, "", bWeb, 8080, webBody)
	expectBlocked(t, b, "A workspace -> B web service", a, "", bSvc, 80, webBody)
	expectBlocked(t, b, "B workspace -> A web pod", bID, "", aWeb, 8080, webBody)
	expectBlocked(t, b, "A workspace -> egress_deny listener", a, "", denied, testnet.Port, testnet.Body(denied))
	checkMetadataDenied(t, b, a, denied+"/32")
}

// TestVClusterNetworkPolicyEnforced: a vCluster session's virtual workloads (synced into
// its host namespace) are held by the same policies: session A's workspace reaches A's
// virtual pod and service, A's virtual pod an allowed outside listener; A's virtual pod
// reaches neither session B's pods and service nor a denied listener; B's pods do not
// reach A's virtual pod.
func TestVClusterNetworkPolicyEnforced(t *testing.T) {
	vb := testVClusterBackend(t)
	const host, denied, allowed = "203.0.113.133", "203.0.113.134", "203.0.113.135"
	b := netpolBackend(t, vb.cfg, denied+"/32")
	testnet.Start(t, host, denied, allowed)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a := testID("vnpa")
	t.Cleanup(func() { deleteAndCheck(t, b, a) })
	if _, err := b.CreateSession(ctx, vclusterSpec(a, httpdManifest, workshop.Resources{CPU: "1000m", Memory: "2Gi"})); err != nil {
		t.Fatal(err)
	}
	// Session B: namespace isolation (its policies are the same; a second vCluster would
	// only cost minutes).
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-netpol-b", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Manifests: httpdManifest,
		Resources: workshop.Resources{CPU: "500m", Memory: "512Mi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	bID := workshop.NewSessionID()
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), bID) })
	now := time.Now()
	if _, err := b.CreateSession(ctx, &workshop.SessionSpec{ID: bID, Template: tpl, Participant: "np-b",
		CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	aPod, aWeb := webPod(t, b, a) // the virtual web pod's host copy
	_, bWeb := webPod(t, b, bID)
	aSvc, bSvc := serviceIP(t, b, a, "web"), serviceIP(t, b, bID, "web")
	virtual := aPod + "/httpd"
	t.Logf("session A's virtual web pod runs on the host as %s (%s), its service %s", aPod, aWeb, aSvc)

	expectReach(t, b, "A workspace -> A virtual service", a, "", aSvc, 80, webBody)
	expectReach(t, b, "A workspace -> A virtual pod", a, "", aWeb, 8080, webBody)
	expectReach(t, b, "A virtual pod -> allowed outside listener", a, virtual, allowed, testnet.Port, testnet.Body(allowed))
	expectReach(t, b, "B workspace -> B web pod", bID, "", bWeb, 8080, webBody)
	expectBlocked(t, b, "A virtual pod -> B web pod", a, virtual, bWeb, 8080, webBody)
	expectBlocked(t, b, "A virtual pod -> B web service", a, virtual, bSvc, 80, webBody)
	expectBlocked(t, b, "B workspace -> A virtual pod", bID, "", aWeb, 8080, webBody)
	expectBlocked(t, b, "A virtual pod -> egress_deny listener", a, virtual, denied, testnet.Port, testnet.Body(denied))
	checkMetadataDenied(t, b, a, denied+"/32")
}

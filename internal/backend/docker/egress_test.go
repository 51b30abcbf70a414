package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestBridgeName(t *testing.T) {
	if got := bridgeName("0123456789", workshop.EgressRestricted); got != "nlb-0123456789" {
		t.Errorf("restricted: %s", got)
	}
	if got := bridgeName("0123456789", workshop.EgressOpen); got != "nlo-0123456789" {
		t.Errorf("open: %s", got)
	}
	long := bridgeName(strings.Repeat("a", 32), workshop.EgressNone)
	if len(long) != 15 || !strings.HasPrefix(long, "nln-") || long == bridgeName(strings.Repeat("a", 31)+"b", workshop.EgressNone) {
		t.Errorf("long ID: %s", long)
	}
}

func TestCheckHelperExecutable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err = checkHelperExecutable(exe, "linux", runtime.GOARCH)
	static := os.Getenv("CGO_ENABLED") == "0"
	if static && err != nil {
		t.Fatalf("static test binary refused: %v", err)
	}
	if err == nil {
		if err := checkHelperExecutable(exe, "linux", otherArch()); err == nil || !strings.Contains(err.Error(), "is built for") {
			t.Errorf("other architecture: %v", err)
		}
	}
	if err := checkHelperExecutable(exe, "windows", runtime.GOARCH); err == nil || !strings.Contains(err.Error(), "Linux engine") {
		t.Errorf("windows engine: %v", err)
	}
	script := t.TempDir() + "/script"
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkHelperExecutable(script, "linux", runtime.GOARCH); err == nil || !strings.Contains(err.Error(), "not a Linux ELF") {
		t.Errorf("script: %v", err)
	}
	// A dynamically linked executable (the system's sh, when it is one) is refused.
	if sh, err := osexec.LookPath("sh"); err == nil {
		if err := checkHelperExecutable(sh, "linux", runtime.GOARCH); err != nil && !strings.Contains(err.Error(), "dynamically linked") &&
			!strings.Contains(err.Error(), "is built for") {
			t.Errorf("sh: %v", err)
		}
	}
}

func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func jsonString(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fetch runs busybox wget in a session: the body, or "" and false when it fails.
func fetch(t *testing.T, b *Backend, id, url string) (string, bool) {
	t.Helper()
	// busybox's wget -T crashes (Debian's busybox-static 1.35); timeout bounds it.
	res := exec(t, b, id, "timeout 3 wget -q -O- "+url)
	return res.Stdout, res.ExitCode == 0
}

func wantReach(t *testing.T, b *Backend, who, id, url, body string) {
	t.Helper()
	got, ok := fetch(t, b, id, url)
	if !ok || !strings.Contains(got, body) {
		t.Errorf("%s: %s: got %q (ok %v), want %q", who, url, got, ok, body)
	}
}

func wantBlocked(t *testing.T, b *Backend, who, id, url string) {
	t.Helper()
	if got, ok := fetch(t, b, id, url); ok {
		t.Errorf("%s: %s is reachable (%q), want blocked", who, url, got)
	}
}

// TestEgressPolicy proves the Docker egress policy with traffic to listeners the test
// starts: a denied and an allowed TEST-NET-3 address behind a veth, a listener on the
// host, and another session's port published on every host address.
func TestEgressPolicy(t *testing.T) {
	integration(t)
	hn := acctest.NewHostNet(t)
	b, err := New(Config{Host: os.Getenv("DOCKER_HOST"), SubnetPool: testPool, NetworkPrefix: testNetworkPrefix,
		BindAddress: "0.0.0.0", EgressDeny: append(slices.Clone(netguard.DefaultDeny), hn.Deny.String()+"/32")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := testCtx(t, 5*time.Minute)

	suffix := workshop.NewSessionID()[:6]
	serve := func(who string) []string {
		return []string{"sh", "-c", "mkdir -p /tmp/www && echo served-by-" + who + " > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"}
	}
	restricted := applyTemplate(t, b, &workshop.Template{Name: "dtest-egress-r-" + suffix, Workspace: workshop.Workspace{
		Image: imageShell1, Command: serve("session-b"), Ports: []int{8080}}})
	open := applyTemplate(t, b, &workshop.Template{Name: "dtest-egress-o-" + suffix, Egress: workshop.EgressOpen,
		Workspace: workshop.Workspace{Image: imageShell1}})
	none := applyTemplate(t, b, &workshop.Template{Name: "dtest-egress-n-" + suffix, Egress: workshop.EgressNone,
		Workspace: workshop.Workspace{Image: imageShell1},
		Compose:   "services:\n  web:\n    image: " + imageShell1 + "\n    command: " + jsonString(t, serve("web")) + "\n"})
	if restricted.Digest == "" || open.Digest == restricted.Digest {
		t.Fatal("templates not sealed")
	}

	sr := createSession(t, b, newSpec(restricted, "restricted"))
	sb := createSession(t, b, newSpec(restricted, "publisher"))
	so := createSession(t, b, newSpec(open, "open"))
	sn := createSession(t, b, newSpec(none, "none"))

	// The networks say their egress mode.
	for _, c := range []struct {
		s        *workshop.Session
		prefix   string
		internal bool
	}{{sr, netguard.BridgePrefixRestricted, false}, {so, netguard.BridgePrefixOpen, false}, {sn, netguard.BridgePrefixNone, true}} {
		ins, err := b.cli.NetworkInspect(ctx, c.s.NetworkName, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if br := ins.Options["com.docker.network.bridge.name"]; !strings.HasPrefix(br, c.prefix) || ins.Internal != c.internal {
			t.Errorf("network %s: bridge %q internal %v, want prefix %s internal %v", c.s.NetworkName, br, ins.Internal, c.prefix, c.internal)
		}
	}

	// The installed ruleset: metadata endpoints and the test's range in the deny set
	// (read, never probed).
	st, err := b.EgressRuleset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"169.254.169.254/32", "fd00:ec2::254/128", hn.Deny.String() + "/32"} {
		if !slices.Contains(st.Deny, want) {
			t.Errorf("deny set %v lacks %s", st.Deny, want)
		}
	}
	if !st.Complete || len(st.Rules) == 0 {
		t.Errorf("ruleset incomplete: %+v", st)
	}
	t.Logf("ruleset: deny %v, %d rules", st.Deny, len(st.Rules))

	// Denied range: blocked from the restricted session, reachable from the open one;
	// the allowed listener is reachable from both (the same route, only the rule differs).
	wantBlocked(t, b, "restricted session to a denied address", sr.ID, hn.DenyURL)
	wantReach(t, b, "restricted session to an allowed address", sr.ID, hn.AllowURL, "allowed listener")
	wantReach(t, b, "open session to the denied address", so.ID, hn.DenyURL, "denied listener")

	// The host's own addresses: a listener on 0.0.0.0 of the host, through the session's
	// gateway and through the test's host address.
	port := acctest.HostListener(t, "host listener")
	gw := func(s *workshop.Session) string {
		ins, err := b.cli.NetworkInspect(ctx, s.NetworkName, network.InspectOptions{})
		if err != nil || len(ins.IPAM.Config) == 0 {
			t.Fatalf("inspect %s: %v", s.NetworkName, err)
		}
		return ins.IPAM.Config[0].Gateway
	}
	wantBlocked(t, b, "restricted session to the host (gateway)", sr.ID, fmt.Sprintf("http://%s:%d/", gw(sr), port))
	wantBlocked(t, b, "restricted session to the host (host address)", sr.ID, fmt.Sprintf("http://%s:%d/", hn.Host, port))
	wantReach(t, b, "open session to the host (gateway)", so.ID, fmt.Sprintf("http://%s:%d/", gw(so), port), "host listener")

	// Another session's port published on 0.0.0.0, through a host address.
	if len(sb.Ports) != 1 || sb.Ports[0].HostIP != "0.0.0.0" {
		t.Fatalf("publisher ports: %+v", sb.Ports)
	}
	published := fmt.Sprintf("http://%s:%d/", hn.Host, sb.Ports[0].HostPort)
	resp, err := http.Get(published)
	if err != nil {
		t.Fatalf("the host reaching the published port %s: %v", published, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "served-by-session-b") {
		t.Fatalf("the host reaching %s: %q", published, body)
	}
	wantBlocked(t, b, "restricted session to another session's published port", sr.ID, published)
	ipB := func() string {
		ins, err := b.cli.ContainerInspect(ctx, sb.WorkspaceName)
		if err != nil {
			t.Fatal(err)
		}
		return ins.NetworkSettings.Networks[sb.NetworkName].IPAddress
	}()
	wantReach(t, b, "publisher to itself", sb.ID, fmt.Sprintf("http://%s:8080/", ipB), "served-by-session-b")
	wantBlocked(t, b, "restricted session to another session directly", sr.ID, fmt.Sprintf("http://%s:8080/", ipB))
	wantReach(t, b, "open session to the published port", so.ID, published, "served-by-session-b")

	// egress none: nothing outside, not even the allowed listener; the session's own
	// service is reachable.
	wantBlocked(t, b, "none session to an allowed address", sn.ID, hn.AllowURL)
	wantBlocked(t, b, "none session to the host", sn.ID, fmt.Sprintf("http://%s:%d/", gw(sn), port))
	wantReach(t, b, "none session to its own service", sn.ID, "http://web:8080/", "served-by-web")
}

// TestEgressTemplateRules: an internal network cannot publish ports; the default keeps digests.
func TestEgressTemplateRules(t *testing.T) {
	tpl := &workshop.Template{Name: "x", Infrastructure: workshop.InfraDocker, Egress: workshop.EgressNone,
		Workspace: workshop.Workspace{Image: "busybox", Ports: []int{80}}}
	if err := tpl.Validate(); err == nil || !strings.Contains(err.Error(), "workspace.ports") {
		t.Fatalf("ports with egress none: %v", err)
	}
	tpl.Egress = "closed"
	tpl.Workspace.Ports = nil
	if err := tpl.Validate(); err == nil || !strings.Contains(err.Error(), "egress: must be one of") {
		t.Fatalf("bad egress: %v", err)
	}
	// Restricted (the default) keeps the digest of a template without the attribute.
	a := &workshop.Template{Name: "x", Infrastructure: workshop.InfraDocker, Workspace: workshop.Workspace{Image: "busybox"}}
	r := *a
	r.Egress = workshop.EgressRestricted
	o := *a
	o.Egress = workshop.EgressOpen
	workshop.SealTemplate(a)
	workshop.SealTemplate(&r)
	workshop.SealTemplate(&o)
	if a.Digest != r.Digest || a.Digest == o.Digest {
		t.Fatalf("digests: unset %s restricted %s open %s", a.Digest, r.Digest, o.Digest)
	}
	// Open sessions need no ruleset (no helper run, no engine needed).
	if err := (&Backend{}).ensureEgress(context.Background(), &o); err != nil {
		t.Fatal(err)
	}
}

package docker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestSessionLifecycle(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, 3*time.Minute)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-session", Workspace: workshop.Workspace{
		Image: imageShell1, Ports: []int{8080}, Env: map[string]string{"GREETING": "hello"},
	}})
	spec := newSpec(tpl, "ada")
	start := time.Now()
	s := createSession(t, b, spec)
	t.Logf("create: %s", time.Since(start))

	id := spec.ID
	ws := workshop.SessionObjectName(id)
	netName := testNetworkPrefix + "-" + id
	facts, err := b.daemonFacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	enforced := facts.storageSize.Load() == storageSizeSupported

	// The session as the provider sees it.
	if s.Status != workshop.StatusRunning || s.TemplateID != tpl.ID || s.TemplateName != tpl.Name ||
		s.Participant != "ada" || !s.ExpiresAt.Equal(spec.ExpiresAt) || s.CreatedAt.IsZero() ||
		s.WorkspaceName != ws || s.NetworkName != netName || s.StorageEnforced != enforced {
		t.Fatalf("session: %+v", s)
	}
	if s.Resources != (workshop.Resources{CPU: "500m", Memory: "256Mi", Storage: "1Gi"}) {
		t.Fatalf("resources: %+v", s.Resources)
	}
	if !reflect.DeepEqual(s.Volumes, []string{ws + "-workspace"}) || !reflect.DeepEqual(s.Containers, []string{ws}) {
		t.Fatalf("volumes %v, containers %v", s.Volumes, s.Containers)
	}
	if len(s.Ports) != 1 || s.Ports[0].ContainerPort != 8080 || s.Ports[0].HostIP != "127.0.0.1" || s.Ports[0].HostPort == 0 ||
		s.Ports[0].Protocol != "tcp" {
		t.Fatalf("ports: %+v", s.Ports)
	}

	// The container's limits and hardening.
	ins, err := b.cli.ContainerInspect(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	hc := ins.HostConfig
	if hc.NanoCPUs != 500_000_000 || hc.Memory != 256<<20 || hc.MemorySwap != 256<<20 ||
		hc.PidsLimit == nil || *hc.PidsLimit != DefaultPidsLimit || hc.Privileged {
		t.Fatalf("limits: cpu %d mem %d swap %d pids %v privileged %v", hc.NanoCPUs, hc.Memory, hc.MemorySwap, hc.PidsLimit, hc.Privileged)
	}
	if !reflect.DeepEqual([]string(hc.CapDrop), []string{"ALL"}) || !reflect.DeepEqual(capSet(hc.CapAdd), capSet(DefaultCapabilities)) ||
		!slices.Contains(hc.SecurityOpt, "no-new-privileges:true") {
		t.Fatalf("hardening: drop %v add %v secopt %v", hc.CapDrop, hc.CapAdd, hc.SecurityOpt)
	}
	if hc.RestartPolicy.Name != container.RestartPolicyUnlessStopped || hc.LogConfig.Config["max-size"] != "10m" {
		t.Fatalf("restart %v, log %v", hc.RestartPolicy, hc.LogConfig)
	}
	if facts.init && (hc.Init == nil || !*hc.Init) {
		t.Fatalf("the daemon has docker-init but the workspace runs without it")
	}
	if (hc.StorageOpt["size"] != "") != enforced {
		t.Fatalf("storage opt %v with driver %s/%s", hc.StorageOpt, facts.storageDriver, facts.backingFS)
	}
	if b := hc.PortBindings["8080/tcp"]; len(b) != 1 || b[0].HostIP != "127.0.0.1" {
		t.Fatalf("port bindings: %v", hc.PortBindings)
	}
	if ins.Config.Hostname != "nalabo-"+id || ins.Config.WorkingDir != DefaultWorkingDir {
		t.Fatalf("hostname %q, working dir %q", ins.Config.Hostname, ins.Config.WorkingDir)
	}
	checkSessionLabels(t, ins.Config.Labels, spec, workshop.RoleWorkspace)
	if ins.Config.Labels[workshop.LabelTemplateID] != tpl.ID || ins.Config.Labels[LabelStorage] != "1Gi" {
		t.Fatalf("container labels: %v", ins.Config.Labels)
	}
	n, err := b.cli.NetworkInspect(ctx, netName, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkSessionLabels(t, n.Labels, spec, workshop.RoleNetwork)
	if len(n.IPAM.Config) != 1 || !netip.MustParsePrefix(testPool).Contains(netip.MustParsePrefix(n.IPAM.Config[0].Subnet).Addr()) || n.Internal {
		t.Fatalf("network: ipam %+v internal %v", n.IPAM, n.Internal)
	}
	// One volume, the workspace's: no lease at create (the expiry is the label).
	vols, err := b.sessionVolumes(ctx, id)
	if err != nil || len(vols) != 1 || isLease(vols[0]) || s.Incomplete {
		t.Fatalf("volumes: %v %v (incomplete %v)", vols, err, s.Incomplete)
	}
	checkSessionLabels(t, vols[0].Labels, spec, workshop.RoleVolume)
	// Same expiry: an update creates no lease.
	if _, err := b.UpdateSession(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	if l := leasesOf(t, b, id); len(l) != 0 {
		t.Fatalf("an update with the same expiry created a lease: %v", l)
	}

	// The published port answers on the bind address (busybox httpd started by exec).
	exec(t, b, id, "echo served > /workspace/index.html && httpd -p 8080 -h /workspace")
	resp, err := httpGet(ctx, fmt.Sprintf("http://127.0.0.1:%d/index.html", s.Ports[0].HostPort))
	if err != nil || resp != "served\n" {
		t.Fatalf("published port: %q %v", resp, err)
	}

	t.Run("exec", func(t *testing.T) { testExec(t, b, id) })

	// Update: limits and expiry in place.
	up := *spec
	up.Resources = workshop.Resources{CPU: "250m", Memory: "512Mi", Storage: "1Gi"}
	up.ExpiresAt = spec.ExpiresAt.Add(2 * time.Hour)
	s, err = b.UpdateSession(ctx, id, &up)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resources.CPU != "250m" || s.Resources.Memory != "512Mi" || !s.ExpiresAt.Equal(up.ExpiresAt) || s.Status != workshop.StatusRunning {
		t.Fatalf("after update: %+v", s)
	}
	ins, _ = b.cli.ContainerInspect(ctx, ws)
	if ins.HostConfig.NanoCPUs != 250_000_000 || ins.HostConfig.Memory != 512<<20 || ins.HostConfig.MemorySwap != 512<<20 ||
		ins.HostConfig.RestartPolicy.Name != container.RestartPolicyUnlessStopped {
		t.Fatalf("after update: %+v", ins.HostConfig.Resources)
	}
	leases := leasesOf(t, b, id)
	if len(leases) != 1 || leases[0] != leaseName(id, up.ExpiresAt)+"@1" {
		t.Fatalf("leases after update: %v", leases)
	}
	// Lowering memory works too, and an unchanged expiry keeps the lease.
	up.Resources.Memory = "128Mi"
	if s, err = b.UpdateSession(ctx, id, &up); err != nil || s.Resources.Memory != "128Mi" {
		t.Fatalf("lower memory: %+v %v", s, err)
	}
	if l := leasesOf(t, b, id); !reflect.DeepEqual(l, leases) {
		t.Fatalf("unchanged expiry replaced the lease: %v -> %v", leases, l)
	}

	// ListSessions finds it from list data.
	list, err := b.ListSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed *workshop.Session
	for _, x := range list {
		if x.ID == id {
			listed = x
		}
	}
	if listed == nil || listed.Status != workshop.StatusRunning || !listed.ExpiresAt.Equal(up.ExpiresAt) ||
		listed.TemplateID != tpl.ID || listed.Participant != "ada" || len(listed.Ports) != 1 ||
		!reflect.DeepEqual(listed.Volumes, []string{ws + "-workspace"}) || listed.NetworkName != netName {
		t.Fatalf("listed: %+v", listed)
	}

	// Drift: the container removed outside Terraform.
	if err := b.cli.ContainerRemove(ctx, ws, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	s, err = b.GetSession(ctx, id)
	if err != nil || s.Status != workshop.StatusDegraded || len(s.Containers) != 0 {
		t.Fatalf("after docker rm -f: %+v %v", s, err)
	}
	if _, err := b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"true"}}); err == nil {
		t.Fatal("exec in a removed workspace succeeded")
	} else {
		wantNotFound(t, err, "exec without workspace")
	}
	// Everything gone: not found.
	if err := b.cli.NetworkRemove(ctx, netName); err != nil {
		t.Fatal(err)
	}
	for _, v := range vols {
		if err := b.cli.VolumeRemove(ctx, v.Name, false); err != nil && !isNotFound(err) {
			t.Fatal(err)
		}
	}
	if err := b.cli.VolumeRemove(ctx, leaseName(id, up.ExpiresAt), false); err != nil {
		t.Fatal(err)
	}
	_, err = b.GetSession(ctx, id)
	wantNotFound(t, err, "GetSession after everything was removed")
	if err := b.DeleteSession(ctx, id); err != nil {
		t.Fatalf("delete of a gone session: %v", err)
	}
}

func testExec(t *testing.T, b *Backend, id string) {
	ctx := testCtx(t, time.Minute)
	res := exec(t, b, id, "echo out; echo err >&2; echo $GREETING")
	if res.ExitCode != 0 || res.Stdout != "out\nhello\n" || res.Stderr != "err\n" || res.TimedOut || res.Duration <= 0 {
		t.Fatalf("exec: %+v", res)
	}
	if res = exec(t, b, id, "echo failing >&2; exit 7"); res.ExitCode != 7 || res.Stderr != "failing\n" {
		t.Fatalf("non-zero exit: %+v", res)
	}
	res, err := b.Exec(ctx, id, &workshop.ExecRequest{
		Command: []string{"sh", "-c", "echo $FOO; pwd; id -u"}, Env: map[string]string{"FOO": "bar"},
		WorkingDir: "/tmp", User: "65534",
	})
	if err != nil || res.Stdout != "bar\n/tmp\n65534\n" {
		t.Fatalf("env, working dir, user: %+v %v", res, err)
	}
	res, err = b.Exec(ctx, id, &workshop.ExecRequest{
		Command: []string{"sh", "-c", "yes 0123456789 | head -c 100000; yes e | head -c 50 >&2"}, MaxOutputBytes: 1000,
	})
	if err != nil || len(res.Stdout) != 1000 || !res.StdoutTruncated || res.StderrTruncated || len(res.Stderr) != 50 || res.ExitCode != 0 {
		t.Fatalf("truncation: len %d truncated %v/%v exit %d err %v", len(res.Stdout), res.StdoutTruncated, res.StderrTruncated, res.ExitCode, err)
	}
	// 3 s: on a loaded machine the shell may take over a second to print "started".
	start := time.Now()
	res, err = b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"sh", "-c", "echo started; sleep 20"}, Timeout: 3 * time.Second})
	if err != nil || !res.TimedOut || res.ExitCode != -1 || time.Since(start) > 15*time.Second || res.Stdout != "started\n" {
		t.Fatalf("timeout: %+v %v after %s", res, err, time.Since(start))
	}
	// The workspace is hardened: no new privileges, only the allow-listed capabilities.
	res = exec(t, b, id, "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status")
	wantContains(t, res.Stdout, "NoNewPrivs:\t1", "no-new-privileges")
	wantContains(t, res.Stdout, "CapEff:\t00000000000005fb", "capabilities") // the 9 allowed
	res = exec(t, b, id, "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max")
	if strings.TrimSpace(res.Stdout) != fmt.Sprint(DefaultPidsLimit) {
		t.Fatalf("pids.max in the workspace: %+v", res)
	}
	_, err = b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"true"}, Container: "db"})
	wantNotFound(t, err, "exec in a missing container")
	wantContains(t, err.Error(), "nalabo-session-"+id+"-db", "missing container message")
}

func TestHealthyAndFailingSessions(t *testing.T) {
	b := newTestBackend(t)
	healthy := applyTemplate(t, b, &workshop.Template{Name: "dtest-healthy", Workspace: workshop.Workspace{Image: imageHealthy}})
	spec := newSpec(healthy, "grace")
	start := time.Now()
	s := createSession(t, b, spec)
	t.Logf("healthy create: %s", time.Since(start))
	ins, err := b.cli.ContainerInspect(testCtx(t, 10*time.Second), s.WorkspaceName)
	if err != nil || ins.State.Health == nil || ins.State.Health.Status != container.Healthy || s.Status != workshop.StatusRunning {
		t.Fatalf("not healthy at return: %+v %v", ins.State, err)
	}

	failing := applyTemplate(t, b, &workshop.Template{Name: "dtest-failing", Workspace: workshop.Workspace{
		Image: imageShell1, Command: []string{"sh", "-c", "echo boom; exit 3"},
	}})
	spec = newSpec(failing, "linus")
	_, err = b.CreateSession(testCtx(t, time.Minute), spec)
	if err == nil {
		t.Fatal("a workspace that exits at once was reported ready")
	}
	// Under load the wait may only see the container running again after its restart,
	// when the failed run's exit code is no longer in its state.
	if !strings.Contains(err.Error(), "was restarted") {
		wantContains(t, err.Error(), "code 3", "exit code")
	}
	wantContains(t, err.Error(), "boom", "logs")
	if left := leftovers(t, b, spec.ID); len(left) > 0 {
		t.Fatalf("failed create left %v", left)
	}

	// A create whose context ends while it waits for health removes what it created.
	spec = newSpec(healthy, "margaret")
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err = b.CreateSession(ctx, spec)
	if err == nil {
		t.Fatal("create finished within 400ms though the healthcheck takes a second")
	}
	wantContains(t, err.Error(), "deadline", "timeout error")
	if left := leftovers(t, b, spec.ID); len(left) > 0 {
		t.Fatalf("timed out create left %v", left)
	}
	_, err = b.GetSession(testCtx(t, 10*time.Second), spec.ID)
	wantNotFound(t, err, "GetSession of a never-created session")
}

func TestSessionIsolation(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, time.Minute)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-isolation", Workspace: workshop.Workspace{
		Image:   imageShell1,
		Command: []string{"sh", "-c", "echo isolated > /workspace/index.html; httpd -p 8080 -h /workspace; exec sleep infinity"},
	}})
	a, bb := newSpec(tpl, "alice"), newSpec(tpl, "bob")
	createSession(t, b, a)
	createSession(t, b, bb)
	ins, err := b.cli.ContainerInspect(ctx, workshop.SessionObjectName(bb.ID))
	if err != nil {
		t.Fatal(err)
	}
	ipB := ins.NetworkSettings.Networks[testNetworkPrefix+"-"+bb.ID].IPAddress
	if ipB == "" {
		t.Fatal("no IP for session b")
	}
	// Control: the listener answers inside b, by IP and by the workspace alias.
	// (busybox-static's wget cannot resolve names and crashes with -T: the alias is
	// checked with nslookup, the time limit is timeout's.)
	wget := "timeout 3 wget -q -O - http://%s:8080/index.html"
	if res := exec(t, b, bb.ID, fmt.Sprintf(wget, ipB)); res.ExitCode != 0 || res.Stdout != "isolated\n" {
		t.Fatalf("listener in b: %+v", res)
	}
	if res := exec(t, b, bb.ID, "nslookup "+WorkspaceAlias); !strings.Contains(res.Stdout, ipB) {
		t.Fatalf("alias %s does not resolve to %s in b: %+v", WorkspaceAlias, ipB, res)
	}
	// Session a cannot reach it.
	if res := exec(t, b, a.ID, fmt.Sprintf(wget, ipB)); res.ExitCode == 0 || strings.Contains(res.Stdout, "isolated") {
		t.Fatalf("session a reached session b at %s: %+v", ipB, res)
	}
	// Nor exec into it by name.
	_, err = b.Exec(ctx, a.ID, &workshop.ExecRequest{Command: []string{"true"}, Container: workshop.SessionObjectName(bb.ID)})
	if err == nil || !strings.Contains(err.Error(), "does not belong to session") {
		t.Fatalf("exec into another session's container: %v", err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	b := newTestBackend(t)
	const n = 40
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-class", Workspace: workshop.Workspace{Image: imageShell1}})
	specs := make([]*workshop.SessionSpec, n)
	for i := range specs {
		specs[i] = newSpec(tpl, fmt.Sprintf("student-%02d", i))
		specs[i].Resources = workshop.Resources{CPU: "100m", Memory: "64Mi", Storage: "1Gi"}
	}
	t.Cleanup(func() {
		for _, s := range specs {
			if left := leftovers(t, b, s.ID); len(left) > 0 {
				t.Errorf("session %s left %v", s.ID, left)
				_ = b.DeleteSession(context.Background(), s.ID)
			}
		}
	})
	ctx := testCtx(t, 15*time.Minute) // generous: a loaded 2-core machine is slow, not wrong
	start := time.Now()
	errs := runAll(n, func(i int) error {
		_, err := b.CreateSession(ctx, specs[i])
		return err
	})
	t.Logf("%d sessions created concurrently in %s", n, time.Since(start))
	for i, err := range errs {
		if err != nil {
			t.Errorf("session %d: %v", i, err)
		}
	}
	list, err := b.ListSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, s := range list {
		if s.TemplateID == tpl.ID && s.Status == workshop.StatusRunning {
			found++
		}
	}
	if found != n {
		t.Errorf("ListSessions found %d running sessions of the class, want %d", found, n)
	}
	info, err := b.Ping(ctx)
	if err != nil || info.Sessions < n || info.UsedMilliCPU < n*100 || info.UsedMemory < n*64<<20 || info.AllocatableMilliCPU <= 0 {
		t.Errorf("ping: %+v %v", info, err)
	}
	start = time.Now()
	errs = runAll(n, func(i int) error { return b.DeleteSession(ctx, specs[i].ID) })
	t.Logf("%d sessions deleted concurrently in %s", n, time.Since(start))
	for i, err := range errs {
		if err != nil {
			t.Errorf("delete %d: %v", i, err)
		}
	}
}

// runAll runs f(0..n-1) concurrently (an errgroup limited to n, as Terraform's
// -parallelism would) and returns every error.
func runAll(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var g errgroup.Group
	g.SetLimit(n)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			errs[i] = f(i)
			return nil
		})
	}
	_ = g.Wait()
	return errs
}

func checkSessionLabels(t *testing.T, l map[string]string, spec *workshop.SessionSpec, role string) {
	t.Helper()
	want := map[string]string{
		workshop.LabelManagedBy:   workshop.ManagedByValue,
		workshop.LabelSession:     spec.ID,
		workshop.LabelParticipant: spec.Participant,
		workshop.LabelTemplate:    spec.Template.Name,
		workshop.LabelExpiresAt:   fmt.Sprint(spec.ExpiresAt.Unix()),
		workshop.LabelRole:        role,
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("label %s = %q, want %q (role %s)", k, l[k], v, role)
		}
	}
}

// leasesOf lists a session's leases as name@revision.
func leasesOf(t *testing.T, b *Backend, id string) []string {
	t.Helper()
	vols, err := b.sessionVolumes(testCtx(t, 10*time.Second), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vols {
		if isLease(v) {
			out = append(out, v.Name+"@"+v.Labels[LabelLeaseRevision])
		}
	}
	slices.Sort(out)
	return out
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// capSet normalises capability names (the daemon reports them as CAP_X, sorted).
func capSet(caps []string) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		out = append(out, strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
	}
	slices.Sort(out)
	return out
}

package docker

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Fast tests: no daemon needed.

func TestNthSubnet(t *testing.T) {
	pool := netip.MustParsePrefix("10.213.0.0/16")
	cases := map[uint64]string{0: "10.213.0.0/28", 1: "10.213.0.16/28", 16: "10.213.1.0/28", 4095: "10.213.255.240/28"}
	for i, want := range cases {
		if got := nthSubnet(pool, 28, i).String(); got != want {
			t.Errorf("nthSubnet(%d) = %s, want %s", i, got, want)
		}
		if got := subnetIndex(pool, 28, netip.MustParsePrefix(want).Addr()); got != i {
			t.Errorf("subnetIndex(%s) = %d, want %d", want, got, i)
		}
	}
	if g := gatewayOf(netip.MustParsePrefix("10.213.0.16/28")).String(); g != "10.213.0.17" {
		t.Errorf("gateway = %s", g)
	}
}

func TestAllocatorReserveSkipsUsedAndTaken(t *testing.T) {
	a := newSubnetAllocator(netip.MustParsePrefix("10.213.0.0/24"), 28) // 16 subnets
	if a.size() != 16 {
		t.Fatalf("size = %d", a.size())
	}
	a.markUsed([]netip.Prefix{
		netip.MustParsePrefix("10.213.0.0/28"),  // exactly subnet 0
		netip.MustParsePrefix("10.213.0.20/30"), // inside subnet 1
		netip.MustParsePrefix("10.213.0.64/27"), // subnets 4 and 5
		netip.MustParsePrefix("172.17.0.0/16"),  // outside the pool
	})
	seen := map[netip.Prefix]bool{}
	var got []string
	for i := 0; i < 12; i++ {
		s, err := a.reserve(string(rune('a' + i)))
		if err != nil {
			t.Fatalf("reserve %d: %v", i, err)
		}
		if seen[s] {
			t.Fatalf("subnet %s handed out twice", s)
		}
		seen[s] = true
		got = append(got, s.String())
	}
	for _, bad := range []string{"10.213.0.0/28", "10.213.0.16/28", "10.213.0.64/28", "10.213.0.80/28"} {
		if seen[netip.MustParsePrefix(bad)] {
			t.Errorf("used subnet %s was reserved: %v", bad, got)
		}
	}
	if _, err := a.reserve("overflow"); err == nil || !strings.Contains(err.Error(), "no free /28") {
		t.Fatalf("exhausted pool: err = %v", err)
	}
	a.release("c")
	if _, err := a.reserve("again"); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestAllocatorConflictAndForget(t *testing.T) {
	a := newSubnetAllocator(netip.MustParsePrefix("10.0.0.0/28"), 29) // 2 subnets
	s1, _ := a.reserve("x")
	a.conflict("x", s1) // another process has it
	s2, err := a.reserve("x")
	if err != nil || s2 == s1 {
		t.Fatalf("after conflict got %s, %v", s2, err)
	}
	if _, err := a.reserve("y"); err == nil {
		t.Fatal("pool of 2 with one used and one reserved gave a third subnet")
	}
	a.forget(s1)
	if s, err := a.reserve("y"); err != nil || s != s1 {
		t.Fatalf("forgotten subnet not reused: %s %v", s, err)
	}
}

func TestAllocatorWholePoolCovered(t *testing.T) {
	a := newSubnetAllocator(netip.MustParsePrefix("10.213.0.0/16"), 28)
	a.markUsed([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	if _, err := a.reserve("x"); err == nil {
		t.Fatal("a /8 network covering the pool left a subnet free")
	}
}

func TestAllocator200Sessions(t *testing.T) {
	a := newSubnetAllocator(netip.MustParsePrefix(DefaultSubnetPool), DefaultSubnetPrefixLength)
	seen := map[netip.Prefix]bool{}
	for i := 0; i < 200; i++ {
		s, err := a.reserve(workshop.NewSessionID())
		if err != nil || seen[s] {
			t.Fatalf("session %d: %s %v", i, s, err)
		}
		seen[s] = true
	}
}

func TestIsOverlapError(t *testing.T) {
	for _, msg := range []string{
		"Error response from daemon: Pool overlaps with other one on this address space",
		"invalid pool request: Pool overlaps with other one on this address space",
		"networks have overlapping IPv4: 10.213.0.0/28 overlaps with 10.213.0.0/24",
	} {
		if !isOverlapError(errors.New(msg)) {
			t.Errorf("not recognised: %s", msg)
		}
	}
	if isOverlapError(errors.New("network with name x already exists")) || isOverlapError(nil) {
		t.Error("false positive")
	}
}

func TestConfigValidate(t *testing.T) {
	s, err := validate(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Host != DefaultHost || s.NetworkPrefix != DefaultNetworkPrefix || s.BindAddress != DefaultBindAddress ||
		s.pool.String() != DefaultSubnetPool || s.SubnetPrefixLength != 28 || s.PidsLimit != DefaultPidsLimit {
		t.Fatalf("defaults: %+v", s)
	}
	bad := map[string]Config{
		"not an IPv4 CIDR":      {SubnetPool: "fd00::/64"},
		"did you mean":          {SubnetPool: "10.213.5.0/16"},
		"must be longer":        {SubnetPool: "10.0.0.0/24", SubnetPrefixLength: 24},
		"at most 29":            {SubnetPrefixLength: 30},
		"not an IP address":     {BindAddress: "localhost"},
		"network":               {NetworkPrefix: "-bad"},
		"host":                  {Host: "ftp://x"},
		"not both":              {CertPath: "/x", CAMaterial: "y"},
		"needs its key":         {CertMaterial: "x"},
		"username and a passw":  {RegistryAuth: RegistryAuths{{Username: "u"}}},
		"same registry":         {RegistryAuth: RegistryAuths{{Address: "r.example", Username: "u", Password: "p"}, {Address: "https://R.example/v2/", Username: "v", Password: "q"}}},
		"pids limit":            {PidsLimit: -1},
		"holds no PEM":          {CAMaterial: "not pem"},
		"not a matching PEM pa": {CertMaterial: "a", KeyMaterial: "b"},
	}
	for want, c := range bad {
		_, err := New(c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: err = %v, want it to mention %q", c, err, want)
		}
	}
	_, err = New(Config{RegistryAuth: RegistryAuths{{Username: "u", Password: "s3cr3t-pw"}, {Address: "docker.io", Username: "u", Password: "s3cr3t-pw"}}, PidsLimit: -1})
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("error leaks the password or is missing: %v", err)
	}
}

func TestRegistryAuthFor(t *testing.T) {
	logins := RegistryAuths{
		{Address: "registry.example.com", Username: "team", Password: "p1"},
		{Address: "127.0.0.1:5443", Username: "local", Password: "p2"},
	}
	user := func(as RegistryAuths, ref string) string {
		enc, a, err := RegistryAuthFor(as, ref)
		if err != nil || (enc == "") != (a == nil) {
			t.Fatalf("%s: %q %+v %v", ref, enc, a, err)
		}
		if a == nil {
			return ""
		}
		return a.Username
	}
	for ref, want := range map[string]string{
		"registry.example.com/team/img:1":                      "team",
		"REGISTRY.example.com/x":                               "team",
		"127.0.0.1:5443/img@sha256:" + strings.Repeat("a", 64): "local",
		"127.0.0.1:5444/img":                                   "",
		"busybox:1":                                            "", // no login for Docker Hub
	} {
		if got := user(logins, ref); got != want {
			t.Errorf("%s: login %q, want %q", ref, got, want)
		}
	}
	// Docker Hub's aliases are one registry; a login without address is the default
	// and applies to every registry without a login of its own.
	withHub := append(logins, RegistryAuth{Address: "https://index.docker.io/v1/", Username: "hub", Password: "p"})
	for _, ref := range []string{"library/busybox", "docker.io/busybox", "registry-1.docker.io/library/busybox:1"} {
		if got := user(withHub, ref); got != "hub" {
			t.Errorf("%s: login %q, want hub", ref, got)
		}
	}
	withDefault := append(logins, RegistryAuth{Username: "any", Password: "p"})
	if got := user(withDefault, "ghcr.io/x/y"); got != "any" {
		t.Errorf("login without address: %q", got)
	}
	if got := user(withDefault, "registry.example.com/x"); got != "team" {
		t.Errorf("the registry's own login wins over the default: %q", got)
	}
}

func TestPullErrorNamesTheRegistry(t *testing.T) {
	refused := errors.New("Head \"https://127.0.0.1:5443/v2/img/manifests/1\": unauthorized: bad credentials")
	a := &RegistryAuth{Address: "127.0.0.1:5443", Username: "ada", Password: "s3cr3t-pw"}
	err := PullError("docker", "127.0.0.1:5443/img:1", a, refused)
	if !strings.Contains(err.Error(), `registry 127.0.0.1:5443 refused the login of docker.registry_auth "127.0.0.1:5443" (user "ada")`) ||
		strings.Contains(err.Error(), "s3cr3t-pw") || !errors.Is(err, refused) {
		t.Errorf("wrong login: %v", err)
	}
	if err := PullError("docker", "127.0.0.1:5443/img:1", nil, refused); !strings.Contains(err.Error(), "registry 127.0.0.1:5443 requires a login and no docker.registry_auth block names it") {
		t.Errorf("no login: %v", err)
	}
	other := errors.New("manifest unknown")
	if err := PullError("docker", "x", a, other); err != other {
		t.Errorf("other errors pass through: %v", err)
	}
}

func TestSessionStatus(t *testing.T) {
	now := time.Now()
	future, past := now.Add(time.Hour), now.Add(-time.Minute)
	running := &container.State{Running: true, Status: container.StateRunning}
	health := func(s container.HealthStatus) *container.State {
		return &container.State{Running: true, Status: container.StateRunning, Health: &container.Health{Status: s}}
	}
	cases := []struct {
		expires  time.Time
		degraded bool
		st       *container.State
		want     string
	}{
		{future, false, running, workshop.StatusRunning},
		{past, false, running, workshop.StatusExpired},
		{past, true, nil, workshop.StatusExpired},
		{future, true, running, workshop.StatusDegraded},
		{future, false, health(container.Healthy), workshop.StatusRunning},
		{future, false, health(container.Unhealthy), workshop.StatusUnhealthy},
		{future, false, health(container.Starting), workshop.StatusPending},
		{future, false, &container.State{Status: container.StateCreated}, workshop.StatusPending},
		{future, false, &container.State{Status: container.StateExited}, workshop.StatusStopped},
		{future, false, &container.State{Running: true, Paused: true}, workshop.StatusStopped},
	}
	for i, c := range cases {
		if got := sessionStatus(now, c.expires, c.degraded, c.st); got != c.want {
			t.Errorf("case %d: %s, want %s", i, got, c.want)
		}
	}
	if s := summaryStatus(now, future, container.StateRunning, "Up 3 seconds (unhealthy)"); s != workshop.StatusUnhealthy {
		t.Errorf("summary unhealthy: %s", s)
	}
	if s := summaryStatus(now, future, container.StateRunning, "Up 3 seconds (health: starting)"); s != workshop.StatusPending {
		t.Errorf("summary starting: %s", s)
	}
	if s := summaryStatus(now, past, container.StateRunning, "Up 3 seconds"); s != workshop.StatusExpired {
		t.Errorf("summary expired: %s", s)
	}
}

func TestReadJSONStream(t *testing.T) {
	in := `{"stream":"Step 1/2 : FROM x\n"}{"stream":" ---> abc\n"}{"errorDetail":{"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"ignored"}`
	tail, err := readJSONStream(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "returned a non-zero code: 1") {
		t.Fatalf("err = %v", err)
	}
	if len(tail) != 2 || tail[0] != "Step 1/2 : FROM x" {
		t.Fatalf("tail = %q", tail)
	}
	if _, err := readJSONStream(strings.NewReader(`{"status":"ok"}`)); err != nil {
		t.Fatal(err)
	}
}

func TestEnvListAndBuildDigest(t *testing.T) {
	if got := strings.Join(envList(map[string]string{"B": "2", "A": "1=x"}), " "); got != "A=1=x B=2" {
		t.Errorf("envList = %q", got)
	}
	d1 := buildDigest("ctx", "Dockerfile", map[string]string{"A": "1"})
	if d1 == buildDigest("ctx", "Dockerfile", map[string]string{"A": "2"}) || d1 == buildDigest("ctx", "Other", map[string]string{"A": "1"}) {
		t.Error("build digest ignores args or the Dockerfile")
	}
}

func TestLeaseOrdering(t *testing.T) {
	if leaseName("abc", time.Unix(1700000000, 0)) != "nalabo-lease-abc-1700000000" {
		t.Fatal(leaseName("abc", time.Unix(1700000000, 0)))
	}
}

func TestStorageSupport(t *testing.T) {
	cases := map[[2]string]int32{
		{"overlay2", "extfs"}: storageSizeUnsupported,
		{"overlay2", "xfs"}:   storageSizeTry,
		{"btrfs", "btrfs"}:    storageSizeSupported,
		{"zfs", "zfs"}:        storageSizeSupported,
		{"devicemapper", ""}:  storageSizeSupported,
		{"vfs", "extfs"}:      storageSizeUnsupported,
	}
	for in, want := range cases {
		if got := storageSizeFor(in[0], in[1]); got != want {
			t.Errorf("%v: %d, want %d", in, got, want)
		}
	}
	// Docker 20.10's refusal on overlay2 without pquota.
	if !isStorageOptRefused(errors.New("Error response from daemon: --storage-opt is supported only for overlay over xfs with 'pquota' mount option")) {
		t.Error("refusal not recognised")
	}
	if isStorageOptRefused(errors.New("No such image: x")) {
		t.Error("false positive")
	}
}

func TestPlanWorkspace(t *testing.T) {
	b, err := New(Config{BindAddress: "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	tpl := &workshop.Template{ID: "docker.x.0123456789ab", Name: "x", Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Image: "img:1", Ports: []int{80, 8080}, Env: map[string]string{"B": "2", "A": "1"}}}
	spec := &workshop.SessionSpec{ID: "abcdef0123", Template: tpl, Participant: "p",
		Resources: workshop.Resources{CPU: "1500m", Memory: "1Gi", Storage: "2Gi"}, ExpiresAt: time.Unix(1800000000, 0)}
	res, _ := effectiveResources(spec).Parse()
	p, err := b.planWorkspace(spec, res, true, true)
	if err != nil {
		t.Fatal(err)
	}
	h := p.host
	if p.name != "nalabo-session-abcdef0123" || p.config.Hostname != "nalabo-abcdef0123" || p.config.WorkingDir != "/workspace" ||
		strings.Join(p.config.Env, ",") != "A=1,B=2" || p.config.Labels[LabelStorage] != "2Gi" || p.config.Labels[workshop.LabelRole] != "workspace" {
		t.Fatalf("config: %+v", p.config)
	}
	if h.NanoCPUs != 1_500_000_000 || h.Memory != 1<<30 || h.MemorySwap != 1<<30 || *h.PidsLimit != DefaultPidsLimit ||
		h.StorageOpt["size"] != "2147483648" || h.Init == nil || !*h.Init || h.Privileged || h.CapDrop[0] != "ALL" {
		t.Fatalf("host config: %+v", h)
	}
	if bnd := h.PortBindings["8080/tcp"]; len(bnd) != 1 || bnd[0].HostIP != "127.0.0.2" || bnd[0].HostPort != "" {
		t.Fatalf("bindings: %v", h.PortBindings)
	}
	if h.Mounts[0].Source != "nalabo-session-abcdef0123-workspace" || h.Mounts[0].Target != "/workspace" {
		t.Fatalf("mounts: %+v", h.Mounts)
	}
	if _, ok := p.networking.EndpointsConfig["nalabo-network-abcdef0123"]; !ok {
		t.Fatalf("networking: %+v", p.networking)
	}
	tpl.DockerInDocker = true
	p, _ = b.planWorkspace(spec, res, false, false)
	if !p.host.Privileged || len(p.host.CapDrop) != 0 || p.host.StorageOpt != nil || p.host.Init != nil {
		t.Fatalf("docker-in-docker: %+v", p.host)
	}
	tpl.Workspace.WorkingDir = "relative"
	if _, err := b.planWorkspace(spec, res, false, false); err == nil {
		t.Fatal("relative working dir accepted")
	}
}

// A stopped session's services are on no network: the read looks them up by the names
// the workspace lists, so that they do not read as missing (degraded).
func TestWithListedServices(t *testing.T) {
	id := "0123456789"
	onNet := []string{serviceContainerName(id, "db")}
	ws := &container.InspectResponse{Config: &container.Config{Labels: map[string]string{LabelServices: "db,cache"}}}
	got := strings.Join(withListedServices(id, ws, onNet), ",")
	if want := serviceContainerName(id, "db") + "," + serviceContainerName(id, "cache"); got != want {
		t.Errorf("withListedServices = %s, want %s", got, want)
	}
	if got := withListedServices(id, nil, onNet); len(got) != 1 {
		t.Errorf("without a workspace: %v, want the network's only", got)
	}
}

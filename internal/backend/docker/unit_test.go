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
	s, err := Config{}.validate()
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
		"username and a passw":  {RegistryAuth: &RegistryAuth{Username: "u"}},
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
	_, err = New(Config{RegistryAuth: &RegistryAuth{Username: "u", Password: "s3cr3t-pw"}, PidsLimit: -1})
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("error leaks the password or is missing: %v", err)
	}
}

func TestRegistryAuthFor(t *testing.T) {
	a := &RegistryAuth{Address: "registry.example.com", Username: "u", Password: "p"}
	if enc, _ := registryAuthFor(a, "registry.example.com/team/img:1"); enc == "" {
		t.Error("no auth for the configured registry")
	}
	if enc, _ := registryAuthFor(a, "busybox:1"); enc != "" {
		t.Error("auth sent to Docker Hub for another registry's login")
	}
	hub := &RegistryAuth{Address: "https://index.docker.io/v1/", Username: "u", Password: "p"}
	if enc, _ := registryAuthFor(hub, "library/busybox"); enc == "" {
		t.Error("no auth for Docker Hub")
	}
	if enc, _ := registryAuthFor(&RegistryAuth{Username: "u", Password: "p"}, "anything/x"); enc == "" {
		t.Error("a login without address applies to every registry")
	}
}

func TestDockerignore(t *testing.T) {
	rules, err := parseDockerignore(strings.NewReader("# comment\n\n*.log\n/build\nsecret/\n!keep.log\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		"a.log": true, "keep.log": false, "build": true, "build/x/y": true,
		"secret/key": true, "src/a.log": false, "main.go": false,
	}
	for p, want := range cases {
		if got := ignored(rules, p); got != want {
			t.Errorf("ignored(%q) = %v, want %v", p, got, want)
		}
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

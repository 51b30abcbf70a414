package acctest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// The test swarm of scripts/swarm-up.sh: its manager's engine address is in
// NALABO_SWARM_HOST; with SWARM_NODES=2 the worker's is in NALABO_SWARM_NODE2_HOST.
// With NALABO_SWARM_TESTS=1 a missing manager fails the tests instead of skipping them.

// SwarmNode2Hostname is the worker node's hostname: its key in a swarm block's
// node_hosts (and in NALABO_SWARM_NODE_HOSTS).
const SwarmNode2Hostname = "nalabo-swarm-2"

// SwarmHost returns the test swarm's manager address, skipping the test without one
// (failing it with NALABO_SWARM_TESTS=1).
func SwarmHost(t testing.TB) string {
	t.Helper()
	h := os.Getenv("NALABO_SWARM_HOST")
	if h == "" {
		if os.Getenv("NALABO_SWARM_TESTS") == "1" {
			t.Fatal("NALABO_SWARM_TESTS=1 but NALABO_SWARM_HOST is not set: start the test swarm with scripts/swarm-up.sh and export the address it prints")
		}
		t.Skip("Swarm test: set NALABO_SWARM_HOST (scripts/swarm-up.sh prints it)")
	}
	return h
}

// SwarmNode2Host is the worker's engine address, "" on a one-node swarm.
func SwarmNode2Host() string { return os.Getenv("NALABO_SWARM_NODE2_HOST") }

// SwarmNodeHosts is the node_hosts of the test swarm: the worker's engine by its
// hostname, nil on a one-node swarm.
func SwarmNodeHosts() map[string]string {
	if h := SwarmNode2Host(); h != "" {
		return map[string]string{SwarmNode2Hostname: h}
	}
	return nil
}

var (
	swarmCliOnce sync.Once
	swarmCli     *client.Client
	swarmCliErr  error
)

// SwarmManager is a client of the test swarm's manager (SwarmHost), to look at what a
// test made; it fails the test when the engine does not answer, is not a manager or
// lacks the test image.
func SwarmManager(t testing.TB) *client.Client {
	t.Helper()
	host := SwarmHost(t)
	swarmCliOnce.Do(func() {
		swarmCli, swarmCliErr = client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	})
	if swarmCliErr != nil {
		t.Fatalf("swarm client: %v", swarmCliErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := swarmCli.Info(ctx)
	if err != nil {
		t.Fatalf("the test swarm at %s does not answer (%v): run scripts/swarm-up.sh", host, err)
	}
	if !info.Swarm.ControlAvailable {
		t.Fatalf("the engine at %s is not a swarm manager: run scripts/swarm-up.sh", host)
	}
	if _, err := swarmCli.ImageInspect(ctx, ShellImage1); err != nil {
		t.Fatalf("test image %s missing on the test swarm (%v): scripts/swarm-up.sh loads it", ShellImage1, err)
	}
	return swarmCli
}

// SwarmNodeClient is a client of one node's engine, closed when the test ends.
func SwarmNodeClient(t testing.TB, host string) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// SwarmNode2 is the worker's engine address and a client of it; without a worker
// (a one-node swarm) the test skips.
func SwarmNode2(t testing.TB) (string, *client.Client) {
	t.Helper()
	node2 := SwarmNode2Host()
	if node2 == "" {
		t.Skip("two-node Swarm test: start the swarm with SWARM_NODES=2 scripts/swarm-up.sh and set NALABO_SWARM_NODE2_HOST")
	}
	return node2, SwarmNodeClient(t, node2)
}

// SwarmCount counts the services, containers, networks, volumes and configs carrying a
// label ("key=value") on a swarm engine (a worker has no services or configs to list).
func SwarmCount(ctx context.Context, c *client.Client, label string) (int, error) {
	f := filters.NewArgs(filters.Arg("label", label))
	n := 0
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	manager := info.Swarm.ControlAvailable
	var ss []swarm.Service
	if manager {
		if ss, err = c.ServiceList(ctx, swarm.ServiceListOptions{Filters: f}); err != nil {
			return 0, err
		}
	}
	n += len(ss)
	cs, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	n += len(cs)
	ns, err := c.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	n += len(ns)
	vs, err := c.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	n += len(vs.Volumes)
	if !manager {
		return n, nil
	}
	cfgs, err := c.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	return n + len(cfgs), nil
}

// Workload says what a session's workspace is on an engine.
type Workload int

const (
	// Containers: a Docker engine's workspace containers (running or not).
	Containers Workload = iota
	// Services: a Swarm manager's workspace services.
	Services
)

// Workspaces lists a template's session workspaces on an engine (the provider's
// managed-by, template and workspace role labels): by maps each participant to the
// IDs of its sessions; labels holds each session's workspace labels (for example to
// tell a finished create from one cut short).
func Workspaces(t testing.TB, c *client.Client, templateName string, kind Workload) (by map[string][]string, labels map[string]map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := labelArgs(workshop.LabelTemplate+"="+templateName, workshop.LabelRole+"="+workshop.RoleWorkspace)
	var all []map[string]string
	switch kind {
	case Services:
		list, err := c.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			all = append(all, s.Spec.Labels)
		}
	default:
		list, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range list {
			all = append(all, x.Labels)
		}
	}
	by, labels = map[string][]string{}, map[string]map[string]string{}
	for _, l := range all {
		id := l[workshop.LabelSession]
		by[l[workshop.LabelParticipant]] = append(by[l[workshop.LabelParticipant]], id)
		labels[id] = l
	}
	return by, labels
}

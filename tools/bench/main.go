// Command bench does, straight through the Docker Engine API, the Docker work the
// Nalabo provider does for a class: per participant a bridge network with an explicit
// subnet carved from a pool, and a limited, unprivileged workspace container on it,
// all participants at once; then it removes everything. It times "up" (create until
// every container runs) and "down" (until every container and network is gone) and
// prints one line that scripts/bench.sh parses:
//
//	direct n=30 volumes=0 up=5.123 down=6.789
//
// Every object carries nalabo.io/managed-by=nalabo-bench and a per-run label; the
// program removes what it created also when it fails or is interrupted, and removes
// leftovers of earlier interrupted runs before it starts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

const (
	labelManagedBy = "nalabo.io/managed-by"
	managedBy      = "nalabo-bench"
	labelRun       = "nalabo.io/bench-run"
)

type options struct {
	n           int
	image       string
	pool        netip.Prefix
	prefixLen   int
	nanoCPUs    int64
	memory      int64
	pidsLimit   int64
	volumes     bool
	timeout     time.Duration
	namePrefix  string
	concurrency int
}

func main() {
	var (
		o    options
		pool string
	)
	flag.IntVar(&o.n, "n", 30, "participants (network + container each), all at once")
	flag.StringVar(&o.image, "image", "nalabo-test/shell:1", "workspace image (must be present locally)")
	flag.StringVar(&pool, "pool", "10.214.0.0/16", "IPv4 pool the per-participant subnets are carved from")
	flag.IntVar(&o.prefixLen, "prefix-length", 28, "prefix length of each participant's subnet")
	flag.Int64Var(&o.nanoCPUs, "nano-cpus", 100_000_000, "CPU limit in units of 1e-9 CPUs (100m = 100000000)")
	flag.Int64Var(&o.memory, "memory", 32<<20, "memory limit in bytes, swap included (32Mi = 33554432)")
	flag.Int64Var(&o.pidsLimit, "pids-limit", 512, "pids limit per container")
	flag.BoolVar(&o.volumes, "volumes", false, "also create and remove a labelled workspace volume per participant, mounted at /workspace, as the provider does")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up (and clean up) after this long")
	flag.StringVar(&o.namePrefix, "name-prefix", "nalabo-bench", "name prefix of the objects created")
	flag.IntVar(&o.concurrency, "concurrency", 0, "participants handled at once (0: all of them, like terraform -parallelism=N)")
	flag.Parse()

	p, err := netip.ParsePrefix(pool)
	if err != nil || !p.Addr().Is4() || o.prefixLen < p.Bits() || o.prefixLen > 30 {
		fatalf("bad -pool %q / -prefix-length %d", pool, o.prefixLen)
	}
	o.pool = p.Masked()
	if capacity := 1 << (o.prefixLen - o.pool.Bits()); o.n < 1 || o.n > capacity {
		fatalf("-n %d: must be between 1 and %d (subnets of /%d in %s)", o.n, capacity, o.prefixLen, o.pool)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func run(ctx context.Context, o options) (err error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine unreachable: %w", err)
	}
	if _, err := cli.ImageInspect(ctx, o.image); err != nil {
		return fmt.Errorf("image %s is not present locally (scripts/build-test-images.sh builds it): %w", o.image, err)
	}

	// Leftovers of an earlier interrupted run would hold names and subnets.
	if n, err := cleanup(cli, filters.Arg("label", labelManagedBy+"="+managedBy)); err != nil {
		return fmt.Errorf("removing leftovers of earlier runs: %w", err)
	} else if n > 0 {
		fmt.Fprintf(os.Stderr, "bench: removed %d objects left by an earlier run\n", n)
	}

	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	runFilter := filters.Arg("label", labelRun+"="+runID)
	// Whatever happens below, nothing this run created survives it.
	defer func() {
		n, cerr := cleanup(cli, runFilter)
		if err == nil && n > 0 {
			err = fmt.Errorf("%d objects were still present after down", n)
		}
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()

	// Like the provider's pool: subnets that existing networks occupy are skipped
	// (at 200 participants the pool must not collide with anything present).
	subnets, err := freeSubnets(ctx, cli, o)
	if err != nil {
		return err
	}
	parts := make([]participant, o.n)
	for i := range parts {
		parts[i] = newParticipant(o, runID, i, subnets[i])
	}

	start := time.Now()
	if err := forAll(ctx, parts, o.concurrency, func(ctx context.Context, p *participant) error { return p.up(ctx, cli, o) }); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	up := time.Since(start)

	start = time.Now()
	if err := forAll(ctx, parts, o.concurrency, func(ctx context.Context, p *participant) error { return p.down(ctx, cli) }); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	down := time.Since(start)

	vols := 0
	if o.volumes {
		vols = 1
	}
	fmt.Printf("direct n=%d volumes=%d up=%.3f down=%.3f\n", o.n, vols, up.Seconds(), down.Seconds())
	return nil
}

type participant struct {
	name    string
	subnet  netip.Prefix
	labels  map[string]string
	volumes []string
}

func newParticipant(o options, runID string, i int, subnet netip.Prefix) participant {
	id := fmt.Sprintf("%s-%s-%02d", o.namePrefix, runID, i)
	p := participant{
		name:   id,
		subnet: subnet,
		labels: map[string]string{
			labelManagedBy:          managedBy,
			labelRun:                runID,
			"nalabo.io/session":     fmt.Sprintf("bench%05d", i),
			"nalabo.io/participant": fmt.Sprintf("student-%02d", i),
			"nalabo.io/template":    "bench",
			"nalabo.io/expires-at":  strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10),
		},
	}
	if o.volumes {
		p.volumes = []string{id + "-workspace"}
	}
	return p
}

func (p *participant) up(ctx context.Context, cli *client.Client, o options) error {
	if _, err := cli.NetworkCreate(ctx, p.name, network.CreateOptions{
		Driver: "bridge",
		IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
			Subnet: p.subnet.String(), Gateway: p.subnet.Addr().Next().String(),
		}}},
		Labels: p.labels,
	}); err != nil {
		return fmt.Errorf("network %s (%s): %w", p.name, p.subnet, err)
	}
	for _, v := range p.volumes {
		if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: v, Labels: p.labels}); err != nil {
			return fmt.Errorf("volume %s: %w", v, err)
		}
	}
	pids := o.pidsLimit
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(p.name),
		CapDrop:     []string{"ALL"},
		CapAdd: []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
			"SETPCAP", "NET_BIND_SERVICE"},
		SecurityOpt: []string{"no-new-privileges"},
		Resources: container.Resources{
			NanoCPUs:   o.nanoCPUs,
			Memory:     o.memory,
			MemorySwap: o.memory,
			PidsLimit:  &pids,
		},
	}
	if len(p.volumes) > 0 {
		hc.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: p.volumes[0], Target: "/workspace"}}
	}
	created, err := cli.ContainerCreate(ctx, &container.Config{
		Image:    o.image,
		Hostname: "workspace",
		Labels:   p.labels,
	}, hc, nil, nil, p.name)
	if err != nil {
		return fmt.Errorf("container %s: %w", p.name, err)
	}
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	for {
		c, err := cli.ContainerInspect(ctx, created.ID)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", p.name, err)
		}
		if c.State != nil && c.State.Running {
			return nil
		}
		if c.State != nil && (c.State.Status == "exited" || c.State.Status == "dead") {
			return fmt.Errorf("container %s stopped: exit code %d %s", p.name, c.State.ExitCode, c.State.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *participant) down(ctx context.Context, cli *client.Client) error {
	if err := cli.ContainerRemove(ctx, p.name, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", p.name, err)
	}
	if err := cli.NetworkRemove(ctx, p.name); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", p.name, err)
	}
	for _, v := range p.volumes {
		if err := cli.VolumeRemove(ctx, v, true); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove volume %s: %w", v, err)
		}
	}
	return nil
}

// forAll runs fn for every participant at once and returns the errors joined. An
// error does not cancel the others: a cancelled request may still be carried out by
// the daemon after the client gave up on it, and then be missed by the cleanup.
func forAll(ctx context.Context, parts []participant, concurrency int, fn func(context.Context, *participant) error) error {
	if concurrency <= 0 || concurrency > len(parts) {
		concurrency = len(parts)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, concurrency)
	)
	for i := range parts {
		wg.Add(1)
		go func(p *participant) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(ctx, p); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(&parts[i])
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cleanup force-removes every container, then every network and volume matching f,
// with its own deadline (the run's context may be cancelled already). It goes round
// until a round finds nothing, and when it found something, checks once more a second
// later: after an interruption the daemon may still complete a create the client
// cancelled. It returns how many objects it found in all.
func cleanup(cli *client.Client, f filters.KeyValuePair) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	total := 0
	for round := 0; round < 30; round++ {
		n, err := cleanupOnce(ctx, cli, f)
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 && (total == 0 || round > 1) {
			return total, nil
		}
		time.Sleep(time.Second)
	}
	return total, fmt.Errorf("objects labelled %s=%s keep appearing", f.Key, f.Value)
}

func cleanupOnce(ctx context.Context, cli *client.Client, f filters.KeyValuePair) (int, error) {
	args := filters.NewArgs(f)
	var errs []error
	found := 0

	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return 0, err
	}
	found += len(cs)
	each(len(cs), func(i int) error {
		return cli.ContainerRemove(ctx, cs[i].ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}, &errs)

	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: args})
	if err != nil {
		return found, errors.Join(append(errs, err)...)
	}
	found += len(ns)
	each(len(ns), func(i int) error { return cli.NetworkRemove(ctx, ns[i].ID) }, &errs)

	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: args})
	if err != nil {
		return found, errors.Join(append(errs, err)...)
	}
	found += len(vs.Volumes)
	each(len(vs.Volumes), func(i int) error { return cli.VolumeRemove(ctx, vs.Volumes[i].Name, true) }, &errs)
	return found, errors.Join(errs...)
}

func each(n int, fn func(int) error, errs *[]error) {
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := fn(i); err != nil && !cerrdefs.IsNotFound(err) {
				mu.Lock()
				*errs = append(*errs, err)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
}

// freeSubnets carves o.n subnets of /prefixLen from the pool, in order, skipping those
// that overlap a subnet of an existing network (as the provider's allocator does).
func freeSubnets(ctx context.Context, cli *client.Client, o options) ([]netip.Prefix, error) {
	nets, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var used []netip.Prefix
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, p.Masked())
			}
		}
	}
	base := o.pool.Addr().As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := 1 << (o.prefixLen - o.pool.Bits())
	var out []netip.Prefix
	for i := 0; i < size && len(out) < o.n; i++ {
		n := v + uint32(i)<<(32-o.prefixLen)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), o.prefixLen)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			out = append(out, p)
		}
	}
	if len(out) < o.n {
		return nil, fmt.Errorf("only %d free /%d subnets in %s for %d participants", len(out), o.prefixLen, o.pool, o.n)
	}
	return out, nil
}

package docker

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestZZRatio(t *testing.T) {
	if os.Getenv("NALABO_RATIO") == "" {
		t.Skip()
	}
	b := newTestBackend(t)
	const n = 30
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-ratio", Workspace: workshop.Workspace{Image: imageShell1}})
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		// direct
		start := time.Now()
		runAll(n, func(i int) error {
			name := fmt.Sprintf("nalabo-ratio-%02d", i)
			if _, err := b.cli.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: fmt.Sprintf("10.220.%d.0/28", i)}}}}); err != nil {
				t.Error(err)
				return err
			}
			pids := int64(512)
			c, err := b.cli.ContainerCreate(ctx, &container.Config{Image: imageShell1}, &container.HostConfig{NetworkMode: container.NetworkMode(name),
				Resources: container.Resources{NanoCPUs: 1e8, Memory: 64 << 20, MemorySwap: 64 << 20, PidsLimit: &pids}}, nil, nil, name)
			if err != nil {
				t.Error(err)
				return err
			}
			if err := b.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
				t.Error(err)
			}
			_, err = b.cli.ContainerInspect(ctx, c.ID)
			return err
		})
		direct := time.Since(start)
		start = time.Now()
		runAll(n, func(i int) error {
			name := fmt.Sprintf("nalabo-ratio-%02d", i)
			if err := b.cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true}); err != nil {
				t.Error(err)
			}
			return b.cli.NetworkRemove(ctx, name)
		})
		directDown := time.Since(start)
		specs := make([]*workshop.SessionSpec, n)
		for i := range specs {
			specs[i] = newSpec(tpl, fmt.Sprintf("r%02d", i))
			specs[i].Resources = workshop.Resources{CPU: "100m", Memory: "64Mi"}
		}
		start = time.Now()
		runAll(n, func(i int) error {
			_, err := b.CreateSession(ctx, specs[i])
			if err != nil {
				t.Error(err)
			}
			return err
		})
		prov := time.Since(start)
		start = time.Now()
		runAll(n, func(i int) error { return b.DeleteSession(ctx, specs[i].ID) })
		provDown := time.Since(start)
		t.Logf("round %d: up direct %s backend %s (x%.2f); down direct %s backend %s (x%.2f)", round,
			direct.Round(time.Millisecond), prov.Round(time.Millisecond), prov.Seconds()/direct.Seconds(),
			directDown.Round(time.Millisecond), provDown.Round(time.Millisecond), provDown.Seconds()/directDown.Seconds())
	}
}

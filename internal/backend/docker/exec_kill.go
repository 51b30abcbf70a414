package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// roleExecKill marks the short-lived container that kills a timed-out exec's
// processes. It carries no session label: it must not count in the session's budget
// or listings, and it removes itself when done.
const roleExecKill = "exec-kill"

// killPidsLimit bounds the kill container (its shell and a grep at a time).
const killPidsLimit = 64

// killExec kills every process of the exec tagged with marker, on a fresh context (ctx
// may be what ended), and records the outcome on res.
//
// The kill runs in a sidecar container that joins the target's PID namespace: it has
// its own cgroup, so it starts and forks even when a fork bomb holds every PID of the
// target's pids limit, and CAP_KILL, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (root, no
// network, read-only root),
// so it finds and kills processes whatever user they switched to. Should the sidecar
// fail, an exec in the target as the command's user does the same, within the
// target's limits.
func (b *Backend) killExec(ctx context.Context, target string, req *workshop.ExecRequest, marker string, res *workshop.ExecResult) {
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workshop.ExecKillTimeout)
	defer cancel()
	kr, err := b.killInSidecar(kctx, target, marker)
	if err == nil {
		workshop.ApplyKillResult(res, kr, nil)
		return
	}
	if workshop.IsNoShell(err) {
		res.KillAttempted, res.KillError = true, workshop.NoShellKillError
		return
	}
	sidecarErr := err
	kr, err = b.runExec(kctx, target, workshop.KillRequest(req, marker), "")
	if err != nil && kctx.Err() != nil {
		kr, err = &workshop.ExecResult{TimedOut: true}, nil
	}
	workshop.ApplyKillResult(res, kr, err)
	if res.KillError != "" {
		res.KillError += " (the kill container failed first: " + sidecarErr.Error() + ")"
	}
}

// killInSidecar runs workshop.KillCommand in a container sharing target's PID namespace
// and returns its output and exit code.
func (b *Backend) killInSidecar(ctx context.Context, target, marker string) (*workshop.ExecResult, error) {
	ins, err := b.cli.ContainerInspect(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", target, err)
	}
	if ins.State == nil || !ins.State.Running {
		// Its processes ended with it.
		return &workshop.ExecResult{Stdout: "rounds 0\n"}, nil
	}
	pids := int64(killPidsLimit)
	cfg := &container.Config{
		Image:      ins.Image, // the image ID: the target's own, present
		Entrypoint: workshop.KillCommand(marker),
		User:       "0",
		WorkingDir: "/",
		Labels: map[string]string{
			workshop.LabelManagedBy: workshop.ManagedByValue,
			workshop.LabelRole:      roleExecKill,
		},
		NetworkDisabled: true,
		AttachStdout:    true,
		AttachStderr:    true,
	}
	host := &container.HostConfig{
		PidMode:        container.PidMode("container:" + ins.ID),
		NetworkMode:    "none",
		AutoRemove:     true,
		ReadonlyRootfs: true,
		LogConfig:      container.LogConfig{Type: "none"},
		CapDrop:        []string{"ALL"},
		// Read another user's /proc/<pid>/environ (file mode 0400, then a ptrace
		// check) and signal it; DAC_READ_SEARCH only reads.
		CapAdd:      []string{"KILL", "SYS_PTRACE", "DAC_READ_SEARCH"},
		SecurityOpt: []string{"no-new-privileges:true"},
		Resources: container.Resources{
			NanoCPUs: 500_000_000, Memory: 64 << 20, MemorySwap: 64 << 20, PidsLimit: &pids,
		},
	}
	name := target + "-kill-" + marker[:8]
	created, err := b.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	defer func() {
		// AutoRemove removes it once it exits; this is for a kill cut short.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), execInspectTimeout)
		defer cancel()
		// Not found or conflict: AutoRemove did it or is doing it.
		_ = b.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true})
	}()
	att, err := b.cli.ContainerAttach(ctx, created.ID, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", name, err)
	}
	defer att.Close()
	waitC, waitErr := b.cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := b.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	stdout, stderr := workshop.NewBoundedBuffer(256<<10), workshop.NewBoundedBuffer(4<<10)
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, att.Reader)
		copied <- err
	}()
	kr := &workshop.ExecResult{}
	select {
	case w := <-waitC:
		if w.Error != nil {
			return nil, fmt.Errorf("wait %s: %s", name, w.Error.Message)
		}
		kr.ExitCode = int(w.StatusCode)
	case err := <-waitErr:
		if ctx.Err() != nil {
			return &workshop.ExecResult{TimedOut: true}, nil
		}
		return nil, fmt.Errorf("wait %s: %w", name, err)
	}
	select {
	case <-copied: //nolint:errcheck // the output so far is the result, the copy error adds nothing
	case <-ctx.Done():
	}
	att.Close()
	kr.Stdout, kr.Stderr = stdout.String(), stderr.String()
	return kr, nil
}

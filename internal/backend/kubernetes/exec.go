package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// DefaultExecTimeout applies when a request names none.
const DefaultExecTimeout = 30 * time.Second

// Exec runs a command in the session's workspace pod (or the pod named by
// req.Container, as "pod" or "pod/container") through the API server's exec, over
// WebSocket with a SPDY fallback. The command runs under a /bin/sh wrapper that tags it
// with workshop.ExecMarkerEnv and applies env and working directory. Closing the stream
// does not end the command, so on a timeout or cancellation a second exec kills every
// process carrying the marker and the result says what it killed.
func (b *Backend) Exec(ctx context.Context, sessionID string, req *workshop.ExecRequest) (*workshop.ExecResult, error) {
	if req == nil || len(req.Command) == 0 {
		return nil, errors.New("exec: no command given")
	}
	if req.User != "" {
		return nil, errors.New("exec: user is not supported on kubernetes (the pod's securityContext decides)")
	}
	if err := workshop.ValidateEnv("env", req.Env); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	t := execTarget{ns: workshop.SessionObjectName(sessionID), pod: workspacePodName, container: workspaceContainer}
	if req.Container != "" {
		t.pod, t.container, _ = strings.Cut(req.Container, "/")
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	ectx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	marker := workshop.NewExecMarker()
	start := time.Now()
	res, err := b.stream(ectx, t, wrapCommand(req, marker), req.MaxOutputBytes)
	if err != nil && ectx.Err() == nil && workshop.IsNoShell(err) && len(req.Env) == 0 && req.WorkingDir == "" {
		// A shell-less image: the runtime refused to start /bin/sh, so nothing ran. Run
		// the argv untagged; a timeout then cannot find its processes (the result says so).
		marker = ""
		res, err = b.stream(ectx, t, req.Command, req.MaxOutputBytes)
	}
	res.Duration = time.Since(start)
	if err != nil && ectx.Err() != nil {
		b.killExec(ctx, t, marker, res)
		if ctx.Err() == nil {
			res.TimedOut, res.ExitCode = true, -1
			return res, nil
		}
		return nil, fmt.Errorf("exec in %s/%s: %w (%s)", t.ns, t.pod, ctx.Err(), res.KillSummary())
	}
	if err != nil {
		if t.pod == workspacePodName && b.stoppedSession(ctx, sessionID) {
			return nil, fmt.Errorf("session %s is stopped (its workspace pod is deleted, its home kept): resume it with "+
				"state = \"running\" before running commands in it", sessionID)
		}
		return nil, fmt.Errorf("exec in %s/%s: %w", t.ns, t.pod, err)
	}
	return res, nil
}

type execTarget struct{ ns, pod, container string }

// stream runs cmd and returns its output and exit code; err is set when it could not
// run or ctx ended first (res then holds the output so far).
func (b *Backend) stream(ctx context.Context, t execTarget, cmd []string, maxOutput int) (*workshop.ExecResult, error) {
	stdout, stderr := workshop.NewBoundedBuffer(maxOutput), workshop.NewBoundedBuffer(maxOutput)
	res := func() *workshop.ExecResult {
		return &workshop.ExecResult{
			Stdout: stdout.String(), Stderr: stderr.String(),
			StdoutTruncated: stdout.Truncated(), StderrTruncated: stderr.Truncated(),
		}
	}
	executor, err := b.executor(t, &corev1.PodExecOptions{Container: t.container, Command: cmd, Stdout: true, Stderr: true})
	if err != nil {
		return res(), err
	}
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	r := res()
	var exitErr utilexec.CodeExitError
	if errors.As(err, &exitErr) {
		r.ExitCode = exitErr.ExitStatus()
		return r, nil
	}
	return r, err
}

// executor returns the API server's exec of opts in t's pod, over WebSocket with a
// SPDY fallback.
func (b *Backend) executor(t execTarget, opts *corev1.PodExecOptions) (remotecommand.Executor, error) {
	u := b.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(t.ns).Name(t.pod).SubResource("exec").
		VersionedParams(opts, scheme.ParameterCodec).URL()
	ws, err := remotecommand.NewWebSocketExecutor(b.rest, http.MethodGet, u.String())
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(b.rest, http.MethodPost, u)
	if err != nil {
		return nil, err
	}
	// Fall back to SPDY only when the WebSocket upgrade itself failed: a command that
	// ran must not run twice.
	return remotecommand.NewFallbackExecutor(ws, spdy, websocketUpgradeFailed)
}

// killExec runs the kill exec for marker on a fresh context (ctx may be what ended) and
// records its outcome on res.
func (b *Backend) killExec(ctx context.Context, t execTarget, marker string, res *workshop.ExecResult) {
	if marker == "" {
		res.KillAttempted, res.KillError = true, workshop.NoShellKillError
		return
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workshop.ExecKillTimeout)
	defer cancel()
	kreq := workshop.KillRequest(&workshop.ExecRequest{}, marker)
	kr, err := b.stream(kctx, t, kreq.Command, kreq.MaxOutputBytes)
	if err != nil && kctx.Err() != nil {
		kr, err = &workshop.ExecResult{TimedOut: true}, nil
	} else if err != nil && workshop.IsNoShell(err) {
		res.KillAttempted, res.KillError = true, workshop.NoShellKillError
		return
	}
	workshop.ApplyKillResult(res, kr, err)
}

// wrapCommand runs argv under /bin/sh with the marker, env and working directory set.
// The marker is exported last: the request cannot override it.
func wrapCommand(req *workshop.ExecRequest, marker string) []string {
	var pre []string
	if req.WorkingDir != "" {
		pre = append(pre, "cd "+shellQuote(req.WorkingDir)+" || exit 126")
	}
	keys := make([]string, 0, len(req.Env))
	for k := range req.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pre = append(pre, "export "+k+"="+shellQuote(req.Env[k]))
	}
	pre = append(pre, "export "+workshop.ExecMarkerEnv+"="+shellQuote(marker))
	script := strings.Join(pre, "; ") + `; exec "$@"`
	return append([]string{"/bin/sh", "-c", script, "nalabo-exec"}, req.Command...)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }

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
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// DefaultExecTimeout applies when a request names none.
const DefaultExecTimeout = 30 * time.Second

// Exec runs a command in the session's workspace pod (or the pod named by
// req.Container, as "pod" or "pod/container") through the API server's exec, over
// WebSocket with a SPDY fallback. Env, working directory and user are applied through
// env(1) and cd in a shell wrapper when given.
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
	ns := workshop.SessionObjectName(sessionID)
	pod, container := workspacePodName, workspaceContainer
	if req.Container != "" {
		pod, container, _ = strings.Cut(req.Container, "/")
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	cmd := wrapCommand(req)
	u := b.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
	ws, err := remotecommand.NewWebSocketExecutor(b.rest, http.MethodGet, u.String())
	if err != nil {
		return nil, fmt.Errorf("exec in %s/%s: %w", ns, pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(b.rest, http.MethodPost, u)
	if err != nil {
		return nil, fmt.Errorf("exec in %s/%s: %w", ns, pod, err)
	}
	// Fall back to SPDY only when the WebSocket upgrade itself failed: a command that
	// ran must not run twice.
	executor, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("exec in %s/%s: %w", ns, pod, err)
	}
	stdout, stderr := workshop.NewBoundedBuffer(req.MaxOutputBytes), workshop.NewBoundedBuffer(req.MaxOutputBytes)
	ectx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err = executor.StreamWithContext(ectx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	res := &workshop.ExecResult{
		Stdout: stdout.String(), Stderr: stderr.String(),
		StdoutTruncated: stdout.Truncated(), StderrTruncated: stderr.Truncated(),
		Duration: time.Since(start),
	}
	var exitErr utilexec.CodeExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
		return res, nil
	case ectx.Err() != nil && ctx.Err() == nil:
		res.TimedOut, res.ExitCode = true, -1
		return res, nil
	default:
		return nil, fmt.Errorf("exec in %s/%s: %w", ns, pod, err)
	}
}

// wrapCommand adds env and working directory through /bin/sh when asked for.
func wrapCommand(req *workshop.ExecRequest) []string {
	if len(req.Env) == 0 && req.WorkingDir == "" {
		return req.Command
	}
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
	script := strings.Join(pre, "; ") + `; exec "$@"`
	return append([]string{"/bin/sh", "-c", script, "nalabo-exec"}, req.Command...)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }

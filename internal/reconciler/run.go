package reconciler

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/swarm"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Exit statuses of Main.
const (
	ExitOK     = 0
	ExitFailed = 1 // --once: the pass had errors; otherwise a startup failure
	ExitUsage  = 2
)

// Main is `terraform-provider-nalabo reconcile`: it parses args, builds the backends
// and runs until ctx ends (SIGINT, SIGTERM), or one pass with --once.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := ParseArgs(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "reconcile: %v\n", err)
		return ExitUsage
	}
	log := NewLogger(cfg, stderr)
	backends, kube, err := BuildBackends(cfg)
	if err != nil {
		log.Error("cannot configure the backends", "error", err)
		return ExitFailed
	}
	defer closeBackends(backends)
	logConfig(log, cfg)

	r := New(cfg, backends, log, NewMetrics(nil))
	if cfg.Once {
		failed := false
		for _, p := range r.RunOnce(ctx) {
			log.Info("pass", "backend", p.Backend, "listed", p.Listed, "due", len(p.Due), "remnants", len(p.Remnants), "reaped", len(p.Reaped),
				"deleted_by_other", len(p.DeletedByOther), "validated", p.Validated, "errors", len(p.Errors), "took", p.Took)
			for _, e := range p.Errors {
				log.Error("pass error", "backend", p.Backend, "error", e)
				failed = true
			}
		}
		if failed {
			return ExitFailed
		}
		return ExitOK
	}

	var srv *http.Server
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			log.Error("cannot listen", "listen", cfg.Listen, "error", err)
			return ExitFailed
		}
		srv = &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("HTTP server stopped", "error", err)
			}
		}()
		log.Info("serving /healthz, /readyz and /metrics", "address", ln.Addr().String())
	}

	if kube != nil && cfg.LeaderElect {
		e := NewElection(kube, cfg.LeaseName, cfg.Identity, log)
		r.SetLeading(e.Leading)
		go e.Run(ctx)
	}
	r.Run(ctx)
	log.Info("stopping")
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return ExitOK
}

// NewLogger returns the reconciler's go-hclog logger.
func NewLogger(cfg *Config, out io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "nalabo-reconciler",
		Level:      hclog.LevelFromString(cfg.LogLevel),
		Output:     out,
		JSONFormat: cfg.LogJSON,
	})
}

// logConfig logs what the reconciler talks to; never a token or password.
func logConfig(log hclog.Logger, cfg *Config) {
	fields := []any{"backends", backendNames(cfg.Backends), "interval", cfg.Interval, "grace", cfg.Grace, "remnant_grace", cfg.RemnantGrace,
		"validate_interval", cfg.ValidateInterval, "dry_run", cfg.DryRun}
	if len(cfg.Templates) > 0 {
		fields = append(fields, "templates", strings.Join(cfg.Templates, ","))
	}
	if cfg.HasBackend(workshop.InfraDocker) {
		fields = append(fields, "docker_host", cfg.Docker.Host)
	}
	if cfg.HasBackend(workshop.InfraSwarm) {
		fields = append(fields, "swarm_host", cfg.Swarm.Host)
	}
	if cfg.HasBackend(workshop.InfraKubernetes) {
		k := cfg.Kubernetes
		fields = append(fields, "kubernetes_config_path", k.ConfigPath, "kubernetes_context", k.Context,
			"kubernetes_host", k.Host, "kubernetes_token_set", k.Token != "", "kubernetes_namespace", k.Namespace,
			"leader_elect", cfg.LeaderElect && !cfg.Once)
	}
	log.Info("starting", fields...)
}

func backendNames(l []workshop.InfrastructureType) string {
	s := make([]string, len(l))
	for i, b := range l {
		s[i] = string(b)
	}
	return strings.Join(s, ",")
}

// BuildBackends builds the configured backends (nothing is dialled yet). kube is the
// Kubernetes backend when configured (for leader election).
func BuildBackends(cfg *Config) ([]workshop.Backend, *kubernetes.Backend, error) {
	var out []workshop.Backend
	var kube *kubernetes.Backend
	for _, t := range cfg.Backends {
		switch t {
		case workshop.InfraDocker:
			b, err := docker.New(cfg.Docker)
			if err != nil {
				return nil, nil, fmt.Errorf("--backend docker: %w", err)
			}
			out = append(out, b)
		case workshop.InfraSwarm:
			b, err := swarm.New(cfg.Swarm)
			if err != nil {
				return nil, nil, fmt.Errorf("--backend swarm: %w", err)
			}
			out = append(out, b)
		case workshop.InfraKubernetes:
			b, err := kubernetes.New(cfg.Kubernetes)
			if err != nil {
				return nil, nil, fmt.Errorf("--backend kubernetes: %w", err)
			}
			kube = b
			out = append(out, b)
		}
	}
	return out, kube, nil
}

func closeBackends(bs []workshop.Backend) {
	for _, b := range bs {
		if c, ok := b.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// Election campaigns for the reconcilers' Lease and tells whether this process leads.
type Election struct {
	kube     *kubernetes.Backend
	lease    string
	identity string
	log      hclog.Logger

	mu     sync.Mutex
	ctx    context.Context // the leading context; nil when not leading
	leader string          // last observed leader
}

// NewElection prepares an election on the Lease <lease> in the control namespace.
func NewElection(kube *kubernetes.Backend, lease, identity string, log hclog.Logger) *Election {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Election{kube: kube, lease: lease, identity: identity, log: log.With("lease", lease, "identity", identity)}
}

// Leading returns the context to act under while this process leads.
func (e *Election) Leading() (context.Context, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil || e.ctx.Err() != nil {
		return nil, false
	}
	return e.ctx, true
}

// Leader is the identity of the last observed leader ("" when none seen yet).
func (e *Election) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

// Run campaigns until ctx ends; after losing the lease it campaigns again.
func (e *Election) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := e.kube.RunLeaderElection(ctx, kubernetes.LeaderElection{
			LeaseName: e.lease,
			Identity:  e.identity,
			OnStartedLeading: func(lctx context.Context) {
				e.mu.Lock()
				e.ctx = lctx
				e.mu.Unlock()
				e.log.Info("leading: this reconciler deletes and validates")
			},
			OnStoppedLeading: func() {
				e.mu.Lock()
				was := e.ctx != nil
				e.ctx = nil
				e.mu.Unlock()
				if was {
					e.log.Info("stopped leading")
				}
			},
			OnNewLeader: func(id string) {
				e.mu.Lock()
				e.leader = id
				e.mu.Unlock()
				if id != e.identity {
					e.log.Info("another reconciler leads", "leader", id)
				}
			},
		})
		if err != nil {
			e.log.Error("leader election", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

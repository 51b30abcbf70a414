package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nalabo/terraform-provider-nalabo/internal/reconciler"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Exit statuses of Main.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// Main is `terraform-provider-nalabo gateway`: it serves until ctx ends (SIGINT,
// SIGTERM). Logs go to stderr, audit records (JSON lines) to stdout and --audit-file.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseArgs(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return ExitUsage
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name: "nalabo-gateway", Level: hclog.LevelFromString(cfg.LogLevel), Output: stderr, JSONFormat: cfg.LogJSON,
	})
	backends, _, err := reconciler.BuildBackends(&reconciler.Config{Backends: cfg.Backends, Docker: cfg.Docker, Kubernetes: cfg.Kubernetes})
	if err != nil {
		log.Error("cannot configure the backends", "error", err)
		return ExitFailed
	}
	defer func() {
		for _, b := range backends {
			if c, ok := b.(io.Closer); ok {
				_ = c.Close()
			}
		}
	}()
	auditOut, closeAudit, err := OpenAuditOutput(stdout, cfg.AuditFile)
	if err != nil {
		log.Error("cannot open the audit file", "audit_file", cfg.AuditFile, "error", err)
		return ExitFailed
	}
	defer func() { _ = closeAudit() }()
	srv := New(cfg, backends, log, auditOut)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.Listen, "error", err)
		return ExitFailed
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if cfg.TLSCert != "" {
		// Loaded at every handshake: a renewed certificate is used without a restart.
		if _, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			log.Error("cannot load the TLS certificate", "tls_cert", cfg.TLSCert, "error", err)
			return ExitFailed
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
			return &c, err
		}}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	logStart(log, cfg, ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "error", err)
			return ExitFailed
		}
	}
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return ExitOK
}

// logStart logs what the gateway serves and talks to; key ids and names, never keys.
func logStart(log hclog.Logger, cfg *Config, addr string) {
	ids := make([]string, len(cfg.Keys))
	for i, k := range cfg.Keys {
		ids[i] = k.ID()
	}
	names := make([]string, len(cfg.APIKeys))
	for i, k := range cfg.APIKeys {
		names[i] = k.Name
	}
	backends := make([]string, len(cfg.Backends))
	for i, b := range cfg.Backends {
		backends[i] = string(b)
	}
	fields := []any{"address", addr, "tls", cfg.TLSCert != "", "secure_cookies", cfg.SecureCookies, "signing_key_ids", strings.Join(ids, ","),
		"api_keys", strings.Join(names, ","), "backends", strings.Join(backends, ","), "audit_file", cfg.AuditFile}
	for _, b := range cfg.Backends {
		if b == workshop.InfraDocker {
			fields = append(fields, "docker_host", cfg.Docker.Host)
		}
	}
	log.Info("serving", fields...)
}

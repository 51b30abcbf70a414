// Package gateway is `terraform-provider-nalabo gateway`: a stateless HTTP server that
// lets participants into their sessions. A session's access_url (signed by the
// provider, internal/gateway/token) opens a page with a terminal in the browser (a TTY
// exec over a WebSocket), the template's instructions, links to the session's declared
// web ports (proxied under /s/<id>/port/<n>/) and a "check my work" button; the learning
// platform calls the runtime API (/api/workshops/sessions/{id}) with an API key. Nothing is stored: every
// request checks the token's signature and expiry and that the session still exists, so
// any number of replicas can run behind a load balancer.
package gateway

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/envconfig"
	"github.com/nalabo/terraform-provider-nalabo/internal/gateway/token"
	"github.com/nalabo/terraform-provider-nalabo/internal/reconciler"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// DefaultListen is the address served without --listen or NALABO_GATEWAY_LISTEN.
const DefaultListen = "127.0.0.1:8080"

// Environment variables of the gateway (besides the backends', see envconfig).
const (
	EnvListen     = "NALABO_GATEWAY_LISTEN"
	EnvSigningKey = "NALABO_GATEWAY_SIGNING_KEY"
	EnvAPIKeys    = "NALABO_GATEWAY_API_KEYS"
	EnvAuditFile  = "NALABO_GATEWAY_AUDIT_FILE"
)

// APIKey is one learning platform key: Name is what the audit records say.
type APIKey struct {
	Name   string
	Secret string
}

// Config is the gateway's configuration: flags over environment variables.
type Config struct {
	Listen  string
	TLSCert string
	TLSKey  string
	// Keys verify access tokens: the first signs nothing (the provider signs), all verify.
	Keys    []token.Key
	APIKeys []APIKey
	// SecureCookies marks the session cookie Secure: with TLS, or behind a TLS ingress.
	SecureCookies bool
	// Origins are the extra origins allowed to open the terminal WebSocket (the
	// gateway's own origin always is): the public URL when an ingress rewrites Host.
	Origins  []string
	LogLevel string
	LogJSON  bool
	// AuditFile receives the audit records too (appended, mode 0600), besides stdout.
	AuditFile string

	Backends   []workshop.InfrastructureType
	Docker     docker.Config
	Kubernetes kubernetes.Config
}

const usageHead = `Usage: terraform-provider-nalabo gateway [flags]

Serves each session's access_url (a browser terminal, instructions, web ports and "check
my work"), the runtime API /api/workshops/sessions/{id} (GET, POST .../execute, .../apply,
.../validate) for the learning platform, /healthz, /readyz and /metrics, on --listen (default $` + EnvListen + `, else ` + DefaultListen + `).

The signing key (the provider's gateway.signing_key) comes from --signing-key-file or
$` + EnvSigningKey + `: one key per line, all accepted (rotation). API keys come from
--api-keys-file or $` + EnvAPIKeys + ` (comma-separated): "name=key" (the name goes into
the audit records) or a bare key. Backends are configured as the reconciler's: %s;
%s.
NALABO_LOG_LEVEL sets the log level.

Flags:
`

// ParseArgs parses the gateway sub-command's arguments; getenv reads the environment.
// Errors name the flag or variable, never a key's value.
func ParseArgs(args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if usageOut == nil {
		usageOut = io.Discard
	}
	cfg := &Config{}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.Usage = func() {
		fmt.Fprintf(usageOut, usageHead, strings.Join(envconfig.Names("docker"), ", "), strings.Join(envconfig.Names("kubernetes"), ", "))
		fs.PrintDefaults()
	}
	var keyFile, apiKeysFile, origins string
	secure := "auto"
	fs.StringVar(&cfg.Listen, "listen", "", "address to serve on, host:port (default $"+EnvListen+", else "+DefaultListen+")")
	fs.StringVar(&keyFile, "signing-key-file", "", "file holding the token signing key(s), one per line (default $"+EnvSigningKey+")")
	fs.StringVar(&apiKeysFile, "api-keys-file", "", "file holding the runtime API keys, one \"name=key\" per line (default $"+EnvAPIKeys+")")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with; plain HTTP without (behind a TLS ingress)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&secure, "secure-cookies", secure, "mark the session cookie Secure: auto (with --tls-cert), true (behind a TLS ingress) or false")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated extra origins (scheme://host[:port]) allowed to open terminals, e.g. the public URL behind an ingress")
	backends := reconciler.AddBackendFlag(fs)
	fs.StringVar(&cfg.AuditFile, "audit-file", "", "append the audit records (JSON lines) to this file too, created with mode 0600 (default $"+EnvAuditFile+"; stdout always has them)")
	fs.StringVar(&cfg.LogLevel, "log-level", "", "trace, debug, info, warn or error (default $NALABO_LOG_LEVEL, else info)")
	fs.BoolVar(&cfg.LogJSON, "log-json", false, "write logs as JSON lines")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if cfg.Listen == "" {
		cfg.Listen = getenv(EnvListen)
	}
	if cfg.AuditFile == "" {
		cfg.AuditFile = getenv(EnvAuditFile)
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("--listen %q: %v (want host:port, e.g. %s)", cfg.Listen, err, DefaultListen)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	switch secure {
	case "auto":
		cfg.SecureCookies = cfg.TLSCert != ""
	case "true":
		cfg.SecureCookies = true
	case "false":
	default:
		return nil, fmt.Errorf("--secure-cookies must be auto, true or false, got %q", secure)
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
				return nil, fmt.Errorf("--allowed-origins: %q must start with http:// or https://", o)
			}
			cfg.Origins = append(cfg.Origins, strings.TrimRight(o, "/"))
		}
	}
	var err error
	if cfg.Keys, err = signingKeys(keyFile, getenv); err != nil {
		return nil, err
	}
	if cfg.APIKeys, err = apiKeys(apiKeysFile, getenv); err != nil {
		return nil, err
	}
	if cfg.LogLevel, err = reconciler.ResolveLogLevel(cfg.LogLevel, getenv); err != nil {
		return nil, err
	}
	cfg.Backends = backends()
	if cfg.Docker, cfg.Kubernetes, err = reconciler.BackendSettings(cfg.Backends, getenv); err != nil {
		return nil, err
	}
	return cfg, nil
}

// secretLines reads non-empty, non-comment lines from file, else splits env's value.
func secretLines(file, flagName string, env string, getenv func(string) string, sep string) ([]string, string, error) {
	var raw, source string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", flagName, err)
		}
		raw, source, sep = string(b), flagName+" "+file, "\n"
	} else {
		raw, source = getenv(env), env
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(raw, sep, "\n")))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, source, nil
}

func signingKeys(file string, getenv func(string) string) ([]token.Key, error) {
	lines, source, err := secretLines(file, "--signing-key-file", EnvSigningKey, getenv, "\n")
	if err != nil {
		return nil, err
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("no signing key: set --signing-key-file or %s (the provider's gateway.signing_key)", EnvSigningKey)
	}
	keys := make([]token.Key, 0, len(lines))
	for i, l := range lines {
		k, err := token.NewKey(l)
		if err != nil {
			return nil, fmt.Errorf("%s, key %d: %v", source, i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// minAPIKeyLength keeps guessable API keys out.
const minAPIKeyLength = 24

func apiKeys(file string, getenv func(string) string) ([]APIKey, error) {
	lines, source, err := secretLines(file, "--api-keys-file", EnvAPIKeys, getenv, ",")
	if err != nil {
		return nil, err
	}
	out := make([]APIKey, 0, len(lines))
	seen := map[string]bool{}
	for i, l := range lines {
		k := APIKey{Name: fmt.Sprintf("key-%d", i+1), Secret: l}
		if name, secret, ok := strings.Cut(l, "="); ok && workshop.ValidateTemplateName(strings.TrimSpace(name)) == nil {
			k.Name, k.Secret = strings.TrimSpace(name), strings.TrimSpace(secret)
		}
		if len(k.Secret) < minAPIKeyLength {
			return nil, fmt.Errorf("%s, API key %q: must be at least %d characters long", source, k.Name, minAPIKeyLength)
		}
		if seen[k.Name] {
			return nil, fmt.Errorf("%s: API key name %q given twice", source, k.Name)
		}
		seen[k.Name] = true
		out = append(out, k)
	}
	return out, nil
}

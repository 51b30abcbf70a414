// Command terraform-provider-nalabo serves the Nalabo Terraform provider; its
// `reconcile` sub-command runs the reconciler (expired session cleanup, health checks,
// Prometheus metrics): terraform-provider-nalabo reconcile --help; its `gateway`
// sub-command lets participants into their sessions (a browser terminal, "check my
// work", the runtime API): terraform-provider-nalabo gateway --help. Run with the hidden
// first argument -nalabo-netguard, it is the Docker egress helper (internal/netguard),
// which the Docker backend starts in a container on the engine's host.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/swarm"
	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/gateway"
	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
	"github.com/nalabo/terraform-provider-nalabo/internal/provider"
	"github.com/nalabo/terraform-provider-nalabo/internal/reconciler"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// version is set by goreleaser.
var version = "dev"

func main() {
	// Terraform starts the plugin without arguments; only an explicit sub-command
	// runs the reconciler.
	if netguard.IsInvocation(os.Args[1:]) {
		os.Exit(netguard.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "gateway" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := gateway.Main(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if len(os.Args) > 1 && os.Args[1] == "reconcile" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := reconciler.Main(ctx, os.Args[2:], os.Stderr)
		stop()
		os.Exit(code)
	}

	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	// Terraform reads the plugin's stderr through a pipe. When Terraform dies (SIGKILL,
	// a double Ctrl-C) the next log line would kill the plugin with SIGPIPE in the middle
	// of removing a half-created session: ignored, the write fails instead.
	signal.Ignore(syscall.SIGPIPE)
	quietLogsUnlessAsked()
	if !debug {
		go exitWhenOrphaned(os.Getppid())
	}

	err := providerserver.Serve(context.Background(), provider.New(version, backends), providerserver.ServeOpts{
		// Matches the source address in examples and terraform-registry-manifest.json
		// (protocol 6.0).
		Address:         "registry.terraform.io/nalabo/nalabo",
		Debug:           debug,
		ProtocolVersion: 6,
	})
	// Terraform asked the plugin to stop (its contexts are cancelled): let creates
	// finish removing what they built. Terraform kills the plugin after a few seconds;
	// what is left then is removed by the next apply or the reconciler.
	workshop.WaitIdle(drainTimeout)
	if err != nil {
		log.Fatal(err.Error())
	}
}

// quietLogsUnlessAsked turns the plugin SDK's and the provider's logs off when no
// TF_LOG* variable is set. Their levels default to TRACE: every RPC then formats JSON
// lines that Terraform parses and throws away, a third of the CPU of a no-change plan of
// a class (100 sessions: 2.3 s of CPU, 1.6 s without). Any TF_LOG* variable (TF_LOG,
// TF_LOG_PROVIDER, TF_LOG_SDK_FRAMEWORK, ...) leaves the levels as Terraform's logging
// documentation says.
func quietLogsUnlessAsked() {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_LOG") {
			return
		}
	}
	_ = os.Setenv("TF_LOG_SDK", "off")
	_ = os.Setenv("TF_LOG_PROVIDER", "off")
}

// backends are the provider's backend constructors: the provider package knows no
// backend (it imports no Docker, client-go or Helm package), main wires them in.
var backends = provider.Backends{
	Docker:     func(c config.Docker) (workshop.Backend, error) { return docker.New(c) },
	Kubernetes: func(c config.Kubernetes) (workshop.Backend, error) { return kubernetes.New(c) },
	Swarm:      func(c config.Swarm) (workshop.Backend, error) { return swarm.New(c) },
}

// drainTimeout bounds how long the plugin waits for in-flight creates and their
// cleanup before it exits (the backends bound a cleanup to a few minutes).
const drainTimeout = 4 * time.Minute

// exitWhenOrphaned exits the plugin once Terraform (its parent) is gone and no create
// or cleanup is in flight: nobody will call it any more, and a plugin left running
// would hold connections to the engines forever. The gRPC connection's end has already
// cancelled the requests in flight, so the creates are removing what they built.
func exitWhenOrphaned(parent int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			workshop.WaitIdle(drainTimeout)
			// The template copies created here may never have reached a state: the
			// re-apply adopts them (and so their sessions).
			workshop.MarkCreatedOrphaned(30 * time.Second)
			os.Exit(1)
		}
	}
}

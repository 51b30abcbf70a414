// Command terraform-provider-nalabo serves the Nalabo Terraform provider; its
// `reconcile` sub-command runs the reconciler (expired session cleanup, health checks,
// Prometheus metrics): terraform-provider-nalabo reconcile --help. Run with the hidden
// first argument -nalabo-netguard, it is the Docker egress helper (internal/netguard),
// which the Docker backend starts in a container on the engine's host.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
	"github.com/nalabo/terraform-provider-nalabo/internal/provider"
	"github.com/nalabo/terraform-provider-nalabo/internal/reconciler"
)

// version is set by goreleaser.
var version = "dev"

func main() {
	// Terraform starts the plugin without arguments; only an explicit sub-command
	// runs the reconciler.
	if netguard.IsInvocation(os.Args[1:]) {
		os.Exit(netguard.Main(os.Args[1:], os.Stdout, os.Stderr))
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

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		// Matches the source address in examples and terraform-registry-manifest.json
		// (protocol 6.0).
		Address:         "registry.terraform.io/nalabo/nalabo",
		Debug:           debug,
		ProtocolVersion: 6,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

package gateway

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
)

// TestMain lets this test binary serve as the Docker egress helper (internal/netguard):
// the Docker backend runs its own executable in the helper container.
//
// With NALABO_GATEWAY_CHILD=1 it is the gateway itself (`gateway` with the arguments):
// the concurrent-terminals benchmark measures a gateway process of its own.
func TestMain(m *testing.M) {
	if netguard.IsInvocation(os.Args[1:]) {
		os.Exit(netguard.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		os.Exit(Main(ctx, os.Args[1:], io.Discard, os.Stderr))
	}
	os.Exit(m.Run())
}

// childEnv makes the test binary run as the gateway.
const childEnv = "NALABO_GATEWAY_CHILD"

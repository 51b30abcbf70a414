package gateway

import (
	"os"
	"testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
)

// TestMain lets this test binary serve as the Docker egress helper (internal/netguard):
// the Docker backend runs its own executable in the helper container.
func TestMain(m *testing.M) {
	if netguard.IsInvocation(os.Args[1:]) {
		os.Exit(netguard.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

package kubernetes

import (
	"errors"
	"fmt"
	"testing"

	"k8s.io/streaming/pkg/httpstream"
)

// The errors client-go's WebSocket transport returns (transport/websocket) make the
// executors fall back to SPDY; anything else does not (a command that ran must not run
// twice).
func TestWebsocketUpgradeFailed(t *testing.T) {
	upgrade := fmt.Errorf("dial: %w", &httpstream.UpgradeFailureError{Cause: errors.New("bad handshake")})
	if !websocketUpgradeFailed(upgrade) {
		t.Error("an upgrade failure must fall back to SPDY")
	}
	if !websocketUpgradeFailed(errors.New("proxy: unknown scheme: https")) {
		t.Error("an HTTPS proxy error must fall back to SPDY")
	}
	if websocketUpgradeFailed(errors.New("command terminated with exit code 1")) || websocketUpgradeFailed(nil) {
		t.Error("other errors must not fall back")
	}
}

package kubernetes

import "k8s.io/streaming/pkg/httpstream"

// websocketUpgradeFailed tells the exec and port-forward fallbacks to use SPDY: the
// WebSocket upgrade itself failed (nothing ran), or a proxy cannot carry it. client-go
// reports these with k8s.io/streaming's error types; the deprecated copies in
// k8s.io/apimachinery/pkg/util/httpstream are distinct types that never match them.
func websocketUpgradeFailed(err error) bool {
	return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
}

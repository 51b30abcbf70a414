package workshop

import (
	"context"
	"net/http"
	"net/url"
)

// WorkspaceService names the workspace in a WebPort (Compose services and Kubernetes
// Services go by their own names).
const WorkspaceService = "workspace"

// WebPort is a TCP port of a session that its template declares (workspace.ports, a
// Compose service's ports, a Service of the manifests): the gateway proxies HTTP and
// WebSockets to it, and to nothing else.
type WebPort struct {
	// Service is "workspace", the Compose service or the Kubernetes Service.
	Service string `json:"service"`
	// Port is the declared port: the container port (Docker, workspace pod) or the
	// Service's port.
	Port int `json:"port"`
	// Target is the base URL requests go to; the path under the gateway's
	// /s/<session>/port/<n>/ is appended to Target.Path.
	Target *url.URL `json:"-"`
}

// PortProxy is implemented by backends whose sessions' declared ports the gateway can
// reach; it is optional, like TerminalOpener.
type PortProxy interface {
	// WebPorts lists the declared TCP ports of a live session (s as GetSession
	// returned it), workspace first.
	WebPorts(ctx context.Context, s *Session) ([]WebPort, error)
	// PortTransport sends the requests to WebPort targets (it carries the
	// infrastructure's credentials when the route goes through its API).
	PortTransport() http.RoundTripper
}

// FindWebPort returns the declared port n of ports: the workspace's when several
// containers declare n, else the first service's (WebPorts order).
func FindWebPort(ports []WebPort, n int) (WebPort, bool) {
	var found *WebPort
	for i := range ports {
		if ports[i].Port != n {
			continue
		}
		if ports[i].Service == WorkspaceService {
			return ports[i], true
		}
		if found == nil {
			found = &ports[i]
		}
	}
	if found == nil {
		return WebPort{}, false
	}
	return *found, true
}

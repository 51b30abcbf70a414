package docker

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.PortProxy = (*Backend)(nil)

// WebPorts lists the session's published TCP ports: exactly what the template declares
// (workspace.ports and the Compose services' ports are the only ports a session
// publishes). The route is the published host port on docker.bind_address, not the
// container's address on the session network: it is what the template declared and
// Docker published (nothing else of the session is reachable that way), it needs no
// route into the session's bridge (a gateway in a container with --network host, or on
// another machine when bind_address is routable, reaches it), and it crosses no rule of
// the session's egress firewall. An unspecified bind address (0.0.0.0, ::) is reached
// on loopback.
func (b *Backend) WebPorts(_ context.Context, s *workshop.Session) ([]workshop.WebPort, error) {
	var out []workshop.WebPort
	seen := map[string]bool{}
	for _, p := range s.Ports {
		if p.Protocol != "" && p.Protocol != "tcp" || p.HostPort == 0 {
			continue
		}
		key := p.Container + "/" + strconv.Itoa(p.ContainerPort)
		if seen[key] {
			continue // one binding per address family
		}
		seen[key] = true
		host := p.HostIP
		if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
			host = "127.0.0.1"
			if err == nil && a.Is6() && !a.Is4In6() {
				host = "::1"
			}
		}
		out = append(out, workshop.WebPort{
			Service: p.Container, Port: p.ContainerPort,
			Target: &url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(p.HostPort)), Path: "/"},
		})
	}
	return out, nil
}

// portTransport is shared by every proxied request (connection reuse).
var portTransport = &http.Transport{
	Proxy:                 nil, // never an HTTP proxy from the environment: the target is local
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost:   8,
	IdleConnTimeout:       90 * time.Second,
	ResponseHeaderTimeout: 5 * time.Minute,
}

// PortTransport is a plain HTTP transport: published ports need no credentials.
func (b *Backend) PortTransport() http.RoundTripper { return portTransport }

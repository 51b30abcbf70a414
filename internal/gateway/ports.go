package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// webPorts lists the session's declared ports (none when the backend cannot proxy).
func (s *Server) webPorts(ctx context.Context, a *access) ([]workshop.WebPort, error) {
	pp, ok := a.backend.(workshop.PortProxy)
	if !ok {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return pp.WebPorts(ctx, a.session)
}

// portProxy serves /s/<id>/port/<n>/...: HTTP and WebSockets to the session's declared
// port n, with the participant's cookie. Any other port is 404. The gateway's cookie is
// not passed on: the session's app never sees the participant's token.
func (s *Server) portProxy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, portStr := r.PathValue("id"), r.PathValue("port")
	upgrade := r.Header.Get("Upgrade") != ""
	if upgrade && !s.sameOrigin(r) {
		// A WebSocket from another site's page: refused like the terminal's.
		s.metrics.PortRequests.WithLabelValues("denied").Inc()
		s.fail(w, http.StatusForbidden, "cross-origin WebSocket refused", false)
		return
	}
	a, ok := s.participantAccess(w, r, false)
	if !ok {
		s.metrics.PortRequests.WithLabelValues("denied").Inc()
		return
	}
	n, err := strconv.Atoi(portStr)
	if err != nil || n < 1 || n > 65535 {
		s.metrics.PortRequests.WithLabelValues("not_declared").Inc()
		s.fail(w, http.StatusNotFound, "No such port.", false)
		return
	}
	ports, err := s.webPorts(r.Context(), a)
	if err != nil {
		s.metrics.PortRequests.WithLabelValues("error").Inc()
		s.log.Error("cannot list the session's ports", "session", id, "error", err)
		s.fail(w, http.StatusBadGateway, "The workshop infrastructure did not answer; try again in a moment.", false)
		return
	}
	p, ok := workshop.FindWebPort(ports, n)
	if !ok {
		s.metrics.PortRequests.WithLabelValues("not_declared").Inc()
		s.fail(w, http.StatusNotFound, "Port "+strconv.Itoa(n)+" is not a port of this session's template.", false)
		return
	}
	if rest := r.PathValue("rest"); rest != "" && path.Clean("/"+rest) != "/"+strings.TrimSuffix(rest, "/") {
		// The rest of the path is appended to an API server proxy path: it never climbs.
		s.metrics.PortRequests.WithLabelValues("denied").Inc()
		s.fail(w, http.StatusBadRequest, "Invalid path.", false)
		return
	}
	if r.PathValue("rest") == "" && !strings.HasSuffix(r.URL.Path, "/") {
		// Relative links of the app resolve under the port's prefix only with the slash.
		u := *r.URL
		u.Path += "/"
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	s.metrics.PortRequests.WithLabelValues("ok").Inc()
	prefix := "/s/" + id + "/port/" + portStr
	target := p.Target
	pp, ok := a.backend.(workshop.PortProxy)
	if !ok { // webPorts listed no port: not reached
		s.fail(w, http.StatusNotFound, "Port "+strconv.Itoa(n)+" is not a port of this session's template.", false)
		return
	}
	rp := &httputil.ReverseProxy{
		Transport: pp.PortTransport(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.URL.Path = strings.TrimSuffix(target.Path, "/") + "/" + pr.In.PathValue("rest")
			pr.Out.URL.RawPath = ""
			pr.Out.Host = target.Host
			stripGatewayCookie(pr.Out)
			pr.Out.Header.Del("Authorization")
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Prefix", prefix+"/")
		},
		ModifyResponse: func(resp *http.Response) error {
			// An app's redirect to an absolute path stays under the port's prefix.
			if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, prefix+"/") {
				resp.Header.Set("Location", prefix+loc)
			}
			// The app's cookies stay under its prefix (they never reach the gateway's
			// pages or another port); the gateway's security headers are enforced
			// besides the app's own.
			scopeCookies(resp.Header, prefix)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				s.log.Info("web port unreachable", "session", id, "service", p.Service, "port", p.Port, "error", err)
			}
			s.fail(w, http.StatusBadGateway, "Nothing answers on port "+strconv.Itoa(n)+" of your session yet.", false)
		},
	}
	if upgrade || r.PathValue("rest") == "" {
		// The port's front page and each WebSocket are audited, not every asset.
		res := "page"
		if upgrade {
			res = "websocket"
		}
		s.audit.Record(AuditRecord{Event: AuditPort, Who: "participant", Remote: clientIP(r), Session: id,
			Participant: a.session.Participant, Result: res, Port: p.Service + ":" + portStr})
	}
	rp.ServeHTTP(w, r)
}

// stripGatewayCookie removes the gateway's own cookie from a proxied request.
func stripGatewayCookie(r *http.Request) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != cookieName {
			r.AddCookie(c)
		}
	}
}

// scopeCookies rewrites the app's Set-Cookie headers to its port's prefix, without a
// Domain: an app cannot set a cookie for the gateway or for another session.
func scopeCookies(h http.Header, prefix string) {
	raw := h.Values("Set-Cookie")
	if len(raw) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, line := range raw {
		c, err := http.ParseSetCookie(line)
		if err != nil || c.Name == cookieName {
			continue
		}
		p := c.Path
		if !strings.HasPrefix(p, "/") {
			p = "/"
		}
		c.Path, c.Domain = prefix+p, ""
		if v := c.String(); v != "" {
			h.Add("Set-Cookie", v)
		}
	}
}

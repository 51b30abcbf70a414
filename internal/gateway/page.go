package gateway

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

//go:embed assets/app.js assets/app.css assets/vendor
var staticFS embed.FS

//go:embed assets/page.html assets/error.html assets/enter.html
var templateFS embed.FS

var (
	pageTmpl  = template.Must(template.ParseFS(templateFS, "assets/page.html"))
	errorPage = template.Must(template.ParseFS(templateFS, "assets/error.html"))
	enterPage = template.Must(template.ParseFS(templateFS, "assets/enter.html"))
)

// assetsHandler serves the page's scripts and styles (public: nothing in them is
// specific to a session).
func assetsHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "assets")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/assets/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// page serves /s/<id>/. With ?token= it exchanges the token for a cookie and sends the
// browser on to the same page without it, so the token leaves the address bar and the
// history. The hop is an HTML refresh, not a 303: a navigation that started on another
// site (the link in the learning platform) would not carry a SameSite=Strict cookie
// through a redirect, while the refresh starts from the gateway's own page.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id := r.PathValue("id")
	if tok := r.URL.Query().Get("token"); tok != "" {
		a, ok := s.authorize(w, r, id, tok, false)
		if !ok {
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: cookieName, Value: tok, Path: "/s/" + id + "/",
			Expires: a.until(), MaxAge: int(time.Until(a.until()).Seconds()) + 1,
			HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
		})
		s.metrics.Accesses.WithLabelValues("ok").Inc()
		s.audit.Record(AuditRecord{Event: AuditAccess, Who: "participant", Remote: clientIP(r), Session: id,
			Participant: a.session.Participant, Result: "token_exchanged"})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = enterPage.Execute(w, nil)
		return
	}
	a, ok := s.participantAccess(w, r, false)
	if !ok {
		return
	}
	s.metrics.Accesses.WithLabelValues("ok").Inc()
	s.audit.Record(AuditRecord{Event: AuditAccess, Who: "participant", Remote: clientIP(r), Session: id,
		Participant: a.session.Participant, Result: "ok"})
	tpl := s.template(r.Context(), a)
	var checks []workshop.Validation
	var instructions template.HTML
	if tpl != nil {
		checks = tpl.Validations
		var err error
		if instructions, err = renderInstructions(tpl.Instructions); err != nil {
			s.log.Warn("cannot render the template's instructions", "session", id, "template", tpl.ID, "error", err)
		}
	}
	ports, err := s.webPorts(r.Context(), a)
	if err != nil {
		s.log.Warn("cannot list the session's ports", "session", id, "error", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	until := a.until()
	err = pageTmpl.Execute(w, map[string]any{
		"SessionID": id, "Participant": a.session.Participant, "Template": a.session.TemplateName,
		"ExpiresAt": until.UTC().Format(time.RFC3339), "ExpiresUnix": until.Unix(), "HasChecks": len(checks) > 0,
		"Ports": ports, "Instructions": instructions,
	})
	if err != nil {
		s.log.Error("render the page", "session", id, "error", err)
	}
}

// template returns the session's stored template; nil when it is gone (the session
// outlives it).
func (s *Server) template(ctx context.Context, a *access) *workshop.Template {
	if a.session.TemplateID == "" {
		return nil
	}
	t, err := a.backend.GetTemplate(ctx, a.session.TemplateID)
	if err != nil {
		s.log.Debug("template of a session not readable", "session", a.session.ID, "template", a.session.TemplateID, "error", err)
		return nil
	}
	return t
}

// validations returns the checks of the session's template (none when it is gone).
func (s *Server) validations(ctx context.Context, a *access) []workshop.Validation {
	if t := s.template(ctx, a); t != nil {
		return t.Validations
	}
	return nil
}

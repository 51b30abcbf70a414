package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Runtime API operations (metrics labels).
const (
	opGet      = "get"
	opExecute  = "execute"
	opValidate = "validate"
)

const (
	maxBodyBytes       = 64 << 10
	defaultExecTimeout = 30 * time.Second
	maxExecTimeout     = 10 * time.Minute
	validateTimeout    = 5 * time.Minute
)

// apiCall is an authenticated runtime API request on a live session.
type apiCall struct {
	who     string // "api:<key name>"
	backend workshop.Backend
	session *workshop.Session
}

// api wraps a runtime API handler: API key (constant-time), then the session.
func (s *Server) api(op string, h func(http.ResponseWriter, *http.Request, *apiCall) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		result := func(res string) { s.metrics.API.WithLabelValues(op, res).Inc() }
		ip := clientIP(r)
		if s.limiter.Blocked(ip) {
			s.metrics.RateLimited.Inc()
			result("unauthorized")
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many failed requests from this address"})
			return
		}
		name, ok := s.apiKey(r)
		if !ok {
			s.limiter.Fail(ip)
			result("unauthorized")
			w.Header().Set("WWW-Authenticate", `Bearer realm="nalabo-gateway"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or unknown API key (Authorization: Bearer <key>)"})
			return
		}
		id := r.PathValue("id")
		b, sess, err := s.findSession(r.Context(), id)
		if errors.Is(err, errSessionGone) {
			result("not_found")
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no live session %q", id)})
			return
		}
		if err != nil {
			result("error")
			s.log.Error("cannot read the session", "session", id, "error", err)
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the infrastructure did not answer: " + err.Error()})
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		result(h(w, r, &apiCall{who: "api:" + name, backend: b, session: sess}))
	}
}

// apiKey returns the name of the key the request carries (Authorization: Bearer, or
// X-API-Key). Every configured key is compared, in constant time over SHA-256 digests
// (equal lengths), so timing tells nothing about which matched or how much.
func (s *Server) apiKey(r *http.Request) (string, bool) {
	got := r.Header.Get("X-API-Key")
	if a := r.Header.Get("Authorization"); got == "" && len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		got = strings.TrimSpace(a[7:])
	}
	if got == "" {
		return "", false
	}
	gh := sha256.Sum256([]byte(got))
	name, found := "", 0
	for _, k := range s.cfg.APIKeys {
		kh := sha256.Sum256([]byte(k.Secret))
		if subtle.ConstantTimeCompare(gh[:], kh[:]) == 1 {
			name, found = k.Name, 1
		}
	}
	return name, found == 1
}

// sessionJSON is GET /api/workshops/sessions/{id}.
type sessionJSON struct {
	ID              string         `json:"id"`
	Participant     string         `json:"participant"`
	TemplateID      string         `json:"template_id"`
	TemplateName    string         `json:"template_name"`
	Infrastructure  string         `json:"infrastructure_type"`
	Status          string         `json:"status"`
	CreatedAt       string         `json:"created_at,omitempty"`
	ExpiresAt       string         `json:"expires_at,omitempty"`
	TimeLeftSeconds int64          `json:"time_left_seconds"`
	Resources       map[string]any `json:"resources"`
	Usage           map[string]any `json:"usage,omitempty"`
}

func (s *Server) apiGet(w http.ResponseWriter, r *http.Request, c *apiCall) string {
	sess := c.session
	out := sessionJSON{
		ID: sess.ID, Participant: sess.Participant, TemplateID: sess.TemplateID, TemplateName: sess.TemplateName,
		Infrastructure: string(sess.Infrastructure), Status: sess.Status,
		Resources: map[string]any{"cpu": sess.Resources.CPU, "memory": sess.Resources.Memory, "storage": sess.Resources.Storage},
	}
	if !sess.CreatedAt.IsZero() {
		out.CreatedAt = sess.CreatedAt.UTC().Format(time.RFC3339)
	}
	if !sess.ExpiresAt.IsZero() {
		out.ExpiresAt = sess.ExpiresAt.UTC().Format(time.RFC3339)
		out.TimeLeftSeconds = int64(time.Until(sess.ExpiresAt).Seconds())
	}
	if sr, ok := c.backend.(workshop.StatsReader); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if st, err := sr.SessionStats(ctx, sess.ID); err == nil {
			u := map[string]any{"memory_bytes": st.MemoryBytes, "containers": st.Containers}
			if st.HasCPUSeconds {
				u["cpu_seconds"] = st.CPUSeconds
			}
			if st.HasCPUMilli {
				u["cpu_millicores"] = st.CPUMilli
			}
			if st.MemoryLimitBytes > 0 {
				u["memory_limit_bytes"] = st.MemoryLimitBytes
			}
			if st.HasNetwork {
				u["network_rx_bytes"], u["network_tx_bytes"] = st.NetworkRxBytes, st.NetworkTxBytes
			}
			out.Usage = u
		}
	}
	writeJSON(w, http.StatusOK, out)
	return "ok"
}

// executeRequest is the body of POST .../execute (the runtime API, DESIGN.md).
type executeRequest struct {
	Command string `json:"command"`
	Timeout int64  `json:"timeout"` // milliseconds
}

type executeResponse struct {
	Stdout          string   `json:"stdout"`
	Stderr          string   `json:"stderr"`
	ExitCode        int      `json:"exit_code"`
	DurationMS      int64    `json:"duration_ms"`
	TimedOut        bool     `json:"timed_out"`
	StdoutTruncated bool     `json:"stdout_truncated,omitempty"`
	StderrTruncated bool     `json:"stderr_truncated,omitempty"`
	Killed          []string `json:"killed,omitempty"`
	KillError       string   `json:"kill_error,omitempty"`
}

// decodeBody reads a JSON body strictly (unknown fields refused); on failure it has
// answered.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("the body exceeds %d bytes", maxBodyBytes)})
			return false
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return false
	}
	return true
}

func (s *Server) apiExecute(w http.ResponseWriter, r *http.Request, c *apiCall) string {
	var req executeRequest
	if !decodeBody(w, r, &req) {
		return "bad_request"
	}
	if strings.TrimSpace(req.Command) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "command: must not be empty"})
		return "bad_request"
	}
	timeout := defaultExecTimeout
	if req.Timeout < 0 || time.Duration(req.Timeout)*time.Millisecond > maxExecTimeout {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("timeout: must be between 1 and %d milliseconds", maxExecTimeout.Milliseconds())})
		return "bad_request"
	}
	if req.Timeout > 0 {
		timeout = time.Duration(req.Timeout) * time.Millisecond
	}
	res, err := c.backend.Exec(r.Context(), c.session.ID, &workshop.ExecRequest{Command: []string{"/bin/sh", "-c", req.Command}, Timeout: timeout})
	rec := AuditRecord{Event: AuditExecute, Who: c.who, Remote: clientIP(r), Session: c.session.ID, Participant: c.session.Participant,
		Command: req.Command}
	if err != nil {
		rec.Result = "error"
		s.audit.Record(rec)
		s.log.Error("execute failed", "session", c.session.ID, "error", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "could not run the command: " + err.Error()})
		return "error"
	}
	rec.Result, rec.ExitCode, rec.DurationMS = "ok", intp(res.ExitCode), res.Duration.Milliseconds()
	if res.TimedOut {
		rec.Result = "timeout"
	}
	s.audit.Record(rec)
	writeJSON(w, http.StatusOK, executeResponse{
		Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode, DurationMS: res.Duration.Milliseconds(),
		TimedOut: res.TimedOut, StdoutTruncated: res.StdoutTruncated, StderrTruncated: res.StderrTruncated,
		Killed: res.Killed, KillError: res.KillError,
	})
	return "ok"
}

// checkJSON is one validation result. Output and stderr go to the API only: a
// participant sees the reason, not the grader's output.
type checkJSON struct {
	Name       string `json:"name"`
	Passed     bool   `json:"passed"`
	Reason     string `json:"reason,omitempty"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	Output     string `json:"output,omitempty"`
	Stderr     string `json:"stderr,omitempty"`
}

// runChecks runs the template's checks and records them.
func (s *Server) runChecks(ctx context.Context, a *access, who, remote string, withOutput bool) ([]checkJSON, int) {
	checks := s.validations(ctx, a)
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	start := time.Now()
	results := workshop.RunValidations(ctx, a.backend, a.session.ID, checks)
	out := make([]checkJSON, 0, len(results))
	passed, failed := 0, 0
	for _, r := range results {
		c := checkJSON{Name: r.Name, Passed: r.Passed, Reason: r.Reason, ExitCode: r.ExitCode, DurationMS: r.Duration.Milliseconds(), TimedOut: r.TimedOut}
		if withOutput {
			c.Output, c.Stderr = r.Output, r.Stderr
		}
		if r.Passed {
			passed++
			s.metrics.Validations.WithLabelValues("passed").Inc()
		} else {
			failed++
			s.metrics.Validations.WithLabelValues("failed").Inc()
		}
		out = append(out, c)
	}
	s.audit.Record(AuditRecord{Event: AuditValidate, Who: who, Remote: remote, Session: a.session.ID, Participant: a.session.Participant,
		Result: "ok", DurationMS: time.Since(start).Milliseconds(), Passed: intp(passed), Failed: intp(failed)})
	return out, failed
}

func (s *Server) apiValidate(w http.ResponseWriter, r *http.Request, c *apiCall) string {
	results, failed := s.runChecks(r.Context(), &access{backend: c.backend, session: c.session}, c.who, clientIP(r), true)
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "passed": failed == 0})
	return "ok"
}

// participantValidate is the page's "check my work".
func (s *Server) participantValidate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !s.sameOrigin(r) {
		s.fail(w, http.StatusForbidden, "cross-origin request refused", true)
		return
	}
	a, ok := s.participantAccess(w, r, true)
	if !ok {
		return
	}
	results, failed := s.runChecks(r.Context(), a, "participant", clientIP(r), false)
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "passed": failed == 0})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

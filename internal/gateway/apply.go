package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/applycheck"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const (
	opApply      = "apply"
	applyTimeout = 10 * time.Minute
)

// applyIDRE is an apply ID: the value of the nalabo.io/apply label.
var applyIDRE = regexp.MustCompile(`^[0-9a-f]{8,32}$`)

// applyRequest is the body of POST .../apply (the runtime API, DESIGN.md). ID is optional: an apply with the ID
// of an earlier one replaces what that one created (the gateway keeps no inventory).
type applyRequest struct {
	Configuration string `json:"configuration"`
	Type          string `json:"type"`
	ID            string `json:"id,omitempty"`
	Run           bool   `json:"run,omitempty"`
	ServiceName   string `json:"service_name,omitempty"`
}

type applyResponse struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Objects    []workshop.Object `json:"objects"`
	Image      string            `json:"image,omitempty"`
	DurationMS int64             `json:"duration_ms"`
	Replaced   bool              `json:"replaced,omitempty"`
}

// apiApply applies a Compose file, a Dockerfile or Kubernetes YAML to the session, with
// nalabo_apply's checks. The configuration arrives without a directory: compose files
// may not bind-mount or build, a Dockerfile builds with an empty context.
func (s *Server) apiApply(w http.ResponseWriter, r *http.Request, c *apiCall) string {
	var req applyRequest
	if !decodeBody(w, r, &req) {
		return "bad_request"
	}
	var problems []string
	if req.ID != "" && !applyIDRE.MatchString(req.ID) {
		problems = append(problems, "id: must be 8 to 32 lower-case hexadecimal characters")
	}
	if req.Type != workshop.ConfigDockerfile && (req.Run || req.ServiceName != "") {
		problems = append(problems, "run and service_name: apply to type dockerfile only")
	}
	if req.ServiceName != "" && workshop.ValidateTemplateName(req.ServiceName) != nil {
		problems = append(problems, "service_name: lower-case letters, digits and dashes")
	}
	for _, e := range applycheck.Remote(r.Context(), req.Type, req.Configuration) {
		problems = append(problems, e.Error())
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid configuration", "problems": problems})
		return "bad_request"
	}
	conf, ok := c.backend.(workshop.Configurator)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": fmt.Sprintf("the %s backend cannot apply configurations", c.backend.Type())})
		return "error"
	}
	id, replaced := req.ID, false
	ctx, cancel := context.WithTimeout(r.Context(), applyTimeout)
	defer cancel()
	start := time.Now()
	rec := AuditRecord{Event: AuditApply, Who: c.who, Remote: clientIP(r), Session: c.session.ID, Participant: c.session.Participant, Type: req.Type}
	if id == "" {
		id = newApplyID()
	} else {
		// Stateless: what an earlier apply with this ID created is found by its label.
		if err := conf.DeleteConfig(ctx, c.session.ID, &workshop.Inventory{ApplyID: id}); err != nil {
			rec.Result = "error"
			s.audit.Record(rec)
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "could not remove the earlier apply " + id + ": " + err.Error()})
			return "error"
		}
		replaced = true
	}
	rec.Command = "apply " + id
	inv, err := conf.ApplyConfig(ctx, c.session.ID, &workshop.Config{
		ID: id, Type: req.Type, Content: req.Configuration, Run: req.Run, ServiceName: req.ServiceName,
	}, nil)
	rec.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		rec.Result = "error"
		s.audit.Record(rec)
		s.log.Info("apply failed", "session", c.session.ID, "apply_id", id, "type", req.Type, "error", err)
		code := http.StatusBadGateway
		var fe *workshop.FieldError
		if errors.As(err, &fe) {
			code = http.StatusUnprocessableEntity
		}
		writeJSON(w, code, map[string]string{"error": strings.TrimSpace(err.Error()), "id": id})
		return "error"
	}
	rec.Result = "ok"
	s.audit.Record(rec)
	objs := inv.Objects
	if objs == nil {
		objs = []workshop.Object{}
	}
	writeJSON(w, http.StatusOK, applyResponse{ID: id, Type: req.Type, Objects: objs, Image: inv.Image,
		DurationMS: rec.DurationMS, Replaced: replaced})
	return "ok"
}

func newApplyID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

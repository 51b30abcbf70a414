package workshop

import (
	"strconv"
	"time"
)

// Label keys every object created by the provider carries (DESIGN.md, "Identity").
const (
	LabelPrefix      = "nalabo.io/"
	LabelManagedBy   = LabelPrefix + "managed-by"
	LabelSession     = LabelPrefix + "session"
	LabelParticipant = LabelPrefix + "participant"
	LabelTemplate    = LabelPrefix + "template"
	LabelExpiresAt   = LabelPrefix + "expires-at"
	// LabelRole says what an object is to its session: workspace, network, volume,
	// lease, template, image, service.
	LabelRole = LabelPrefix + "role"
	// LabelTemplateID carries the full template ID (name, digest) where it fits.
	LabelTemplateID = LabelPrefix + "template-id"
	// LabelBackend names the infrastructure type.
	LabelBackend = LabelPrefix + "backend"

	ManagedByValue = "terraform-provider-nalabo"
)

// Roles.
const (
	RoleWorkspace = "workspace"
	RoleService   = "service"
	RoleNetwork   = "network"
	RoleVolume    = "volume"
	RoleLease     = "lease"
	RoleTemplate  = "template"
	RoleImage     = "image"
)

// SessionObjectPrefix starts the name of a session's namespace and Docker workspace
// container, as the troubleshooting guide's commands expect
// (docker logs nalabo-session-xxx, kubectl top pods -n nalabo-session-xxx).
const SessionObjectPrefix = "nalabo-session-"

// SessionObjectName is nalabo-session-<id>.
func SessionObjectName(id string) string { return SessionObjectPrefix + id }

// VClusterReleaseName is vcluster-<id>.
func VClusterReleaseName(id string) string { return "vcluster-" + id }

// SessionLabels are the labels of every object a session owns.
func SessionLabels(id, participant, templateName string, expiresAt time.Time) map[string]string {
	return map[string]string{
		LabelManagedBy:   ManagedByValue,
		LabelSession:     id,
		LabelParticipant: participant,
		LabelTemplate:    templateName,
		LabelExpiresAt:   strconv.FormatInt(expiresAt.Unix(), 10),
	}
}

// WithLabels returns a copy of base with extra added (extra wins).
func WithLabels(base map[string]string, extra ...string) map[string]string {
	out := make(map[string]string, len(base)+len(extra)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		out[extra[i]] = extra[i+1]
	}
	return out
}

// ParseExpiresAt reads the expires-at label; ok is false when it is absent or malformed.
func ParseExpiresAt(labels map[string]string) (time.Time, bool) {
	v, ok := labels[LabelExpiresAt]
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

package workshop

import "context"

// Configuration types of nalabo_apply.
const (
	ConfigCompose    = "compose"
	ConfigDockerfile = "dockerfile"
	ConfigYAML       = "yaml"
)

// ConfigTypes lists the accepted configuration types.
var ConfigTypes = []string{ConfigCompose, ConfigDockerfile, ConfigYAML}

// LabelApply is the inventory label: every object an apply creates carries
// nalabo.io/apply=<apply id> besides the session's labels.
const LabelApply = LabelPrefix + "apply"

// RoleApplyImage is the role of an image built by a dockerfile apply.
const RoleApplyImage = "apply-image"

// Config is a configuration applied to a live session (nalabo_apply, the gateway's /apply).
type Config struct {
	// ID is the apply's ID (the inventory label's value): lower-case hex.
	ID string
	// Type is compose, dockerfile or yaml.
	Type string
	// Content is the Compose file, the Dockerfile or the multi-document YAML.
	Content string
	// ContextDir is the build context (dockerfile) or the directory relative paths
	// resolve against (compose).
	ContextDir string
	// Run (dockerfile only) runs the built image as a service named ServiceName.
	Run         bool
	ServiceName string
}

// Object is one object an apply manages.
type Object struct {
	Kind   string `json:"kind"`   // container, volume, image (Docker); a Kubernetes kind
	Name   string `json:"name"`   // the object's name
	Status string `json:"status"` // running, healthy, present, missing, ...
}

// Inventory is what an apply created, as the backend reports it.
type Inventory struct {
	ApplyID string
	Objects []Object
	// Image is the image a dockerfile apply built ("" otherwise).
	Image string
}

// Configurator is implemented by backends that apply configurations to live sessions.
// ApplyConfig creates or changes what cfg describes and prunes what prev holds that
// cfg no longer does; on failure it removes what this call created and returns the
// error. DeleteConfig removes what inv holds (and anything else labelled with the
// apply) and nothing else. ReadConfig reports what of inv is still there.
type Configurator interface {
	ApplyConfig(ctx context.Context, sessionID string, cfg *Config, prev *Inventory) (*Inventory, error)
	DeleteConfig(ctx context.Context, sessionID string, inv *Inventory) error
	ReadConfig(ctx context.Context, sessionID string, inv *Inventory) (*Inventory, error)
}

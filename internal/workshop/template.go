package workshop

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Template is a validated, content-addressed workshop definition.
type Template struct {
	// ID is "<infrastructure>.<name>.<digest[:12]>"; it changes whenever Digest does,
	// so sessions that reference it are replaced.
	ID             string             `json:"id,omitempty"`
	Name           string             `json:"name"`
	Infrastructure InfrastructureType `json:"infrastructure_type"`
	Isolation      Isolation          `json:"isolation,omitempty"` // kubernetes only
	Workspace      Workspace          `json:"workspace"`
	Manifests      string             `json:"manifests,omitempty"` // kubernetes, multi-document YAML
	Compose        string             `json:"compose,omitempty"`   // docker, a Compose file
	// ComposeDir is the directory the Compose file's relative paths resolve against
	// (build contexts, bind-mount sources); bind mounts from elsewhere are refused.
	ComposeDir string `json:"compose_directory,omitempty"`
	// ComposeBuilds maps each built Compose service to its build context's digest
	// (HashBuildContext), so that a changed file changes the template digest.
	ComposeBuilds map[string]string `json:"compose_builds,omitempty"`
	Resources     Resources         `json:"resources"`
	Duration      string            `json:"duration"`
	// PodSecurity is the Pod Security Standards level of session namespaces.
	PodSecurity string `json:"pod_security,omitempty"`
	// DockerInDocker runs the workspace privileged (opt-in, documented risk).
	DockerInDocker bool `json:"docker_in_docker,omitempty"`
	// Egress is what a docker session may reach outside itself; "" is EgressRestricted
	// (templates stored before the attribute existed).
	Egress Egress `json:"egress,omitempty"`
	// VClusterValues is YAML merged over the provider's vCluster chart values, last
	// (kubernetes templates with isolation "vcluster" only). Part of the digest.
	VClusterValues string `json:"vcluster_values,omitempty"`
	// PlacementConstraints are Swarm placement constraints of the session's services
	// ("node.labels.class==a"); swarm templates only. Part of the digest.
	PlacementConstraints []string `json:"placement_constraints,omitempty"`
	// NodeSelector, Tolerations and RuntimeClassName place the workspace pod of a
	// kubernetes session (GPU node pools); kubernetes templates only, part of the digest.
	NodeSelector     map[string]string `json:"node_selector,omitempty"`
	Tolerations      []Toleration      `json:"tolerations,omitempty"`
	RuntimeClassName string            `json:"runtime_class_name,omitempty"`
	// Validations are checks run in a session (not part of the digest: adding a
	// grading check must not replace a class's sessions).
	Validations []Validation `json:"validations,omitempty"`
	// Instructions are Markdown shown to participants on the gateway's page (not part
	// of the digest either: editing the text must not replace sessions).
	Instructions string `json:"instructions,omitempty"`
	// PrePull pulls the template's images onto every node at template create
	// (Kubernetes; not part of the digest: it changes no session).
	PrePull bool `json:"pre_pull,omitempty"`
	// WarmPool is how many sessions are kept started and unassigned (Kubernetes; not
	// part of the digest: resizing the pool changes no session).
	WarmPool int `json:"warm_pool,omitempty"`

	// Images maps every image reference the template uses to the image ID present on
	// the host after ApplyTemplate. Part of the digest.
	Images map[string]string `json:"images,omitempty"`
	// Digest is the sha256 of everything that shapes a session.
	Digest string `json:"digest,omitempty"`
	// Owner identifies the Terraform resource instance that stored this copy of the
	// template (TemplateOwnerLen lower-case hex, part of the ID): two states declaring
	// the same template each own a copy, and only its owner removes it. "" marks a
	// template stored before ownership existed (shared, legacy digest rules).
	Owner string `json:"owner,omitempty"`
}

// Egress is what a docker session may reach outside itself.
type Egress string

// Egress modes.
const (
	// EgressRestricted (the default): DNS and the internet, not the denied ranges (cloud
	// metadata by default), the Docker host itself, nor other sessions.
	EgressRestricted Egress = "restricted"
	// EgressOpen: no rule of ours (Docker's default bridge behaviour).
	EgressOpen Egress = "open"
	// EgressNone: an internal network, no route out at all and no published ports.
	EgressNone Egress = "none"
)

// Egresses lists the accepted values.
var Egresses = []string{string(EgressRestricted), string(EgressOpen), string(EgressNone)}

// EffectiveEgress is the template's egress mode, restricted when unset.
func (t *Template) EffectiveEgress() Egress {
	if t.Egress == "" {
		return EgressRestricted
	}
	return t.Egress
}

// Workspace is the participant's main container.
type Workspace struct {
	Image      string            `json:"image,omitempty"`
	Build      *Build            `json:"build,omitempty"`
	Command    []string          `json:"command,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	User       string            `json:"user,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	// Ports are container ports published on the backend's bind address.
	Ports []int `json:"ports,omitempty"`
}

// Build is a Dockerfile build context on the machine running Terraform.
type Build struct {
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile,omitempty"` // relative to Context, default "Dockerfile"
	Args       map[string]string `json:"args,omitempty"`
	// ContextDigest is the sha256 of the context's files, so that a changed file
	// changes the template digest. Computed by the provider (HashBuildContext).
	ContextDigest string `json:"context_digest,omitempty"`
}

// Validation is one check of a template.
type Validation struct {
	Name             string   `json:"name"`
	Command          []string `json:"command"`
	ExpectedExitCode int      `json:"expected_exit_code"`
	OutputPattern    string   `json:"output_pattern,omitempty"` // a Go regexp matched against stdout
	Timeout          string   `json:"timeout,omitempty"`
}

// BuiltImageTag is the tag a template's built workspace image gets.
func BuiltImageTag(templateName, contextDigest string) string {
	d := contextDigest
	if len(d) > 12 {
		d = d[:12]
	}
	return "nalabo/" + templateName + ":" + d
}

// WorkspaceImage returns the image reference sessions run: the image, or the tag of the
// built image.
func (t *Template) WorkspaceImage() string {
	if t.Workspace.Build != nil {
		return BuiltImageTag(t.Name, t.Workspace.Build.ContextDigest)
	}
	return t.Workspace.Image
}

// Validate checks what can be checked without a backend. Errors name the attribute.
func (t *Template) Validate() error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if err := ValidateTemplateName(t.Name); err != nil {
		add("name", "%v", err)
	}
	if t.Infrastructure != InfraSwarm && len(t.PlacementConstraints) > 0 {
		add("placement_constraints", "applies to swarm templates only; this template has infrastructure_type %q", t.Infrastructure)
	}
	errs = append(errs, t.ValidateScheduling()...)
	switch t.Infrastructure {
	case InfraSwarm:
		errs = append(errs, t.validateSwarm()...)
	case InfraDocker:
		if t.Isolation != "" {
			add("isolation", "applies to kubernetes templates only")
		}
		if t.Manifests != "" {
			add("manifests", "applies to kubernetes templates only; docker templates use compose")
		}
		if t.ComposeDir != "" && t.Compose == "" {
			add("compose_directory", "applies only with compose")
		}
		if t.VClusterValues != "" {
			add("vcluster_values", "applies to kubernetes templates with isolation \"vcluster\" only")
		}
		if !slices.Contains(Egresses, string(t.Egress)) && t.Egress != "" {
			add("egress", "must be one of %s, got %q", strings.Join(Egresses, ", "), t.Egress)
		}
		if t.Egress == EgressNone && len(t.Workspace.Ports) > 0 {
			add("workspace.ports", "egress = \"none\" puts the session on an internal network, where no port can be published; remove the ports or choose egress \"restricted\"")
		}
	case InfraKubernetes:
		if t.Compose != "" {
			add("compose", "applies to docker templates only; kubernetes templates use manifests")
		}
		if t.Workspace.Build != nil {
			add("workspace.build", "is supported for docker templates only; give workspace.image")
		}
		if t.Egress != "" {
			add("egress", "applies to docker templates only (kubernetes sessions' traffic is governed by NetworkPolicy)")
		}
		// An empty isolation is the kubernetes default, vcluster.
		if t.VClusterValues != "" && t.Isolation != "" && t.Isolation != IsolationVCluster {
			add("vcluster_values", "applies to isolation \"vcluster\" only; this template has isolation %q", t.Isolation)
		}
	default:
		add("infrastructure_type", "must be one of %s, got %q", strings.Join(InfrastructureTypes, ", "), t.Infrastructure)
	}
	if (t.Workspace.Image == "") == (t.Workspace.Build == nil) {
		add("workspace", "exactly one of image or build must be set")
	}
	if _, err := t.Resources.Parse(); err != nil {
		add("resources", "%v", err)
	}
	if t.Duration != "" {
		if _, err := ParseSessionDuration(t.Duration); err != nil {
			add("duration", "%v", err)
		}
	}
	if err := ValidateEnv("workspace.env", t.Workspace.Env); err != nil {
		errs = append(errs, err)
	}
	if err := t.ValidatePaths(nil); err != nil {
		errs = append(errs, err)
	}
	for _, p := range t.Workspace.Ports {
		if p < 1 || p > 65535 {
			add("workspace.ports", "%d is not a port number (1-65535)", p)
		}
	}
	seen := map[string]bool{}
	for i, v := range t.Validations {
		path := fmt.Sprintf("validations[%d]", i)
		if v.Name == "" {
			add(path+".name", "must not be empty")
		} else if seen[v.Name] {
			add(path+".name", "%q is used by another validation", v.Name)
		}
		seen[v.Name] = true
		if len(v.Command) == 0 {
			add(path+".command", "must not be empty")
		}
		if v.Timeout != "" {
			if _, err := ParseDuration(v.Timeout); err != nil {
				add(path+".timeout", "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// FieldError is an error about one attribute of a resource; Path uses HCL names
// ("workspace.image", "validations[0].timeout").
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// TemplateOwnerLen is the length of a template owner (lower-case hex).
const TemplateOwnerLen = 8

// TemplateID builds "<infrastructure>.<name>.<first 12 hex of digest>[.<owner>]".
func TemplateID(infra InfrastructureType, name, digest, owner string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	id := string(infra) + "." + name + "." + d
	if owner != "" {
		id += "." + owner
	}
	return id
}

// ParseTemplateID splits a template ID into its infrastructure, name and storage key:
// the digest prefix, followed by "-<owner>" for an owned template. The key names the
// stored copy (nalabo-template-<name>-<key>).
func ParseTemplateID(id string) (infra InfrastructureType, name, key string, err error) {
	parts := strings.Split(id, ".")
	ok := (len(parts) == 3 || len(parts) == 4) &&
		slices.Contains(InfrastructureTypes, parts[0]) &&
		ValidateTemplateName(parts[1]) == nil && len(parts[2]) == 12 && isLowerHex(parts[2]) &&
		(len(parts) == 3 || ValidateTemplateOwner(parts[3]) == nil)
	if !ok {
		return "", "", "", fmt.Errorf("%q is not a template ID (expected <infrastructure>.<name>.<digest>.<owner>, as in nalabo_workshop_template.<name>.id)", id)
	}
	key = parts[2]
	if len(parts) == 4 {
		key += "-" + parts[3]
	}
	return InfrastructureType(parts[0]), parts[1], key, nil
}

// TemplateOwnerOf returns the owner part of a template ID ("" for a legacy or invalid ID).
func TemplateOwnerOf(id string) string {
	if _, _, _, err := ParseTemplateID(id); err != nil {
		return ""
	}
	if parts := strings.Split(id, "."); len(parts) == 4 {
		return parts[3]
	}
	return ""
}

// NewTemplateOwner returns a random owner for a template resource instance.
func NewTemplateOwner() string {
	b := make([]byte, TemplateOwnerLen/2)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// ValidateTemplateOwner checks an owner: TemplateOwnerLen lower-case hex digits.
func ValidateTemplateOwner(s string) error {
	if len(s) != TemplateOwnerLen || !isLowerHex(s) {
		return fmt.Errorf("template owner %q must be %d lower-case hex digits", s, TemplateOwnerLen)
	}
	return nil
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

package workshop

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// InfrastructureType is "docker", "kubernetes" or "swarm".
type InfrastructureType string

const (
	InfraDocker     InfrastructureType = "docker"
	InfraKubernetes InfrastructureType = "kubernetes"
	// InfraSwarm runs Docker sessions as Swarm services: a class beyond one host.
	InfraSwarm InfrastructureType = "swarm"
)

// InfrastructureTypes lists the accepted values, for validators and docs.
var InfrastructureTypes = []string{string(InfraDocker), string(InfraKubernetes), string(InfraSwarm)}

// Isolation is the Kubernetes isolation mode.
type Isolation string

const (
	IsolationVCluster  Isolation = "vcluster"
	IsolationNamespace Isolation = "namespace"
)

// Isolations lists the accepted values.
var Isolations = []string{string(IsolationVCluster), string(IsolationNamespace)}

// Resources are Kubernetes quantity strings ("1000m", "2Gi"). Empty means "inherit".
type Resources struct {
	CPU     string `json:"cpu,omitempty"`
	Memory  string `json:"memory,omitempty"`
	Storage string `json:"storage,omitempty"`
	// GPU is a count of whole GPUs ("1"; "0" turns off a template's GPU); empty
	// inherits, and none means no GPU (resources_gpu.go).
	GPU string `json:"gpu,omitempty"`
	// GPUResource is the GPU's extended resource name; empty inherits, and a session
	// with GPUs and no name gets DefaultGPUResource.
	GPUResource string `json:"gpu_resource,omitempty"`
}

// DefaultResources are the seed's defaults per backend.
func DefaultResources(infra InfrastructureType) Resources {
	if infra == InfraKubernetes {
		return Resources{CPU: "2000m", Memory: "4Gi", Storage: "20Gi"}
	}
	return Resources{CPU: "1000m", Memory: "2Gi", Storage: "10Gi"}
}

// DefaultDuration is the seed's session lifetime.
const DefaultDuration = "4h"

// Over returns r with every empty field taken from base.
func (r Resources) Over(base Resources) Resources {
	if r.CPU == "" {
		r.CPU = base.CPU
	}
	if r.Memory == "" {
		r.Memory = base.Memory
	}
	if r.Storage == "" {
		r.Storage = base.Storage
	}
	if r.GPU == "" {
		r.GPU = base.GPU
	}
	if r.GPUResource == "" {
		r.GPUResource = base.GPUResource
	}
	return r
}

// ParsedResources are resources in base units.
type ParsedResources struct {
	MilliCPU     int64
	MemoryBytes  int64
	StorageBytes int64
	// GPUs is the count of whole GPUs (0: none) and GPUResource their extended
	// resource name (DefaultGPUResource when GPUs > 0 and none was given).
	GPUs        int64
	GPUResource string
}

// Parse parses every non-empty field; an empty field parses to zero.
func (r Resources) Parse() (ParsedResources, error) {
	var p ParsedResources
	var err error
	if r.CPU != "" {
		if p.MilliCPU, err = ParseCPU(r.CPU); err != nil {
			return p, fmt.Errorf("cpu: %w", err)
		}
	}
	if r.Memory != "" {
		if p.MemoryBytes, err = ParseMemory(r.Memory); err != nil {
			return p, fmt.Errorf("memory: %w", err)
		}
	}
	if r.Storage != "" {
		if p.StorageBytes, err = ParseStorage(r.Storage); err != nil {
			return p, fmt.Errorf("storage: %w", err)
		}
	}
	if p.GPUs, p.GPUResource, err = r.parseGPU(); err != nil {
		return p, err
	}
	return p, nil
}

// Minimums the backends can honour.
const (
	MinMilliCPU    = 10
	MinMemoryBytes = 6 * 1024 * 1024 // Docker refuses less than 6 MiB
	MinStorage     = 64 * 1024 * 1024
)

func parseQuantity(s string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(strings.TrimSpace(s))
	if err != nil {
		return q, fmt.Errorf("%q is not a Kubernetes quantity (examples: \"500m\", \"2\", \"512Mi\", \"4Gi\")", s)
	}
	if q.Sign() <= 0 {
		return q, fmt.Errorf("%q must be greater than zero", s)
	}
	return q, nil
}

// maxBytes is the largest byte count a limit can hold.
var maxBytes = resource.NewQuantity(math.MaxInt64, resource.BinarySI)

// asBytes is q in bytes, false when it does not fit an int64.
func asBytes(q resource.Quantity) (int64, bool) {
	if q.Cmp(*maxBytes) > 0 {
		return 0, false
	}
	return q.Value(), true
}

// ParseCPU parses a CPU quantity ("500m", "1.5", "2") into millicores.
func ParseCPU(s string) (int64, error) {
	q, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	m := q.MilliValue()
	if m < MinMilliCPU {
		return 0, fmt.Errorf("%q is below the minimum of %dm", s, MinMilliCPU)
	}
	return m, nil
}

// ParseMemory parses a memory quantity ("512Mi", "2Gi") into bytes.
func ParseMemory(s string) (int64, error) {
	q, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	if q.MilliValue()%1000 != 0 {
		return 0, fmt.Errorf("%q is a fraction of a byte; did you mean %sMi? (\"m\" means milli)", s, strings.TrimSuffix(s, "m"))
	}
	v, ok := asBytes(q)
	if !ok {
		// Value() would saturate: never let an absurd figure become "no limit".
		return 0, fmt.Errorf("%q is too large to be a memory limit", s)
	}
	if v < MinMemoryBytes {
		return 0, fmt.Errorf("%q is below the minimum of 6Mi", s)
	}
	return v, nil
}

// ParseStorage parses a storage quantity into bytes.
func ParseStorage(s string) (int64, error) {
	q, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	if q.MilliValue()%1000 != 0 {
		return 0, fmt.Errorf("%q is a fraction of a byte; did you mean %sMi? (\"m\" means milli)", s, strings.TrimSuffix(s, "m"))
	}
	v, ok := asBytes(q)
	if !ok {
		return 0, fmt.Errorf("%q is too large to be a storage size", s)
	}
	if v < MinStorage {
		return 0, fmt.Errorf("%q is below the minimum of 64Mi", s)
	}
	return v, nil
}

// SameQuantity reports whether two quantity strings are equal in value ("1" == "1000m").
func SameQuantity(a, b string) bool {
	qa, errA := resource.ParseQuantity(a)
	qb, errB := resource.ParseQuantity(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return qa.Cmp(qb) == 0
}

// FormatMilliCPU renders millicores the way a user writes them ("500m", "2000m").
func FormatMilliCPU(m int64) string { return fmt.Sprintf("%dm", m) }

// FormatBytes renders bytes as the largest exact binary unit ("2Gi", "512Mi", "1000").
func FormatBytes(b int64) string {
	return resource.NewQuantity(b, resource.BinarySI).String()
}

// Durations: Go syntax ("90m", "4h", "1h30m") plus a "d" day suffix ("2d").
const (
	MinDuration = time.Minute
	MaxDuration = 90 * 24 * time.Hour
)

var dayRE = regexp.MustCompile(`^(\d+)d(.*)$`)

// ParseDuration parses a session duration or timeout.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	var days time.Duration
	if m := dayRE.FindStringSubmatch(in); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 { // out of range; the caller's bounds say more
			return 0, fmt.Errorf("%q is not a duration (examples: \"90m\", \"4h\", \"1h30m\", \"2d\")", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		in = m[2]
		if in == "" {
			in = "0s"
		}
	}
	d, err := time.ParseDuration(in)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (examples: \"90m\", \"4h\", \"1h30m\", \"2d\")", s)
	}
	d += days
	if d <= 0 {
		return 0, fmt.Errorf("%q must be greater than zero", s)
	}
	return d, nil
}

// ParseSessionDuration parses a session lifetime and checks its bounds.
func ParseSessionDuration(s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < MinDuration {
		return 0, fmt.Errorf("%q is shorter than the minimum of 1m", s)
	}
	if d > MaxDuration {
		return 0, fmt.Errorf("%q is longer than the maximum of 90d", s)
	}
	return d, nil
}

// Names.
var (
	// A template name is a DNS label: it becomes part of object names and labels.
	templateNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// A participant is a label value.
	labelValueRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$`)
	// A session ID is lower-case hex, see NewSessionID.
	sessionIDRE = regexp.MustCompile(`^[a-z0-9]{4,32}$`)
)

// ValidateTemplateName checks a template name.
func ValidateTemplateName(s string) error {
	if !templateNameRE.MatchString(s) {
		return fmt.Errorf("%q must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit", s)
	}
	return nil
}

// ValidateParticipant checks a participant name (it becomes a label value).
func ValidateParticipant(s string) error {
	if !labelValueRE.MatchString(s) {
		return fmt.Errorf("%q must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (it becomes the label nalabo.io/participant)", s)
	}
	return nil
}

// ValidateSessionID checks a session ID given by a user (import, nalabo_exec).
func ValidateSessionID(s string) error {
	if !sessionIDRE.MatchString(s) {
		return fmt.Errorf("%q is not a session ID (lower-case letters and digits, as in nalabo_workshop_session.<name>.id)", s)
	}
	return nil
}

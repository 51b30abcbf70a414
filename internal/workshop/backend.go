// Package workshop holds the domain of Nalabo: templates, sessions, resources, labels,
// exec requests and the Backend interface (see DESIGN.md, "The Backend contract").
//
// It imports neither Terraform nor Docker nor Kubernetes client packages: the provider
// layer translates HCL into these types, a backend translates them into API calls.
package workshop

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) by a Backend when a template or session does not
// exist. Callers test it with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrForbidden is returned (wrapped) when the backend's identity may not do what an
// optional step needs (a least-privilege reconciler cannot start warm pool entries):
// the caller skips the step instead of failing.
var ErrForbidden = errors.New("forbidden")

// Backend is one kind of infrastructure (Docker, Kubernetes, later Nomad). Every method
// is safe for concurrent use: Terraform calls them from many goroutines at once.
type Backend interface {
	// Type names the infrastructure this backend serves.
	Type() InfrastructureType

	// Ping checks that the infrastructure answers and returns what it says about itself.
	Ping(ctx context.Context) (*Info, error)

	// ApplyTemplate makes a template usable: it validates what only the backend can
	// validate, makes every image the template names present (pull once with registry
	// auth, or build), seals the template (SealTemplate: digest and ID) and stores it so
	// that sessions (and the reconciler) can find it by ID. It returns the sealed
	// template. Applying the same template twice is a no-op apart from re-storing it.
	// The copy is t.Owner's (the owner is part of the ID): copies of one template with
	// different owners are separate objects.
	ApplyTemplate(ctx context.Context, t *Template) (*Template, error)

	// GetTemplate returns a stored template copy, or an error wrapping ErrNotFound.
	GetTemplate(ctx context.Context, id string) (*Template, error)

	// DeleteTemplate removes one stored copy, and what it built (images it built and
	// labelled) unless another copy still names it. Pulled images stay. Deleting a
	// missing template is not an error.
	DeleteTemplate(ctx context.Context, id string) error

	// CreateSession builds one participant's environment and waits until it is ready
	// (or ctx ends). On failure it removes whatever it created before returning.
	CreateSession(ctx context.Context, spec *SessionSpec) (*Session, error)

	// GetSession reads a session's live state by ID without listing unrelated objects.
	// A session whose workspace or network is gone returns an error wrapping ErrNotFound.
	GetSession(ctx context.Context, id string) (*Session, error)

	// UpdateSession changes resources and expiry in place.
	UpdateSession(ctx context.Context, id string, spec *SessionSpec) (*Session, error)

	// DeleteSession removes everything the session owns and waits until it is gone.
	// Deleting a missing session is not an error.
	DeleteSession(ctx context.Context, id string) error

	// ListSessions lists every session of which any labelled object is left, complete
	// or not (for the reconciler): a session without its workspace has status
	// "degraded", one whose create never finished is Incomplete.
	ListSessions(ctx context.Context) ([]*Session, error)

	// Exec runs a command in a session's container (the workspace by default).
	Exec(ctx context.Context, sessionID string, req *ExecRequest) (*ExecResult, error)
}

// Reacher is implemented by a backend whose Ping is costly because it adds up what
// every session reserves (the Docker backend inspects each session container). Reach
// only checks that the infrastructure answers; the provider pings in full when class
// admission needs the figures, so that a no-change plan of a class does not.
type Reacher interface {
	Reach(ctx context.Context) error
}

// LeftoverReaper is implemented by a backend that creates short-lived objects outside
// sessions (the Kubernetes backend's pre-pull DaemonSets). ReapLeftovers removes the
// ones a killed process left behind (nobody looks after them any more) and says how
// many; the reconciler calls it every pass.
type LeftoverReaper interface {
	ReapLeftovers(ctx context.Context) (int, error)
}

// Info is what a backend reports about itself (the nalabo_infrastructure data source,
// the reconciler's /readyz and capacity metrics).
type Info struct {
	Type          InfrastructureType `json:"type"`
	Endpoint      string             `json:"endpoint"`
	ServerVersion string             `json:"server_version"`
	APIVersion    string             `json:"api_version"`
	// CPU and memory the host can give (millicores, bytes) and what sessions reserve.
	AllocatableMilliCPU int64 `json:"allocatable_millicpu"`
	AllocatableMemory   int64 `json:"allocatable_memory"`
	UsedMilliCPU        int64 `json:"used_millicpu"`
	UsedMemory          int64 `json:"used_memory"`
	Sessions            int   `json:"sessions"`
	// StoppedSessions are the persistent sessions among Sessions that are stopped in
	// place: they reserve nothing while stopped (Used* leaves them out; on Kubernetes
	// it counts only what the template's workloads still request in their namespace).
	StoppedSessions int `json:"stopped_sessions"`
	// Warm pools: free entries (counted in Sessions and Used* too) and what they reserve.
	PoolFree         int   `json:"pool_free"`
	PoolFreeMilliCPU int64 `json:"pool_free_millicpu"`
	PoolFreeMemory   int64 `json:"pool_free_memory"`
	// GPUs by extended resource name (nvidia.com/gpu): what the nodes advertise and what
	// sessions' quotas reserve. Nil where the backend cannot tell (Docker): not checked.
	AllocatableGPUs map[string]int64 `json:"allocatable_gpus,omitempty"`
	UsedGPUs        map[string]int64 `json:"used_gpus,omitempty"`
	// Details is backend specific (storage driver, cgroup driver, ...).
	Details map[string]string `json:"details,omitempty"`
}

// SessionSpec is what a backend needs to create or update a session.
type SessionSpec struct {
	ID          string    // short ID, see NewSessionID
	Template    *Template // the stored, sealed template
	Participant string
	Resources   Resources // effective: session > template > backend defaults
	CreatedAt   time.Time
	Duration    time.Duration
	ExpiresAt   time.Time
	// Persistence: nil for a session whose data goes with it (persistence.go).
	Persistence *Persistence
	// Pool is PoolFree for a warm pool entry (no participant, no expiry), PoolCold for a
	// session of a pooled template created cold; "" otherwise.
	Pool string
}

// Labels returns the labels every object of this session carries (the persistence
// labels included: the reconciler reads them from any object). A free warm pool entry
// has neither participant nor expiry, and carries its pool's labels instead.
func (s *SessionSpec) Labels() map[string]string {
	l := WithLabels(SessionLabels(s.ID, s.Participant, s.Template.Name, s.ExpiresAt), s.Persistence.Labels()...)
	if s.Pool == PoolFree {
		delete(l, LabelParticipant)
		delete(l, LabelExpiresAt)
		l[LabelPool] = PoolFree
		l[LabelPoolKey] = PoolKey(s.Template.ID)
	}
	return l
}

// Session statuses.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusUnhealthy = "unhealthy"
	StatusStopped   = "stopped"
	StatusExpired   = "expired"
	StatusFailed    = "failed"
	// StatusDegraded: some of the session's objects are gone (its workspace container
	// or its network was removed outside Terraform); the session needs re-creating.
	StatusDegraded = "degraded"
)

// Session is the live state of one participant's environment.
type Session struct {
	ID             string
	Infrastructure InfrastructureType
	TemplateID     string
	TemplateName   string
	Participant    string
	Status         string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	// Resources as the backend enforces them now (drift shows here).
	Resources Resources
	// StorageEnforced tells whether the storage cap is enforced by the backend.
	StorageEnforced bool
	// Names of what the session created.
	WorkspaceName string   // container (Docker) or pod (Kubernetes)
	NetworkName   string   // Docker network
	Namespace     string   // Kubernetes namespace
	Volumes       []string // Docker volumes
	Containers    []string // every container of the session, workspace first
	// Access details.
	Ports      []Port
	Kubeconfig string // sensitive
	// VCluster is what a vcluster session's control plane was installed with; nil for
	// Docker and namespace sessions.
	VCluster *VClusterState
	// Incomplete: the session's create has not finished (it is still running, or it
	// was cut short by a crash). It is never adopted; the reconciler removes it once
	// it is older than its remnant grace period.
	Incomplete bool
	// Claimed: a Terraform state holds the session (the provider read it from one).
	// A create never adopts a claimed session.
	Claimed bool
	// Persistence is read from the session's labels: nil when it has no persistent home.
	Persistence *Persistence
	// Stopped: the session's workspace does not run (stopped in place, or its
	// containers exited). Status may say more (expired, over_quota).
	Stopped bool
	// StoppedAt: when a session whose Persistence pauses its expiry was stopped before
	// its expiry (zero otherwise, and once it resumes); see ExpiryPaused.
	StoppedAt time.Time
	// Pool is the session's warm-pool label (PoolFree, PoolClaimed, PoolCold,
	// PoolDraining) or "". A free entry has no participant and is nobody's session.
	Pool string
}

// VClusterState fingerprints a session's vCluster release: what decides whether a
// configuration change is a Helm upgrade in place or needs a new session.
type VClusterState struct {
	// Release is the Helm release, vcluster-<id>.
	Release string
	// Chart is "<repository>/<name>@<version>", or the local chart path.
	Chart string
	// ValuesSHA256 is the hex SHA-256 of the session-independent chart values: equal for
	// every session of one template under one provider configuration.
	ValuesSHA256 string
	// Persistence is "" when the virtual cluster's data lives in an emptyDir, else the
	// claim's size, with "/<storage class>" when one is named ("1Gi", "1Gi/local-path").
	Persistence string
	// BackingStore is the virtual cluster's data store: "sqlite", "etcd-embedded",
	// "etcd-deploy", "etcd-external" or "database-external".
	BackingStore string
}

// Port is a published port of a session.
type Port struct {
	Container     string `json:"container"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
}

// ExecRequest is a command to run in a session.
type ExecRequest struct {
	Command    []string          // argv; a shell script arrives as ["/bin/sh", "-c", script]
	Container  string            // "" means the workspace
	Env        map[string]string // extra environment
	WorkingDir string
	User       string
	Timeout    time.Duration
	// MaxOutputBytes bounds stdout and stderr each; 0 means DefaultMaxOutputBytes.
	MaxOutputBytes int
}

// ExecResult is what a command produced.
type ExecResult struct {
	ExitCode        int
	Stdout          string
	Stderr          string
	StdoutTruncated bool
	StderrTruncated bool
	Duration        time.Duration
	TimedOut        bool
	// After a timeout or cancellation the backend kills every process of the command
	// (see ExecMarkerEnv): KillAttempted says it tried, Killed names each process it
	// killed (sorted), KillError what it could not do ("" when nothing is left).
	KillAttempted bool
	Killed        []string
	KillError     string
}

package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Audit events.
const (
	AuditAccess        = "access"
	AuditTerminalStart = "terminal_start"
	AuditTerminalEnd   = "terminal_end"
	AuditExecute       = "execute"
	AuditValidate      = "validate"
	AuditPort          = "port"
	AuditApply         = "apply"
)

// AuditRecord is one line of the audit trail. Who is "participant" (a token holder) or
// "api:<key name>"; never a token or key.
type AuditRecord struct {
	Time        time.Time `json:"time"`
	Audit       bool      `json:"audit"` // always true: tells audit lines from logs in one stream
	Event       string    `json:"event"`
	Who         string    `json:"who"`
	Remote      string    `json:"remote,omitempty"`
	Session     string    `json:"session"`
	Participant string    `json:"participant,omitempty"`
	Result      string    `json:"result"`
	Command     string    `json:"command,omitempty"`
	Port        string    `json:"port,omitempty"` // "<service>:<port>" of a web port
	Type        string    `json:"type,omitempty"` // an apply's configuration type
	ExitCode    *int      `json:"exit_code,omitempty"`
	DurationMS  int64     `json:"duration_ms,omitempty"`
	BytesIn     int64     `json:"bytes_in,omitempty"`
	BytesOut    int64     `json:"bytes_out,omitempty"`
	Passed      *int      `json:"passed,omitempty"`
	Failed      *int      `json:"failed,omitempty"`
}

// Auditor writes one JSON line per record.
type Auditor struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

// NewAuditor writes records to out (stdout in production).
func NewAuditor(out io.Writer) *Auditor { return &Auditor{out: out, now: time.Now} }

// Record writes r, stamped now.
func (a *Auditor) Record(r AuditRecord) {
	if a == nil || a.out == nil {
		return
	}
	r.Time, r.Audit = a.now().UTC(), true
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.out.Write(append(b, '\n'))
}

func intp(v int) *int { return &v }

// OpenAuditOutput returns where audit records go: stdout, and the file when one is
// named (opened for appending, created 0600: records name participants and commands).
// With O_APPEND every record lands whole at the end, so logrotate's copytruncate and
// several writers are safe. closeFn closes the file.
func OpenAuditOutput(stdout io.Writer, file string) (out io.Writer, closeFn func() error, err error) {
	if file == "" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-file: %w", err)
	}
	return io.MultiWriter(stdout, f), f.Close, nil
}

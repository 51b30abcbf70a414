package provider

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// fakeBackend is an in-memory workshop.Backend for fast unit tests of the plan and
// CRUD logic. The acceptance tests run the real Docker backend.
type fakeBackend struct {
	mu        sync.Mutex
	templates map[string]*workshop.Template
	sessions  map[string]*workshop.Session
	execs     []*workshop.ExecRequest
	execFn    func(*workshop.ExecRequest) *workshop.ExecResult
	// images resolves image references (default "sha256:<ref>").
	images map[string]string
	// updates counts UpdateSession calls.
	updates int
}

var _ workshop.Backend = (*fakeBackend)(nil)

func newFakeBackend() *fakeBackend {
	return &fakeBackend{templates: map[string]*workshop.Template{}, sessions: map[string]*workshop.Session{}, images: map[string]string{}}
}

func (f *fakeBackend) Type() workshop.InfrastructureType { return workshop.InfraDocker }
func (f *fakeBackend) Ping(context.Context) (*workshop.Info, error) {
	return &workshop.Info{Type: workshop.InfraDocker}, nil
}

func (f *fakeBackend) ApplyTemplate(_ context.Context, t *workshop.Template) (*workshop.Template, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *t
	ref := c.WorkspaceImage()
	id := f.images[ref]
	if id == "" {
		id = "sha256:" + ref
	}
	c.Images = map[string]string{ref: id}
	workshop.SealTemplate(&c)
	f.templates[c.ID] = &c
	out := c
	return &out, nil
}

func (f *fakeBackend) GetTemplate(_ context.Context, id string) (*workshop.Template, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.templates[id]
	if !ok {
		return nil, fmt.Errorf("template %s: %w", id, workshop.ErrNotFound)
	}
	c := *t
	return &c, nil
}

func (f *fakeBackend) DeleteTemplate(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.templates, id)
	return nil
}

func (f *fakeBackend) CreateSession(_ context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	p, err := spec.Resources.Parse()
	if err != nil {
		return nil, err
	}
	s := &workshop.Session{
		ID: spec.ID, Infrastructure: workshop.InfraDocker, TemplateID: spec.Template.ID, TemplateName: spec.Template.Name,
		Participant: spec.Participant, Status: workshop.StatusRunning,
		CreatedAt: spec.CreatedAt.Add(300e6), ExpiresAt: spec.ExpiresAt,
		Resources: workshop.Resources{
			CPU: workshop.FormatMilliCPU(p.MilliCPU), Memory: workshop.FormatBytes(p.MemoryBytes), Storage: spec.Resources.Storage,
		},
		WorkspaceName: workshop.SessionObjectName(spec.ID), NetworkName: "nalabo-network-" + spec.ID,
		Containers: []string{workshop.SessionObjectName(spec.ID)},
	}
	f.mu.Lock()
	f.sessions[s.ID] = s
	f.mu.Unlock()
	c := *s
	return &c, nil
}

func (f *fakeBackend) GetSession(_ context.Context, id string) (*workshop.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return nil, fmt.Errorf("session %s: %w", id, workshop.ErrNotFound)
	}
	c := *s
	return &c, nil
}

func (f *fakeBackend) UpdateSession(_ context.Context, id string, spec *workshop.SessionSpec) (*workshop.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates++
	s, ok := f.sessions[id]
	if !ok {
		return nil, fmt.Errorf("session %s: %w", id, workshop.ErrNotFound)
	}
	p, err := spec.Resources.Parse()
	if err != nil {
		return nil, err
	}
	s.Resources.CPU = workshop.FormatMilliCPU(p.MilliCPU)
	s.Resources.Memory = workshop.FormatBytes(p.MemoryBytes)
	s.ExpiresAt = spec.ExpiresAt
	c := *s
	return &c, nil
}

func (f *fakeBackend) DeleteSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, id)
	return nil
}

func (f *fakeBackend) ListSessions(context.Context) ([]*workshop.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*workshop.Session
	for _, s := range f.sessions {
		c := *s
		out = append(out, &c)
	}
	return out, nil
}

func (f *fakeBackend) Exec(_ context.Context, id string, req *workshop.ExecRequest) (*workshop.ExecResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sessions[id]; !ok {
		return nil, fmt.Errorf("session %s: %w", id, workshop.ErrNotFound)
	}
	f.execs = append(f.execs, req)
	if f.execFn != nil {
		return f.execFn(req), nil
	}
	return &workshop.ExecResult{Stdout: "ok\n"}, nil
}

// fakeProviderData wires a fake backend as the Docker backend.
func fakeProviderData(f *fakeBackend) *providerData {
	return &providerData{docker: newLazyBackend("docker", func() (backendImpl, error) { return f, nil }, "fake://docker")}
}

// --- tfsdk plumbing: models in, models out ---

func schemaOf(t *testing.T, r resource.Resource) resource.SchemaResponse {
	t.Helper()
	var resp resource.SchemaResponse
	r.Schema(context.Background(), resource.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("schema: %v", resp.Diagnostics)
	}
	return resp
}

// rawOf turns a model into a raw value of the schema's type (nil model: null object).
func rawOf(t *testing.T, s resource.SchemaResponse, model any) tftypes.Value {
	t.Helper()
	ctx := context.Background()
	st := tfsdk.State{Schema: s.Schema, Raw: tftypes.NewValue(s.Schema.Type().TerraformType(ctx), nil)}
	if model == nil {
		return st.Raw
	}
	if d := st.Set(ctx, model); d.HasError() {
		t.Fatalf("set model: %v", d)
	}
	return st.Raw
}

func nullTimeouts() timeouts.Value {
	return timeouts.Value{Object: types.ObjectNull(timeoutsAttrTypes(context.Background()))}
}

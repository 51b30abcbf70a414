package docker

import (
	"context"
	"errors"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.Backend = (*Backend)(nil)

// Backend is the Docker implementation of workshop.Backend.
type Backend struct {
	cfg Config
}

// New checks the configuration and builds a client; it does not dial the daemon.
func New(cfg Config) (*Backend, error) {
	return nil, errors.New("TODO")
}

func (b *Backend) Type() workshop.InfrastructureType                { return workshop.InfraDocker }
func (b *Backend) Ping(ctx context.Context) (*workshop.Info, error) { return nil, errors.New("TODO") }
func (b *Backend) ApplyTemplate(ctx context.Context, t *workshop.Template) (*workshop.Template, error) {
	return nil, errors.New("TODO")
}
func (b *Backend) GetTemplate(ctx context.Context, id string) (*workshop.Template, error) {
	return nil, errors.New("TODO")
}
func (b *Backend) DeleteTemplate(ctx context.Context, id string) error { return errors.New("TODO") }
func (b *Backend) CreateSession(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	return nil, errors.New("TODO")
}
func (b *Backend) GetSession(ctx context.Context, id string) (*workshop.Session, error) {
	return nil, errors.New("TODO")
}
func (b *Backend) UpdateSession(ctx context.Context, id string, spec *workshop.SessionSpec) (*workshop.Session, error) {
	return nil, errors.New("TODO")
}
func (b *Backend) DeleteSession(ctx context.Context, id string) error { return errors.New("TODO") }
func (b *Backend) ListSessions(ctx context.Context) ([]*workshop.Session, error) {
	return nil, errors.New("TODO")
}
func (b *Backend) Exec(ctx context.Context, sessionID string, req *workshop.ExecRequest) (*workshop.ExecResult, error) {
	return nil, errors.New("TODO")
}

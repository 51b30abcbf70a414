package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// templateConfigName is the Swarm config holding a template copy.
func templateConfigName(name, key string) string { return "nalabo-template-" + name + "-" + key }

// configNameOf is the config name of a template ID.
func configNameOf(id string) (string, error) {
	infra, name, key, err := workshop.ParseTemplateID(id)
	if err != nil {
		return "", err
	}
	if infra != workshop.InfraSwarm {
		return "", fmt.Errorf("template %s is a %q template, not a swarm one", id, infra)
	}
	return templateConfigName(name, key), nil
}

// ApplyTemplate validates t, makes its workspace image present on the manager (pulled
// when missing: Swarm pulls again on each node that runs a task), seals it and stores it
// as a Swarm config.
func (b *Backend) ApplyTemplate(ctx context.Context, in *workshop.Template) (*workshop.Template, error) {
	if in == nil {
		return nil, errors.New("apply template: no template given")
	}
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("template %s: %w", in.Name, err)
	}
	if in.Infrastructure != workshop.InfraSwarm {
		return nil, fmt.Errorf("template %s: the swarm backend cannot apply a %q template", in.Name, in.Infrastructure)
	}
	if _, err := b.self(ctx); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var t workshop.Template
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	if _, err := docker.WorkingDir(&t); err != nil {
		return nil, err
	}
	id, err := b.ensureImage(ctx, t.Workspace.Image)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Name, err)
	}
	t.Images = map[string]string{t.Workspace.Image: id}
	workshop.SealTemplate(&t)
	if err := b.storeTemplate(ctx, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ensureImage returns the image ID of ref on the manager, pulling it when missing.
func (b *Backend) ensureImage(ctx context.Context, ref string) (string, error) {
	ins, err := b.cli.ImageInspect(ctx, ref)
	if err == nil {
		return ins.ID, nil
	}
	if !docker.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	auth, login, err := b.imageAuth(ref)
	if err != nil {
		return "", err
	}
	rc, err := b.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		err = docker.ReadPullStream(rc)
		rc.Close()
	}
	if err != nil {
		return "", fmt.Errorf("image %s is not on the swarm manager and cannot be pulled: %w", ref, docker.PullError("swarm", ref, login, err))
	}
	ins, err = b.cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspect image %s after its pull: %w", ref, err)
	}
	return ins.ID, nil
}

// storeTemplate writes the template's config. Configs are immutable: a copy whose data
// changed (validations and instructions are not in the ID) is replaced.
func (b *Backend) storeTemplate(ctx context.Context, t *workshop.Template) error {
	name, err := configNameOf(t.ID)
	if err != nil {
		return err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if old, _, err := b.cli.ConfigInspectWithRaw(ctx, name); err == nil {
		if string(old.Spec.Data) == string(data) {
			return nil
		}
		if err := b.cli.ConfigRemove(ctx, old.ID); err != nil && !docker.IsNotFound(err) {
			return fmt.Errorf("replace template config %s: %w", name, err)
		}
	} else if !docker.IsNotFound(err) {
		return fmt.Errorf("inspect template config %s: %w", name, err)
	}
	_, err = b.cli.ConfigCreate(ctx, swarm.ConfigSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{
			workshop.LabelManagedBy:  workshop.ManagedByValue,
			workshop.LabelRole:       workshop.RoleTemplate,
			workshop.LabelTemplate:   t.Name,
			workshop.LabelTemplateID: t.ID,
			workshop.LabelBackend:    string(workshop.InfraSwarm),
		}},
		Data: data,
	})
	if err != nil && !docker.IsConflict(err) {
		return fmt.Errorf("store template %s as config %s: %w", t.ID, name, err)
	}
	return nil
}

// GetTemplate reads a template copy.
func (b *Backend) GetTemplate(ctx context.Context, id string) (*workshop.Template, error) {
	name, err := configNameOf(id)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, workshop.ErrNotFound)
	}
	c, _, err := b.cli.ConfigInspectWithRaw(ctx, name)
	if docker.IsNotFound(err) {
		return nil, fmt.Errorf("template %s: no config %s on the swarm: %w", id, name, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", id, err)
	}
	var t workshop.Template
	if err := json.Unmarshal(c.Spec.Data, &t); err != nil {
		return nil, fmt.Errorf("template %s: config %s does not hold a template: %w", id, name, err)
	}
	if t.ID != id {
		return nil, fmt.Errorf("template %s: config %s holds %s: %w", id, name, t.ID, workshop.ErrNotFound)
	}
	return &t, nil
}

// DeleteTemplate removes a template copy; pulled images stay.
func (b *Backend) DeleteTemplate(ctx context.Context, id string) error {
	name, err := configNameOf(id)
	if err != nil {
		return nil //nolint:nilerr // not ours: nothing to delete
	}
	if err := b.cli.ConfigRemove(ctx, name); err != nil && !docker.IsNotFound(err) {
		return fmt.Errorf("delete template %s (config %s): %w", id, name, err)
	}
	return nil
}

// templateConfigs lists the stored template copies (Ping's details).
func (b *Backend) templateConfigs(ctx context.Context) ([]swarm.Config, error) {
	f := filters.NewArgs(filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue),
		filters.Arg("label", workshop.LabelRole+"="+workshop.RoleTemplate))
	return b.cli.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
}

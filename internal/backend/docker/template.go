package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nalabo/terraform-provider-nalabo/internal/compose"
	"github.com/nalabo/terraform-provider-nalabo/internal/hostpath"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// A template is stored as an empty, labelled volume whose label nalabo.io/template-spec
// holds base64(JSON of the sealed template). Volume labels are immutable, so storing a
// changed spec (only validations can change without changing the ID) replaces it.

// templateVolumeName is nalabo-template-<name>-<digest12>.
func templateVolumeName(name, digest12 string) string {
	return "nalabo-template-" + name + "-" + digest12
}

// ApplyTemplate validates t, makes its images present (pull or build), seals it and
// stores it. The caller's template is not modified.
func (b *Backend) ApplyTemplate(ctx context.Context, in *workshop.Template) (*workshop.Template, error) {
	if in == nil {
		return nil, errors.New("apply template: no template given")
	}
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("template %s: %w", in.Name, err)
	}
	if in.Infrastructure != workshop.InfraDocker {
		return nil, fmt.Errorf("template %s: the docker backend cannot apply a %q template", in.Name, in.Infrastructure)
	}
	paths, err := b.pathPolicy(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.ValidatePaths(paths); err != nil {
		return nil, fmt.Errorf("template %s: %w", in.Name, err)
	}
	if err := b.checkTemplateCapacity(ctx, in); err != nil {
		return nil, fmt.Errorf("template %s: %w", in.Name, err)
	}
	// Another owner's copy of the same template (another state) may be deleted at the
	// same time, removing the built images the copies share after they were resolved
	// here: once stored, the images are checked, and resolved again if one went.
	for attempt := 0; ; attempt++ {
		t, err := cloneTemplate(in)
		if err != nil {
			return nil, err
		}
		if t.Images, err = b.resolveImages(ctx, t); err != nil {
			return nil, err
		}
		if t.Compose != "" {
			if err := b.resolveComposeImages(ctx, t, paths); err != nil {
				return nil, err
			}
		}
		workshop.SealTemplate(t)
		if err := b.storeTemplate(ctx, t); err != nil {
			return nil, err
		}
		err = b.checkImages(ctx, t)
		if err == nil || !errors.Is(err, workshop.ErrNotFound) || attempt == 2 {
			return t, err
		}
		// The copy stored above names an image that is gone: the next round stores it
		// again (under a new ID if the rebuilt image differs).
		_ = b.cli.VolumeRemove(ctx, templateVolumeName(t.Name, storageKey(t.ID)), false)
	}
}

// storageKey is the stored-copy key of a template ID.
func storageKey(id string) string {
	_, _, key, _ := workshop.ParseTemplateID(id)
	return key
}

// resolveImages makes every image of t present (built or pulled) and maps each
// reference to its image ID. A build fills t.Workspace.Build.ContextDigest.
func (b *Backend) resolveImages(ctx context.Context, t *workshop.Template) (map[string]string, error) {
	if t.Workspace.Build != nil {
		ref, id, err := b.ensureBuilt(ctx, t)
		if err != nil {
			return nil, err
		}
		return map[string]string{ref: id}, nil
	}
	id, err := b.ensureImage(ctx, t.Workspace.Image)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Name, err)
	}
	return map[string]string{t.Workspace.Image: id}, nil
}

// resolveComposeImages parses the template's Compose file, checks its services fit the
// template's resources, and makes every service image present (pulled once, or built
// and tagged nalabo/<template>-<service>:<context digest>), adding them to t.Images. It
// fills t.ComposeBuilds when the caller did not.
func (b *Backend) resolveComposeImages(ctx context.Context, t *workshop.Template, paths *hostpath.Policy) error {
	p, err := compose.Parse(ctx, t.Compose, compose.Options{ProjectName: t.Name, Dir: t.ComposeDir, Paths: paths})
	if err != nil {
		return &workshop.FieldError{Path: "compose", Msg: err.Error()}
	}
	if t.EffectiveEgress() == workshop.EgressNone {
		for _, s := range p.Services {
			if len(s.Ports) > 0 {
				return &workshop.FieldError{Path: "compose", Msg: fmt.Sprintf("service %q publishes ports: %v", s.Name, errEgressNonePorts)}
			}
		}
	}
	if err := compose.CheckBudget(p, effectiveTemplateResources(t)); err != nil {
		return &workshop.FieldError{Path: "compose", Msg: err.Error()}
	}
	if t.ComposeBuilds == nil {
		if t.ComposeBuilds, err = compose.HashBuilds(p, workshop.RulesOf(t.Owner)); err != nil {
			return &workshop.FieldError{Path: "compose", Msg: err.Error()}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range p.Services {
		g.Go(func() error {
			ref, id, err := b.serviceImage(gctx, t, s)
			if err != nil {
				return fmt.Errorf("template %s: compose service %q: %w", t.Name, s.Name, err)
			}
			mu.Lock()
			t.Images[ref] = id
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// serviceImage makes one service's image present and returns its reference and ID.
func (b *Backend) serviceImage(ctx context.Context, t *workshop.Template, s compose.Service) (string, string, error) {
	if s.Build == nil {
		id, err := b.ensureImage(ctx, s.Image)
		return s.Image, id, err
	}
	bd := *s.Build
	bd.ContextDigest = t.ComposeBuilds[s.Name]
	if bd.ContextDigest == "" {
		var err error
		if bd.ContextDigest, err = workshop.HashBuildContextWith(workshop.RulesOf(t.Owner), bd.Context, bd.Dockerfile); err != nil {
			return "", "", err
		}
	}
	tag := serviceImageRef(t, s)
	id, err := b.ensureBuiltImage(ctx, t.Name, tag, &bd, nil)
	return tag, id, err
}

// serviceImageRef is the image a template's service runs: its image, or the tag of its
// built image.
func serviceImageRef(t *workshop.Template, s compose.Service) string {
	if s.Build == nil {
		return s.Image
	}
	return compose.ServiceImageTag(t.Name, s.Name, t.ComposeBuilds[s.Name])
}

// effectiveTemplateResources are the template's resources over the Docker defaults.
func effectiveTemplateResources(t *workshop.Template) workshop.Resources {
	return t.Resources.Over(workshop.DefaultResources(workshop.InfraDocker))
}

// cloneTemplate deep-copies a template (every field has a JSON form).
func cloneTemplate(t *workshop.Template) (*workshop.Template, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Name, err)
	}
	out := new(workshop.Template)
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Name, err)
	}
	return out, nil
}

func encodeTemplate(t *workshop.Template) (string, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode template %s: %w", t.ID, err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

func decodeTemplate(spec string) (*workshop.Template, error) {
	raw, err := base64.StdEncoding.DecodeString(spec)
	if err != nil {
		return nil, err
	}
	t := new(workshop.Template)
	if err := json.Unmarshal(raw, t); err != nil {
		return nil, err
	}
	return t, nil
}

// storeTemplate writes the template volume, replacing one with a different spec.
func (b *Backend) storeTemplate(ctx context.Context, t *workshop.Template) error {
	_, name, digest12, err := workshop.ParseTemplateID(t.ID)
	if err != nil {
		return err
	}
	volName := templateVolumeName(name, digest12)
	spec, err := encodeTemplate(t)
	if err != nil {
		return err
	}
	labels := map[string]string{
		workshop.LabelManagedBy:  workshop.ManagedByValue,
		workshop.LabelRole:       workshop.RoleTemplate,
		workshop.LabelTemplate:   t.Name,
		workshop.LabelTemplateID: t.ID,
		workshop.LabelBackend:    string(workshop.InfraDocker),
		LabelTemplateSpec:        spec,
	}
	// Creating a volume that exists returns the existing one unchanged, so a stale
	// spec is removed first; a concurrent store may race, hence a few rounds.
	for attempt := 0; attempt < 3; attempt++ {
		v, err := b.cli.VolumeInspect(ctx, volName)
		switch {
		case err == nil && v.Labels[LabelTemplateSpec] == spec:
			return nil
		case err == nil:
			if err := b.cli.VolumeRemove(ctx, volName, false); ignoreNotFound(err) != nil {
				return fmt.Errorf("replace template volume %s: %w", volName, err)
			}
		case !isNotFound(err):
			return fmt.Errorf("inspect template volume %s: %w", volName, err)
		}
		v, err = b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: volName, Driver: "local", Labels: labels})
		if err != nil {
			return fmt.Errorf("create template volume %s: %w", volName, err)
		}
		if v.Labels[LabelTemplateSpec] == spec {
			return nil
		}
	}
	return fmt.Errorf("store template %s: volume %s keeps being replaced concurrently", t.ID, volName)
}

// GetTemplate reads a stored template. A missing template, or one whose images are no
// longer on the host, is an error wrapping workshop.ErrNotFound (apply it again).
func (b *Backend) GetTemplate(ctx context.Context, id string) (*workshop.Template, error) {
	t, err := b.readTemplate(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := b.checkImages(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// readTemplate decodes the template volume of id.
func (b *Backend) readTemplate(ctx context.Context, id string) (*workshop.Template, error) {
	infra, name, digest12, err := workshop.ParseTemplateID(id)
	if err != nil {
		return nil, err
	}
	if infra != workshop.InfraDocker {
		return nil, fmt.Errorf("template %s is a %s template; the docker backend does not hold it", id, infra)
	}
	volName := templateVolumeName(name, digest12)
	v, err := b.cli.VolumeInspect(ctx, volName)
	if isNotFound(err) {
		return nil, fmt.Errorf("template %s is not stored on Docker at %s (no volume %s): %w", id, b.cfg.Host, volName, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect template volume %s: %w", volName, err)
	}
	t, err := decodeTemplate(v.Labels[LabelTemplateSpec])
	if err != nil || t.ID != id {
		return nil, fmt.Errorf("template volume %s holds no readable spec of %s: %w", volName, id, workshop.ErrNotFound)
	}
	return t, nil
}

// checkImages returns an error wrapping ErrNotFound when an image of t is gone.
func (b *Backend) checkImages(ctx context.Context, t *workshop.Template) error {
	g, gctx := errgroup.WithContext(ctx)
	for ref := range t.Images {
		g.Go(func() error {
			_, err := b.cli.ImageInspect(gctx, ref)
			if isNotFound(err) {
				return fmt.Errorf("template %s: image %s is no longer on the Docker host: %w", t.ID, ref, workshop.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("template %s: inspect image %s: %w", t.ID, ref, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// DeleteTemplate removes the template volume and the images the template built, unless
// another stored template still names them or a container uses them. Missing is fine.
func (b *Backend) DeleteTemplate(ctx context.Context, id string) error {
	_, name, digest12, err := workshop.ParseTemplateID(id)
	if err != nil {
		return err
	}
	t, err := b.readTemplate(ctx, id)
	if err != nil && !errors.Is(err, workshop.ErrNotFound) {
		return err
	}
	volName := templateVolumeName(name, digest12)
	if err := b.cli.VolumeRemove(ctx, volName, false); ignoreNotFound(err) != nil {
		return fmt.Errorf("remove template volume %s: %w", volName, err)
	}
	if err := b.ClaimTemplate(ctx, id); err != nil { // its orphan mark, if any
		return err
	}
	if t == nil {
		return nil
	}
	keep, err := b.imagesOfOtherTemplates(ctx, t.Name, id)
	if err != nil {
		return err
	}
	for ref, imageID := range t.Images {
		if keep[ref+"@"+imageID] {
			continue
		}
		if err := b.removeBuiltImage(ctx, ref, t.Name); err != nil {
			return err
		}
	}
	return nil
}

// imagesOfOtherTemplates returns "ref@id" of every image named by another stored version
// of the template name (two versions can share a built image).
func (b *Backend) imagesOfOtherTemplates(ctx context.Context, name, exceptID string) (map[string]bool, error) {
	list, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilters(
		workshop.LabelManagedBy+"="+workshop.ManagedByValue,
		workshop.LabelRole+"="+workshop.RoleTemplate,
		workshop.LabelTemplate+"="+name,
	)})
	if err != nil {
		return nil, fmt.Errorf("list template volumes of %s: %w", name, err)
	}
	keep := map[string]bool{}
	for _, v := range list.Volumes {
		if v.Labels[workshop.LabelTemplateID] == exceptID {
			continue
		}
		if other, err := decodeTemplate(v.Labels[LabelTemplateSpec]); err == nil {
			for ref, id := range other.Images {
				keep[ref+"@"+id] = true
			}
		}
	}
	return keep, nil
}

// removeBuiltImage removes ref if the provider built it for template name. Pulled
// images stay; an image in use or already gone is left alone.
func (b *Backend) removeBuiltImage(ctx context.Context, ref, name string) error {
	ins, err := b.cli.ImageInspect(ctx, ref)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if ins.Config == nil || !managedBy(ins.Config.Labels) ||
		ins.Config.Labels[workshop.LabelRole] != workshop.RoleImage ||
		ins.Config.Labels[workshop.LabelTemplate] != name {
		return nil
	}
	_, err = b.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
	if err != nil && !isNotFound(err) && !isConflict(err) {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}

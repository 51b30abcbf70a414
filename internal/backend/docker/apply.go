package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/compose"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.Configurator = (*Backend)(nil)

// An apply (nalabo_apply) adds objects to a live session. Each carries the session's
// labels plus nalabo.io/apply=<apply id> (the inventory label), so the apply can prune
// and delete exactly what it created, and the session's delete removes them too.
//
//   - compose: each service is a container nalabo-session-<id>-<service> (as the
//     template's services), its named volumes nalabo-session-<id>-<volume> (a volume
//     that already exists in the session, a template's, is shared and never removed by
//     the apply). A changed service's container is recreated; an unchanged one is kept.
//   - dockerfile: an image nalabo-session-<id>/<apply id>:latest, built through the
//     API; with Run, a service container running it.
//
// The session's CPU and memory stay the budget of all its containers together: an
// apply's services with their own limits take them, and every container without its
// own limits gets an equal share again.

// LabelConfigHash identifies what an apply's container was created from.
const LabelConfigHash = workshop.LabelPrefix + "config-hash"

// Object kinds of a Docker inventory.
const (
	KindContainer = "container"
	KindVolume    = "volume"
	KindImage     = "image"
)

var applyIDRE = regexp.MustCompile(`^[a-z0-9]{4,32}$`)

// DefaultApplyService names the service of a dockerfile apply with Run.
const DefaultApplyService = "app"

// ApplyImageTag is the tag of a dockerfile apply's image.
func ApplyImageTag(sessionID, applyID string) string {
	return workshop.SessionObjectName(sessionID) + "/" + applyID + ":latest"
}

// applyServiceImageTag is the tag of an apply's built Compose service.
func applyServiceImageTag(sessionID, applyID, service string) string {
	return workshop.SessionObjectName(sessionID) + "/" + applyID + "-" + service + ":latest"
}

// ApplyConfig applies cfg to session sessionID (see the package comment above).
func (b *Backend) ApplyConfig(ctx context.Context, sessionID string, cfg *workshop.Config, prev *workshop.Inventory) (*workshop.Inventory, error) {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return nil, err
	}
	defer b.reads.mutation(sessionID)()
	if cfg == nil || !applyIDRE.MatchString(cfg.ID) {
		return nil, errors.New("apply: no configuration or a malformed apply ID")
	}
	switch cfg.Type {
	case workshop.ConfigYAML:
		return nil, &workshop.FieldError{Path: "type", Msg: fmt.Sprintf(
			"type \"yaml\" applies Kubernetes objects into a Kubernetes session; session %s runs on Docker (use compose or dockerfile)", sessionID)}
	case workshop.ConfigCompose, workshop.ConfigDockerfile:
	default:
		return nil, &workshop.FieldError{Path: "type", Msg: fmt.Sprintf("%q is not one of %s", cfg.Type, strings.Join(workshop.ConfigTypes, ", "))}
	}
	ws, err := b.cli.ContainerInspect(ctx, workshop.SessionObjectName(sessionID))
	if isNotFound(err) {
		return nil, fmt.Errorf("session %s: no workspace container %s on Docker at %s: %w",
			sessionID, workshop.SessionObjectName(sessionID), b.cfg.Host, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect the workspace of session %s: %w", sessionID, err)
	}
	if ws.Config == nil || !managedBy(ws.Config.Labels) || ws.Config.Labels[workshop.LabelSession] != sessionID {
		return nil, fmt.Errorf("container %s is not the workspace of session %s", ws.Name, sessionID)
	}
	defer b.lockSession(sessionID)()
	a := &applyRun{b: b, id: sessionID, cfg: cfg, sessionLabels: sessionLabelsOf(ws.Config.Labels)}
	inv, err := a.run(ctx)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if cerr := a.undo(cctx); cerr != nil {
			err = fmt.Errorf("%w\n(removing what this apply created also failed: %v)", err, cerr)
		}
		return nil, fmt.Errorf("apply %s to session %s: %w", cfg.Type, sessionID, err)
	}
	return inv, nil
}

// applyRun is one ApplyConfig call; it remembers what it created, for undo.
type applyRun struct {
	b             *Backend
	id            string
	cfg           *workshop.Config
	sessionLabels map[string]string

	createdContainers []string
	createdVolumes    []string
	builtImages       []string
	rebalanced        bool
	// budget is the session's CPU and memory, read before anything changed.
	budget workshop.ParsedResources
}

func (a *applyRun) labels() map[string]string {
	return map[string]string{workshop.LabelApply: a.cfg.ID}
}

// run does the work.
func (a *applyRun) run(ctx context.Context) (*workshop.Inventory, error) {
	b := a.b
	facts, err := b.daemonFacts(ctx)
	if err != nil {
		return nil, err
	}
	paths, err := b.pathPolicy(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.cfg.ValidatePaths(paths); err != nil {
		return nil, err
	}
	var proj *compose.Project
	inv := &workshop.Inventory{ApplyID: a.cfg.ID}
	images := map[string]string{} // service -> image reference
	switch a.cfg.Type {
	case workshop.ConfigCompose:
		if proj, err = compose.Parse(ctx, a.cfg.Content, compose.Options{ProjectName: a.id, Dir: a.cfg.ContextDir, Paths: paths}); err != nil {
			return nil, &workshop.FieldError{Path: "configuration", Msg: err.Error()}
		}
		g, gctx := errgroup.WithContext(ctx)
		results := make([]string, len(proj.Services))
		for i, s := range proj.Services {
			g.Go(func() error {
				ref, err := a.serviceImage(gctx, s)
				results[i] = ref
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		for i, s := range proj.Services {
			images[s.Name] = results[i]
		}
	case workshop.ConfigDockerfile:
		tag := ApplyImageTag(a.id, a.cfg.ID)
		if err := a.buildDockerfile(ctx, tag); err != nil {
			return nil, err
		}
		inv.Image = tag
		proj = &compose.Project{}
		if a.cfg.Run {
			name := a.cfg.ServiceName
			if name == "" {
				name = DefaultApplyService
			}
			proj.Services = []compose.Service{{Name: name, Restart: "no"}}
			images[name] = tag
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// What exists: the session's containers, this apply's among them.
	ctrs, err := b.sessionContainers(ctx, a.id)
	if err != nil {
		return nil, err
	}
	ours := map[string]container.Summary{}
	others := map[string]bool{}
	for _, c := range ctrs {
		if c.Labels[workshop.LabelApply] == a.cfg.ID {
			ours[containerName(c)] = c
		} else {
			others[containerName(c)] = true
		}
	}
	// Which services are new, changed (recreated) or unchanged, and which are pruned.
	want := map[string]bool{}
	var create []serviceSpec
	remove := map[string]bool{}
	for _, s := range proj.Services {
		name := serviceContainerName(a.id, s.Name)
		want[name] = true
		if others[name] {
			return nil, &workshop.FieldError{Path: "configuration", Msg: fmt.Sprintf(
				"service %q: the session already has a container %s (from its template or another apply)", s.Name, name)}
		}
		hash := serviceHash(s, images[s.Name], b.imageID(ctx, images[s.Name]))
		if c, ok := ours[name]; ok && c.Labels[LabelConfigHash] == hash && c.State == container.StateRunning {
			continue
		}
		if _, ok := ours[name]; ok {
			remove[name] = true
		}
		lbl := workshop.WithLabels(a.labels(), LabelConfigHash, hash)
		create = append(create, serviceSpec{svc: s, image: images[s.Name], labels: lbl})
	}
	for name := range ours {
		if !want[name] {
			remove[name] = true
		}
	}
	// The budget: the session's limits now, shared again with the new set.
	budget, err := b.sessionBudget(ctx, a.id)
	if err != nil {
		return nil, err
	}
	a.budget = budget
	var extra []workshop.Claim
	for _, ss := range create {
		extra = append(extra, workshop.Claim{Name: serviceContainerName(a.id, ss.svc.Name), MilliCPU: ss.svc.MilliCPU, MemoryBytes: ss.svc.MemoryBytes})
	}
	shares, err := b.rebalance(ctx, a.id, budget, extra, remove, false)
	if err != nil {
		return nil, &workshop.FieldError{Path: "configuration", Msg: fmt.Sprintf("the services do not fit the session's cpu %s and memory %s: %v",
			workshop.FormatMilliCPU(budget.MilliCPU), workshop.FormatBytes(budget.MemoryBytes), err)}
	}
	for i := range create {
		create[i].share = shares[serviceContainerName(a.id, create[i].svc.Name)]
	}
	// Remove replaced and pruned containers, create volumes, then the containers.
	if err := b.removeNamedContainers(ctx, keys(remove)); err != nil {
		return nil, err
	}
	if proj != nil && len(proj.Volumes) > 0 {
		if err := a.createVolumes(ctx, proj.Volumes); err != nil {
			return nil, err
		}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
	defer cancel()
	for _, ss := range create {
		a.createdContainers = append(a.createdContainers, serviceContainerName(a.id, ss.svc.Name))
	}
	if err := b.createServices(dctx, a.id, a.sessionLabels, create, facts.init); err != nil {
		return nil, err
	}
	a.rebalanced = true
	if _, err := b.rebalance(dctx, a.id, budget, nil, nil, true); err != nil {
		return nil, err
	}
	if err := b.startServices(ctx, dctx, a.id, create); err != nil {
		return nil, err
	}
	if err := a.pruneVolumes(ctx, proj); err != nil {
		return nil, err
	}
	return b.readInventory(ctx, a.id, a.cfg.ID, inv.Image, nil)
}

// serviceImage makes a Compose service's image present: pulled, or built and tagged
// nalabo-session-<id>/<apply id>-<service>:latest with the session's labels.
func (a *applyRun) serviceImage(ctx context.Context, s compose.Service) (string, error) {
	if s.Build == nil {
		_, err := a.b.ensureImage(ctx, s.Image)
		if err != nil {
			return "", fmt.Errorf("service %s: %w", s.Name, err)
		}
		return s.Image, nil
	}
	tag := applyServiceImageTag(a.id, a.cfg.ID, s.Name)
	dockerfile, err := workshop.ResolveDockerfile(s.Build.Context, s.Build.Dockerfile)
	if err != nil {
		return "", &workshop.FieldError{Path: "configuration", Msg: fmt.Sprintf("service %q: build: %v", s.Name, err)}
	}
	buildCtx, err := newContextTar(s.Build.Context, dockerfile)
	if err != nil {
		return "", err
	}
	defer buildCtx.Close()
	if err := a.buildImage(ctx, tag, dockerfile, buildCtx, s.Build.Args); err != nil {
		return "", fmt.Errorf("service %s: build %s from %s: %w", s.Name, tag, s.Build.Context, err)
	}
	return tag, nil
}

// dockerfileName is the name of the configuration's Dockerfile in the build context.
const dockerfileName = ".nalabo-apply.Dockerfile"

// buildDockerfile builds the configuration (a Dockerfile) in its context directory.
func (a *applyRun) buildDockerfile(ctx context.Context, tag string) error {
	dir := a.cfg.ContextDir
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return &workshop.FieldError{Path: "context", Msg: fmt.Sprintf("build context %s is not a directory", dir)}
		}
	}
	buildCtx, err := newContextTarWith(dir, dockerfileName, map[string][]byte{dockerfileName: []byte(a.cfg.Content)})
	if err != nil {
		return err
	}
	defer buildCtx.Close()
	if err := a.buildImage(ctx, tag, dockerfileName, buildCtx, nil); err != nil {
		return fmt.Errorf("build %s: %w", tag, err)
	}
	return nil
}

// buildImage builds one image with the session's and the apply's labels.
func (a *applyRun) buildImage(ctx context.Context, tag, dockerfile string, buildCtx io.Reader, args map[string]string) error {
	b := a.b
	bargs := make(map[string]*string, len(args))
	for k, v := range args {
		bargs[k] = &v
	}
	labels := workshop.WithLabels(workshop.WithLabels(a.sessionLabels, flatten(a.labels())...),
		workshop.LabelRole, workshop.RoleApplyImage,
		workshop.LabelBackend, string(workshop.InfraDocker))
	a.builtImages = append(a.builtImages, tag)
	resp, err := b.cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags: []string{tag}, Dockerfile: dockerfile, BuildArgs: bargs,
		Remove: true, ForceRemove: true, Version: build.BuilderV1,
		AuthConfigs: b.buildAuthConfigs(), Labels: labels,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tail, err := readJSONStream(resp.Body)
	if err != nil && len(tail) > 0 {
		return fmt.Errorf("%w\nlast build output:\n%s", err, strings.Join(tail, "\n"))
	}
	return err
}

// createVolumes creates the named volumes the session does not have yet.
func (a *applyRun) createVolumes(ctx context.Context, vols []string) error {
	var missing []string
	for _, v := range vols {
		_, err := a.b.cli.VolumeInspect(ctx, sessionVolumeName(a.id, v))
		if isNotFound(err) {
			missing = append(missing, v)
		} else if err != nil {
			return fmt.Errorf("inspect volume %s: %w", sessionVolumeName(a.id, v), err)
		}
	}
	for _, v := range missing {
		a.createdVolumes = append(a.createdVolumes, sessionVolumeName(a.id, v))
	}
	return a.b.createServiceVolumes(ctx, a.id, a.sessionLabels, a.labels(), missing)
}

// pruneVolumes removes this apply's volumes that the configuration no longer uses.
func (a *applyRun) pruneVolumes(ctx context.Context, proj *compose.Project) error {
	keep := map[string]bool{}
	if proj != nil {
		for _, v := range proj.Volumes {
			keep[sessionVolumeName(a.id, v)] = true
		}
	}
	vols, err := a.b.applyVolumes(ctx, a.id, a.cfg.ID)
	if err != nil {
		return err
	}
	for _, v := range vols {
		if !keep[v.Name] {
			if err := a.b.removeVolume(ctx, v.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// undo removes what this run created and shares the budget again.
func (a *applyRun) undo(ctx context.Context) error {
	b := a.b
	var errs []error
	if err := b.removeNamedContainers(ctx, a.createdContainers); err != nil {
		errs = append(errs, err)
	}
	for _, v := range a.createdVolumes {
		if err := b.removeVolume(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	for _, img := range a.builtImages {
		if _, err := b.cli.ImageRemove(ctx, img, image.RemoveOptions{Force: true, PruneChildren: true}); ignoreNotFound(err) != nil && !isConflict(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", img, err))
		}
	}
	if a.rebalanced {
		if _, err := b.rebalance(ctx, a.id, a.budget, nil, nil, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DeleteConfig removes every container, volume and image labelled with the apply (and
// the session), then shares the session's budget again. Missing objects are fine.
func (b *Backend) DeleteConfig(ctx context.Context, sessionID string, inv *workshop.Inventory) error {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return err
	}
	defer b.reads.mutation(sessionID)()
	if inv == nil || !applyIDRE.MatchString(inv.ApplyID) {
		return errors.New("delete apply: no inventory")
	}
	defer b.lockSession(sessionID)()
	budget, budgetErr := b.sessionBudget(ctx, sessionID)
	f := labelFilters(workshop.LabelSession+"="+sessionID, workshop.LabelApply+"="+inv.ApplyID)
	ctrs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers of apply %s: %w", inv.ApplyID, err)
	}
	if err := b.removeContainers(ctx, ctrs); err != nil {
		return err
	}
	vols, err := b.applyVolumes(ctx, sessionID, inv.ApplyID)
	if err != nil {
		return err
	}
	for _, v := range vols {
		if err := b.removeVolume(ctx, v.Name); err != nil {
			return err
		}
	}
	imgs, err := b.cli.ImageList(ctx, image.ListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list images of apply %s: %w", inv.ApplyID, err)
	}
	for _, img := range imgs {
		_, err := b.cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		if err = ignoreNotFound(err); err != nil && !isConflict(err) {
			return fmt.Errorf("remove image %s: %w", img.ID, err)
		}
	}
	if len(ctrs) > 0 && budgetErr == nil && budget.MilliCPU > 0 {
		if _, err := b.rebalance(ctx, sessionID, budget, nil, nil, true); err != nil && !errors.Is(err, workshop.ErrNotFound) {
			return err
		}
	}
	return nil
}

// ReadConfig lists what the apply holds now. Objects of inv that are gone are
// reported with status "missing". A session that is gone is an error wrapping
// workshop.ErrNotFound.
func (b *Backend) ReadConfig(ctx context.Context, sessionID string, inv *workshop.Inventory) (*workshop.Inventory, error) {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return nil, err
	}
	if inv == nil || !applyIDRE.MatchString(inv.ApplyID) {
		return nil, errors.New("read apply: no inventory")
	}
	if _, err := b.cli.ContainerInspect(ctx, workshop.SessionObjectName(sessionID)); isNotFound(err) {
		return nil, fmt.Errorf("session %s is gone: %w", sessionID, workshop.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("inspect the workspace of session %s: %w", sessionID, err)
	}
	return b.readInventory(ctx, sessionID, inv.ApplyID, inv.Image, inv.Objects)
}

// readInventory lists the apply's labelled containers, volumes and images; expected
// objects not found are reported as missing.
func (b *Backend) readInventory(ctx context.Context, sessionID, applyID, img string, expected []workshop.Object) (*workshop.Inventory, error) {
	f := labelFilters(workshop.LabelSession+"="+sessionID, workshop.LabelApply+"="+applyID)
	inv := &workshop.Inventory{ApplyID: applyID, Image: img}
	ctrs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers of apply %s: %w", applyID, err)
	}
	for _, c := range ctrs {
		inv.Objects = append(inv.Objects, workshop.Object{Kind: KindContainer, Name: containerName(c), Status: summaryState(c)})
	}
	vols, err := b.applyVolumes(ctx, sessionID, applyID)
	if err != nil {
		return nil, err
	}
	for _, v := range vols {
		inv.Objects = append(inv.Objects, workshop.Object{Kind: KindVolume, Name: v.Name, Status: "present"})
	}
	imgs, err := b.cli.ImageList(ctx, image.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list images of apply %s: %w", applyID, err)
	}
	for _, i := range imgs {
		name := i.ID
		if len(i.RepoTags) > 0 {
			name = i.RepoTags[0]
		}
		inv.Objects = append(inv.Objects, workshop.Object{Kind: KindImage, Name: name, Status: "present"})
	}
	found := map[string]bool{}
	for _, o := range inv.Objects {
		found[o.Kind+"/"+o.Name] = true
	}
	for _, o := range expected {
		if !found[o.Kind+"/"+o.Name] {
			inv.Objects = append(inv.Objects, workshop.Object{Kind: o.Kind, Name: o.Name, Status: "missing"})
		}
	}
	sort.Slice(inv.Objects, func(i, j int) bool {
		if inv.Objects[i].Kind != inv.Objects[j].Kind {
			return inv.Objects[i].Kind < inv.Objects[j].Kind
		}
		return inv.Objects[i].Name < inv.Objects[j].Name
	})
	return inv, nil
}

// summaryState is a container's status for an inventory: running, healthy,
// unhealthy, starting, exited, ...
func summaryState(c container.Summary) string {
	switch {
	case c.State == container.StateRunning && strings.Contains(c.Status, "(healthy)"):
		return "healthy"
	case c.State == container.StateRunning && strings.Contains(c.Status, "(unhealthy)"):
		return "unhealthy"
	case c.State == container.StateRunning && strings.Contains(c.Status, "(health: starting)"):
		return "starting"
	}
	return c.State
}

// applyVolumes lists the volumes labelled with the apply.
func (b *Backend) applyVolumes(ctx context.Context, sessionID, applyID string) ([]*volume.Volume, error) {
	list, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilters(
		workshop.LabelManagedBy+"="+workshop.ManagedByValue,
		workshop.LabelSession+"="+sessionID,
		workshop.LabelApply+"="+applyID,
	)})
	if err != nil {
		return nil, fmt.Errorf("list volumes of apply %s: %w", applyID, err)
	}
	return list.Volumes, nil
}

// sessionBudget is the session's CPU and memory: the sum of its containers' limits.
func (b *Backend) sessionBudget(ctx context.Context, id string) (workshop.ParsedResources, error) {
	ctrs, err := b.sessionContainers(ctx, id)
	if err != nil {
		return workshop.ParsedResources{}, err
	}
	var cpu, mem int64
	var mu = make(chan struct{}, 1)
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range ctrs {
		g.Go(func() error {
			ins, err := b.cli.ContainerInspect(gctx, c.ID)
			if isNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspect container %s: %w", containerName(c), err)
			}
			if ins.HostConfig != nil {
				mu <- struct{}{}
				cpu += ins.HostConfig.NanoCPUs
				mem += ins.HostConfig.Memory
				<-mu
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return workshop.ParsedResources{}, err
	}
	if cpu == 0 {
		return workshop.ParsedResources{}, fmt.Errorf("session %s has no container with limits: %w", id, workshop.ErrNotFound)
	}
	return workshop.ParsedResources{MilliCPU: cpu / 1e6, MemoryBytes: mem}, nil
}

// removeNamedContainers force-removes containers by name (missing ones are fine).
func (b *Backend) removeNamedContainers(ctx context.Context, names []string) error {
	var g errgroup.Group
	for _, n := range names {
		g.Go(func() error {
			err := b.cli.ContainerRemove(ctx, n, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err = ignoreNotFound(err); err != nil && !isRemovalInProgress(err) {
				return fmt.Errorf("remove container %s: %w", n, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// imageID is the ID of a local image ("" when unknown).
func (b *Backend) imageID(ctx context.Context, ref string) string {
	ins, err := b.cli.ImageInspect(ctx, ref)
	if err != nil {
		return ""
	}
	return ins.ID
}

// serviceHash identifies a service's configuration and image.
func serviceHash(s compose.Service, ref, imageID string) string {
	raw, _ := json.Marshal(struct {
		S     compose.Service
		Ref   string
		Image string
	}{s, ref, imageID})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

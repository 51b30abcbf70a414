package docker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// GetSession reads a session by inspecting its container and network by name and
// listing its labelled volumes; it lists nothing else. Reads in a burst (a plan's
// refresh) share a listing of every session instead and inspect only the containers
// (session_snapshot.go). A session with none of its objects is an error wrapping
// workshop.ErrNotFound; one missing its container or its network has status
// "degraded".
func (b *Backend) GetSession(ctx context.Context, id string) (*workshop.Session, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	if snap := b.reads.acquire(ctx, b, id); snap != nil {
		s, ok, err := b.readFromSnapshot(ctx, id, snap)
		if err != nil || ok {
			return s, err
		}
	}
	return b.readSession(ctx, id, nil)
}

// sessionParts are the Docker objects of one session (nil or empty when missing).
type sessionParts struct {
	ctr  *container.InspectResponse
	net  *network.Inspect
	vols []*volume.Volume
	// services are the session's other containers (Compose services, applies).
	services []container.InspectResponse
}

// readSession reads a session; ctr, when given, is a fresh inspect of its workspace.
func (b *Backend) readSession(ctx context.Context, id string, ctr *container.InspectResponse) (*workshop.Session, error) {
	p, err := b.fetchParts(ctx, id, ctr)
	if err != nil {
		return nil, err
	}
	if p.net != nil {
		if p.services, err = b.inspectServices(ctx, id, withListedServices(id, p.ctr, otherContainers(id, p.net.Containers))); err != nil {
			return nil, err
		}
	}
	if p.ctr == nil && p.net == nil && len(p.vols) == 0 {
		return nil, fmt.Errorf("session %s: no container %s, network %s or volume on Docker at %s: %w",
			id, workshop.SessionObjectName(id), b.networkName(id), b.cfg.Host, workshop.ErrNotFound)
	}
	return b.sessionFromParts(id, p, time.Now()), nil
}

// withListedServices adds to names (the containers on the session's network) the
// containers of the services the workspace lists: a stopped container is on no network,
// and a stopped session's services must not read as missing (degraded).
func withListedServices(id string, ws *container.InspectResponse, names []string) []string {
	if ws == nil || ws.Config == nil || ws.Config.Labels[LabelServices] == "" {
		return names
	}
	for _, svc := range strings.Split(ws.Config.Labels[LabelServices], ",") {
		if n := serviceContainerName(id, svc); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// inspectServices inspects the session's other containers (found on its network).
func (b *Backend) inspectServices(ctx context.Context, id string, names []string) ([]container.InspectResponse, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make([]container.InspectResponse, len(names))
	found := make([]bool, len(names))
	g, gctx := errgroup.WithContext(ctx)
	for i, n := range names {
		g.Go(func() error {
			ins, err := b.cli.ContainerInspect(gctx, n)
			if isNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspect container %s: %w", n, err)
			}
			if ins.Config != nil && ins.Config.Labels[workshop.LabelSession] == id {
				out[i], found[i] = ins, true
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var kept []container.InspectResponse
	for i := range out {
		if found[i] {
			kept = append(kept, out[i])
		}
	}
	return kept, nil
}

// fetchParts inspects the container and network and lists the volumes concurrently.
func (b *Backend) fetchParts(ctx context.Context, id string, ctr *container.InspectResponse) (sessionParts, error) {
	p := sessionParts{ctr: ctr}
	g, gctx := errgroup.WithContext(ctx)
	if ctr == nil {
		g.Go(func() error {
			name := workshop.SessionObjectName(id)
			ins, err := b.cli.ContainerInspect(gctx, name)
			if isNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspect container %s: %w", name, err)
			}
			p.ctr = &ins
			return nil
		})
	}
	g.Go(func() error {
		name := b.networkName(id)
		n, err := b.cli.NetworkInspect(gctx, name, network.InspectOptions{})
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspect network %s: %w", name, err)
		}
		p.net = &n
		return nil
	})
	g.Go(func() (err error) {
		p.vols, err = b.sessionVolumes(gctx, id)
		return err
	})
	return p, g.Wait()
}

// sessionFromParts builds the session from what Docker holds.
func (b *Backend) sessionFromParts(id string, p sessionParts, now time.Time) *workshop.Session {
	s := &workshop.Session{
		ID:             id,
		Infrastructure: workshop.InfraDocker,
		WorkspaceName:  workshop.SessionObjectName(id),
		NetworkName:    b.networkName(id),
	}
	labels := partsLabels(p)
	s.TemplateID = labels[workshop.LabelTemplateID]
	s.TemplateName = labels[workshop.LabelTemplate]
	s.Participant = labels[workshop.LabelParticipant]
	s.ExpiresAt = expiresAt(newestLease(p.vols), labels)
	s.Resources.Storage = labels[LabelStorage]
	s.Resources.GPU, s.Resources.GPUResource = labels[LabelGPU], labels[LabelGPUResource]
	var state *container.State
	if c := p.ctr; c != nil && c.ContainerJSONBase != nil {
		state = c.State
		s.CreatedAt = parseDockerTime(c.Created)
		if hc := c.HostConfig; hc != nil {
			// The session's CPU and memory are shared by the workspace and its
			// services: the session's limits are their sum.
			cpu, mem := hc.NanoCPUs, hc.Memory
			for _, sv := range p.services {
				if sv.HostConfig != nil {
					cpu += sv.HostConfig.NanoCPUs
					mem += sv.HostConfig.Memory
				}
			}
			s.Resources.CPU = workshop.FormatMilliCPU(cpu / 1e6)
			s.Resources.Memory = workshop.FormatBytes(mem)
			s.StorageEnforced = hc.StorageOpt["size"] != ""
		}
		if c.NetworkSettings != nil {
			s.Ports = portsFromMap(c.NetworkSettings.Ports)
		}
		for _, sv := range p.services {
			if sv.NetworkSettings == nil || sv.Config == nil {
				continue
			}
			name := sv.Config.Labels[LabelService]
			if name == "" {
				name = strings.TrimPrefix(sv.Name, "/")
			}
			for _, port := range portsFromMap(sv.NetworkSettings.Ports) {
				port.Container = name
				s.Ports = append(s.Ports, port)
			}
		}
		sortPorts(s.Ports)
		s.Containers = []string{s.WorkspaceName}
	} else if p.net != nil {
		s.CreatedAt = p.net.Created.UTC()
	}
	if p.net != nil {
		s.Containers = append(s.Containers, otherContainers(id, p.net.Containers)...)
	}
	marked := false
	for _, v := range p.vols {
		switch {
		case isOverQuotaMark(v):
			marked = true
		case isLease(v):
		case isClaim(v):
			s.Claimed = true
		default:
			s.Volumes = append(s.Volumes, v.Name)
		}
	}
	sort.Strings(s.Volumes)
	ctrState := ""
	if state != nil {
		ctrState = state.Status
	}
	s.Incomplete = workspaceIncomplete(p.vols, p.ctr != nil, ctrState)
	s.Persistence = workshop.PersistenceFromLabels(labels)
	s.Stopped = state == nil || (!state.Running && !state.Restarting)
	s.Status = overQuota(sessionStatus(now, statusExpiry(s, newestLease(p.vols)), p.ctr == nil || p.net == nil || missingService(p), state), marked)
	return s
}

// missingService reports whether a service of the template (listed on the workspace)
// has no container.
func missingService(p sessionParts) bool {
	if p.ctr == nil || p.ctr.Config == nil || p.ctr.Config.Labels[LabelServices] == "" {
		return false
	}
	have := map[string]bool{}
	for _, sv := range p.services {
		if sv.Config != nil {
			have[sv.Config.Labels[LabelService]] = true
		}
	}
	for _, n := range strings.Split(p.ctr.Config.Labels[LabelServices], ",") {
		if !have[n] {
			return true
		}
	}
	return false
}

// partsLabels returns the session labels of the first object present.
func partsLabels(p sessionParts) map[string]string {
	if p.ctr != nil && p.ctr.Config != nil {
		return p.ctr.Config.Labels
	}
	if p.net != nil {
		return p.net.Labels
	}
	if l := newestLease(p.vols); l != nil {
		return l.Labels
	}
	if len(p.vols) > 0 {
		return p.vols[0].Labels
	}
	return nil
}

// expiresAt is the newest lease's expiry, else the expires-at label of fallback.
func expiresAt(lease *volume.Volume, fallback map[string]string) time.Time {
	if lease != nil {
		if t, ok := workshop.ParseExpiresAt(lease.Labels); ok {
			return t
		}
	}
	t, _ := workshop.ParseExpiresAt(fallback)
	return t
}

// statusExpiry reads when a session whose expiry pauses was stopped (its newest lease's
// nalabo.io/stopped-at) and returns the expiry its status is computed with: none while
// its expiry is paused (workshop.ExpiryPaused).
func statusExpiry(s *workshop.Session, lease *volume.Volume) time.Time {
	if lease != nil {
		s.StoppedAt, _ = workshop.ParseStoppedAt(lease.Labels)
	}
	if workshop.ExpiryPaused(s) {
		return time.Time{}
	}
	return s.ExpiresAt
}

// otherContainers are the session's containers besides the workspace, found on its
// network (named nalabo-session-<id>-*), sorted.
func otherContainers(id string, endpoints map[string]network.EndpointResource) []string {
	prefix := workshop.SessionObjectName(id) + "-"
	var out []string
	for _, ep := range endpoints {
		if strings.HasPrefix(ep.Name, prefix) {
			out = append(out, ep.Name)
		}
	}
	sort.Strings(out)
	return out
}

// sessionStatus derives a status. Expiry wins, then missing parts, then the workspace
// container's state.
func sessionStatus(now, expires time.Time, degraded bool, st *container.State) string {
	switch {
	case !expires.IsZero() && now.After(expires):
		return workshop.StatusExpired
	case degraded || st == nil:
		return workshop.StatusDegraded
	case st.Paused:
		return workshop.StatusStopped
	case st.Running && st.Health != nil && st.Health.Status == container.Unhealthy:
		return workshop.StatusUnhealthy
	case st.Running && st.Health != nil && st.Health.Status == container.Starting:
		return workshop.StatusPending
	case st.Running:
		return workshop.StatusRunning
	case st.Restarting || st.Status == container.StateCreated:
		return workshop.StatusPending
	}
	return workshop.StatusStopped
}

// portsFromMap lists published ports of the workspace, sorted.
func portsFromMap(m nat.PortMap) []workshop.Port {
	var out []workshop.Port
	for port, bindings := range m {
		for _, bnd := range bindings {
			hp, err := strconv.Atoi(bnd.HostPort)
			if err != nil {
				continue
			}
			out = append(out, workshop.Port{
				Container: WorkspaceAlias, ContainerPort: port.Int(), Protocol: port.Proto(),
				HostIP: bnd.HostIP, HostPort: hp,
			})
		}
	}
	sortPorts(out)
	return out
}

func sortPorts(ps []workshop.Port) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Container != b.Container {
			return a.Container < b.Container
		}
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.HostIP != b.HostIP {
			return a.HostIP < b.HostIP
		}
		return a.HostPort < b.HostPort
	})
}

// parseDockerTime parses Docker's RFC 3339 timestamps (zero on error).
func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// ListSessions lists every labelled container, network and volume (three list calls,
// no inspect) and groups them by session: sessions without a workspace container
// (status degraded) and incomplete ones (workspace never started, no lease) are listed too, so that the
// reconciler sees what an interrupted create left. Resources are the limits a session
// was created with (GetSession reads the live ones).
func (b *Backend) ListSessions(ctx context.Context) ([]*workshop.Session, error) {
	return b.listSessions(ctx)
}

// listSessions is ListSessions restricted by extra label filters ("key=value").
func (b *Backend) listSessions(ctx context.Context, extra ...string) ([]*workshop.Session, error) {
	parts, err := b.listParts(ctx, extra...)
	if err != nil {
		return nil, err
	}
	return b.groupSessions(parts, time.Now()), nil
}

// listedParts are one session's objects as listed.
type listedParts struct {
	workspace *container.Summary
	other     []container.Summary
	nets      []network.Summary
	vols      []*volume.Volume
}

// groupSessions builds the sessions from list data.
func (b *Backend) groupSessions(parts map[string]*listedParts, now time.Time) []*workshop.Session {
	out := make([]*workshop.Session, 0, len(parts))
	for id, p := range parts {
		lease := newestLease(p.vols)
		var s *workshop.Session
		if p.workspace != nil {
			s = b.sessionFromSummary(*p.workspace, lease, now)
		} else {
			s = b.remnantFromList(id, p, lease, now)
		}
		for _, c := range p.other {
			s.Containers = append(s.Containers, containerName(c))
		}
		marked := false
		for _, v := range p.vols {
			switch {
			case isClaim(v):
				s.Claimed = true
			case isOverQuotaMark(v):
				marked = true
			}
		}
		var wsState string
		if p.workspace != nil {
			wsState = p.workspace.State
		}
		s.Incomplete = workspaceIncomplete(p.vols, p.workspace != nil, wsState)
		s.Status = overQuota(s.Status, marked)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// remnantFromList builds a session without a workspace container (degraded, or
// expired) from its other objects' labels; CreatedAt is its oldest object's.
func (b *Backend) remnantFromList(id string, p *listedParts, lease *volume.Volume, now time.Time) *workshop.Session {
	var labels map[string]string
	var created time.Time
	older := func(t time.Time) {
		if !t.IsZero() && (created.IsZero() || t.Before(created)) {
			created = t
		}
	}
	for _, c := range p.other {
		labels = c.Labels
		older(time.Unix(c.Created, 0).UTC())
	}
	for _, n := range p.nets {
		labels = n.Labels
		older(n.Created.UTC())
	}
	for _, v := range p.vols {
		if labels == nil || isLease(v) {
			labels = v.Labels
		}
		older(parseDockerTime(v.CreatedAt))
	}
	s := &workshop.Session{
		ID:             id,
		Infrastructure: workshop.InfraDocker,
		TemplateID:     labels[workshop.LabelTemplateID],
		TemplateName:   labels[workshop.LabelTemplate],
		Participant:    labels[workshop.LabelParticipant],
		CreatedAt:      created,
		ExpiresAt:      expiresAt(lease, labels),
		NetworkName:    b.networkName(id),
	}
	for _, v := range p.vols {
		if !isLease(v) && !isClaim(v) && !isOverQuotaMark(v) {
			s.Volumes = append(s.Volumes, v.Name)
		}
	}
	sort.Strings(s.Volumes)
	s.Persistence = workshop.PersistenceFromLabels(labels)
	s.Stopped = true
	s.Status = workshop.StatusDegraded
	if !s.ExpiresAt.IsZero() && now.After(s.ExpiresAt) {
		s.Status = workshop.StatusExpired
	}
	return s
}

// overQuota reports a marked session as over_quota unless it is expired or degraded
// (those say more about it).
func overQuota(status string, marked bool) string {
	if marked && status != workshop.StatusExpired && status != workshop.StatusDegraded {
		return workshop.StatusOverQuota
	}
	return status
}

// sessionFromSummary builds a session from list data only.
func (b *Backend) sessionFromSummary(c container.Summary, lease *volume.Volume, now time.Time) *workshop.Session {
	id := c.Labels[workshop.LabelSession]
	s := &workshop.Session{
		ID:              id,
		Infrastructure:  workshop.InfraDocker,
		TemplateID:      c.Labels[workshop.LabelTemplateID],
		TemplateName:    c.Labels[workshop.LabelTemplate],
		Participant:     c.Labels[workshop.LabelParticipant],
		CreatedAt:       time.Unix(c.Created, 0).UTC(),
		ExpiresAt:       expiresAt(lease, c.Labels),
		StorageEnforced: c.Labels[LabelStorageEnforced] == "true",
		WorkspaceName:   workshop.SessionObjectName(id),
		NetworkName:     b.networkName(id),
		Containers:      []string{workshop.SessionObjectName(id)},
		Resources: workshop.Resources{
			CPU: c.Labels[LabelCPU], Memory: c.Labels[LabelMemory], Storage: c.Labels[LabelStorage],
			GPU: c.Labels[LabelGPU], GPUResource: c.Labels[LabelGPUResource],
		},
	}
	if c.NetworkSettings != nil {
		for name := range c.NetworkSettings.Networks {
			if strings.HasSuffix(name, "-"+id) {
				s.NetworkName = name
			}
		}
	}
	for _, m := range c.Mounts {
		if m.Name != "" {
			s.Volumes = append(s.Volumes, m.Name)
		}
	}
	sort.Strings(s.Volumes)
	for _, p := range c.Ports {
		if p.PublicPort != 0 {
			s.Ports = append(s.Ports, workshop.Port{Container: WorkspaceAlias, ContainerPort: int(p.PrivatePort),
				Protocol: p.Type, HostIP: p.IP, HostPort: int(p.PublicPort)})
		}
	}
	sortPorts(s.Ports)
	s.Persistence = workshop.PersistenceFromLabels(c.Labels)
	s.Stopped = c.State != container.StateRunning && c.State != container.StateRestarting
	s.Status = summaryStatus(now, statusExpiry(s, lease), c.State, c.Status)
	return s
}

// summaryStatus derives a status from list data ("Up 2 minutes (healthy)").
func summaryStatus(now, expires time.Time, state container.ContainerState, status string) string {
	switch {
	case !expires.IsZero() && now.After(expires):
		return workshop.StatusExpired
	case state == container.StateRunning && strings.Contains(status, "(unhealthy)"):
		return workshop.StatusUnhealthy
	case state == container.StateRunning && strings.Contains(status, "(health: starting)"):
		return workshop.StatusPending
	case state == container.StateRunning:
		return workshop.StatusRunning
	case state == container.StateCreated || state == container.StateRestarting:
		return workshop.StatusPending
	}
	return workshop.StatusStopped
}

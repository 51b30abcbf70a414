package workshop

import (
	"fmt"
	"regexp"
	"strings"
)

// placementConstraintRE is Swarm's constraint syntax: a node or engine attribute, == or
// !=, a value (swarmkit's constraint parser; checked here so a typo fails the plan, not
// the session's task).
var placementConstraintRE = regexp.MustCompile(`^\s*(node\.(id|hostname|role|platform\.os|platform\.arch|labels\.[A-Za-z0-9_.-]+)|engine\.labels\.[A-Za-z0-9_.-]+)\s*(==|!=)\s*[^=!\s][^=!]*$`)

// ValidatePlacementConstraint checks one Swarm placement constraint's syntax.
func ValidatePlacementConstraint(c string) error {
	if !placementConstraintRE.MatchString(c) {
		return fmt.Errorf("%q is not a Swarm placement constraint: write <attribute>==<value> or <attribute>!=<value> "+
			"with attribute node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<label> or engine.labels.<label> "+
			"(for example node.labels.class==a)", c)
	}
	return nil
}

// validateSwarm checks what a swarm template cannot hold: the Kubernetes settings and,
// for now, what the Swarm backend does not implement (Compose services, builds, ports,
// egress modes, Docker-in-Docker): refused, never silently ignored.
func (t *Template) validateSwarm() []error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if t.Isolation != "" {
		add("isolation", "applies to kubernetes templates only")
	}
	if t.Manifests != "" {
		add("manifests", "applies to kubernetes templates only")
	}
	if t.VClusterValues != "" {
		add("vcluster_values", "applies to kubernetes templates with isolation \"vcluster\" only")
	}
	if t.Compose != "" {
		add("compose", "is not supported on swarm templates yet (the session runs its workspace service only)")
	}
	if t.Workspace.Build != nil {
		add("workspace.build", "is not supported on swarm templates: every node must run the image; give workspace.image")
	}
	if len(t.Workspace.Ports) > 0 {
		add("workspace.ports", "are not supported on swarm templates yet")
	}
	if t.DockerInDocker {
		add("docker_in_docker", "is not supported on swarm templates")
	}
	if t.Egress != "" {
		add("egress", "applies to docker templates only (a swarm session's overlay network is its own)")
	}
	for i, c := range t.PlacementConstraints {
		if err := ValidatePlacementConstraint(c); err != nil {
			add(fmt.Sprintf("placement_constraints[%d]", i), "%v", err)
		}
		if strings.TrimSpace(c) != c {
			add(fmt.Sprintf("placement_constraints[%d]", i), "%q has leading or trailing spaces", c)
		}
	}
	return errs
}

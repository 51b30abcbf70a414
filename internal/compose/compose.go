// Package compose parses and validates the Compose files of Docker templates and of
// nalabo_apply (type "compose") with compose-go, and turns them into the small,
// backend-neutral shape the Docker backend runs. It is shared by the provider (plan-time
// validation) and the Docker backend (session create, apply); it imports neither
// Terraform nor Docker client packages.
package compose

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/hostpath"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// FileName is how diagnostics name the Compose document.
const FileName = "compose.yaml"

// Dependency conditions.
const (
	ConditionStarted   = "service_started"
	ConditionHealthy   = "service_healthy"
	ConditionCompleted = "service_completed_successfully"
)

// Project is a parsed, validated Compose file.
type Project struct {
	Name string
	// Dir is the directory relative paths resolved against ("" when none was given).
	Dir string
	// Services in dependency order (a service comes after every service it depends on).
	Services []Service
	// Volumes are the named volumes the services use.
	Volumes []string
	// Warnings name every key the file sets that the provider does not apply.
	Warnings []*Problem
}

// Service is one Compose service, reduced to what sessions run.
type Service struct {
	Name       string
	Image      string          // "" when the service is built
	Build      *workshop.Build // nil unless the service has a build section
	Command    []string
	Entrypoint []string
	Env        map[string]string
	WorkingDir string
	User       string
	Hostname   string
	Restart    string // "no" (default), "always", "unless-stopped", "on-failure"
	Health     *Healthcheck
	Mounts     []Mount
	Ports      []Port
	DependsOn  []Dependency
	CapAdd     []string
	// Own limits (deploy.resources.limits, cpus, mem_limit); 0 means "a share".
	MilliCPU    int64
	MemoryBytes int64
}

// Healthcheck is a service's healthcheck (Disable turns off the image's).
type Healthcheck struct {
	Test        []string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
	Disable     bool
}

// Mount types.
const (
	MountVolume = "volume"
	MountBind   = "bind"
	MountTmpfs  = "tmpfs"
)

// Mount is a service mount: a named volume, a bind mount from the declared directory,
// or a tmpfs.
type Mount struct {
	Type     string
	Source   string // volume name, or absolute host path inside Dir
	Target   string
	ReadOnly bool
}

// Port is a container port to publish (the host side is always the backend's bind
// address with a port Docker picks, whatever the file says).
type Port struct {
	Target   int
	Protocol string
}

// Dependency is one depends_on entry.
type Dependency struct {
	Service   string
	Condition string
}

// Problem is one thing wrong with a Compose file. Service is "" for file-level problems.
type Problem struct {
	Service string
	Msg     string
}

func (p *Problem) Error() string {
	if p.Service == "" {
		return FileName + ": " + p.Msg
	}
	return fmt.Sprintf("%s: service %q: %s", FileName, p.Service, p.Msg)
}

// Problems returns every *Problem inside err.
func Problems(err error) []*Problem {
	var out []*Problem
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if p, ok := e.(*Problem); ok {
			out = append(out, p)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// serviceNameRE: a service name becomes a DNS alias, part of a container name and of an
// image tag, so it is a DNS label.
var serviceNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Reserved names: the workspace's DNS alias and its volume.
const reservedName = "workspace"

// Options tune Parse.
type Options struct {
	// ProjectName is the template name or the session ID.
	ProjectName string
	// Dir is the directory relative build contexts and bind-mount sources resolve
	// against; bind mounts from anywhere else are refused. "" refuses every bind mount
	// and resolves build contexts against the current directory.
	Dir string
	// Paths refuses host paths (the directory itself, bind-mount sources, build
	// contexts); nil means hostpath.Default(). The Docker backend adds its daemon's
	// socket and data root.
	Paths *hostpath.Policy
}

// DirError is a refused declared directory (compose_directory, an apply's context):
// callers report it on that attribute rather than on the Compose file.
type DirError struct{ Err error }

func (e *DirError) Error() string { return "declared directory: " + e.Err.Error() }
func (e *DirError) Unwrap() error { return e.Err }

// Parse loads, validates and normalizes a Compose file held in memory. Every error is
// a *Problem (joined), naming the service where there is one.
func Parse(ctx context.Context, content string, o Options) (*Project, error) {
	if strings.TrimSpace(content) == "" {
		return nil, &Problem{Msg: "the Compose file is empty"}
	}
	dir := o.Dir
	paths := o.Paths
	if paths == nil {
		paths = hostpath.Default()
	}
	workDir := dir
	if workDir == "" {
		wd, err := filepath.Abs(".")
		if err != nil {
			return nil, &Problem{Msg: err.Error()}
		}
		workDir = wd
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, &Problem{Msg: fmt.Sprintf("directory %s: %v", dir, err)}
		}
		dir, workDir = abs, abs
		if err := paths.Check(dir); err != nil {
			return nil, &DirError{Err: err}
		}
	}
	name := loader.NormalizeProjectName(o.ProjectName)
	if name == "" {
		name = "nalabo"
	}
	details := types.ConfigDetails{
		WorkingDir:  workDir,
		ConfigFiles: []types.ConfigFile{{Filename: FileName, Content: []byte(content)}},
		// No host environment: ${VAR:-default} works, the instructor's variables do
		// not leak into sessions (nor change the digest from one shell to another).
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(ctx, details, func(opts *loader.Options) {
		opts.SetProjectName(name, true)
		opts.SkipInclude = false
	})
	if err != nil {
		return nil, loaderProblem(err)
	}
	return convert(p, dir, paths)
}

var (
	schemaErrRE = regexp.MustCompile(`^validating [^:]+: (.*)$`)
	// Messages such as "services.web.bogus false schema" and "services.web additional
	// properties 'x' not allowed".
	unknownKeyRE = regexp.MustCompile(`^services\.([^.\s]+)\.(\S+) (?:false schema|additional propert)`)
	addlPropsRE  = regexp.MustCompile(`^services\.([^.\s]+)(?:\.(\S+))? additional properties? '([^']+)' not allowed`)
	topKeyRE     = regexp.MustCompile(`^\(root\) additional properties? '([^']+)' not allowed|^([a-z_-]+) false schema$`)
	neitherRE    = regexp.MustCompile(`service "([^"]+)" has neither an image nor a build context`)
	cycleRE      = regexp.MustCompile(`dependency cycle detected: (.*)`)
	svcQuotedRE  = regexp.MustCompile(`service "([^"]+)"`)
)

// loaderProblem turns a compose-go error into a Problem naming the service and saying
// what is wrong in plain words.
func loaderProblem(err error) error {
	msg := err.Error()
	if m := schemaErrRE.FindStringSubmatch(msg); m != nil {
		inner := m[1]
		if k := addlPropsRE.FindStringSubmatch(inner); k != nil {
			key := k[3]
			if k[2] != "" {
				key = k[2] + "." + key
			}
			return &Problem{Service: k[1], Msg: fmt.Sprintf("unknown key %q", key)}
		}
		if k := unknownKeyRE.FindStringSubmatch(inner); k != nil {
			return &Problem{Service: k[1], Msg: fmt.Sprintf("unknown key %q", k[2])}
		}
		if k := topKeyRE.FindStringSubmatch(inner); k != nil {
			key := k[1] + k[2]
			return &Problem{Msg: fmt.Sprintf("unknown top-level key %q", key)}
		}
		if strings.HasPrefix(inner, "services.") {
			parts := strings.SplitN(strings.TrimPrefix(inner, "services."), ".", 2)
			svc := strings.Fields(parts[0])[0]
			return &Problem{Service: svc, Msg: inner}
		}
		return &Problem{Msg: inner}
	}
	if m := neitherRE.FindStringSubmatch(msg); m != nil {
		return &Problem{Service: m[1], Msg: "has neither an image nor a build section"}
	}
	if m := cycleRE.FindStringSubmatch(msg); m != nil {
		first := strings.TrimSpace(strings.SplitN(m[1], "->", 2)[0])
		return &Problem{Service: first, Msg: "depends_on cycle: " + m[1]}
	}
	if strings.Contains(msg, "failed to parse") || strings.Contains(msg, "yaml:") {
		return &Problem{Msg: "not valid YAML: " + strings.TrimPrefix(msg, "failed to parse "+FileName+": ")}
	}
	if m := svcQuotedRE.FindStringSubmatch(msg); m != nil {
		return &Problem{Service: m[1], Msg: msg}
	}
	return &Problem{Msg: msg}
}

// convert checks what sessions cannot do and reduces the project.
func convert(p *types.Project, dir string, paths *hostpath.Policy) (*Project, error) {
	out := &Project{Name: p.Name, Dir: dir}
	var errs []error
	bad := func(svc, format string, a ...any) {
		errs = append(errs, &Problem{Service: svc, Msg: fmt.Sprintf(format, a...)})
	}
	warn := func(svc, format string, a ...any) {
		out.Warnings = append(out.Warnings, &Problem{Service: svc, Msg: fmt.Sprintf(format, a...)})
	}
	projectFindings(p, bad, warn)
	for name, v := range p.Volumes {
		if !serviceNameRE.MatchString(name) || name == reservedName {
			bad("", "volume name %q must be a lower-case DNS label other than %q (it becomes part of the per-session volume name)", name, reservedName)
		}
		if bool(v.External) {
			bad("", "volume %q: external volumes are not supported (every session gets its own volumes)", name)
		}
		if v.Driver != "" && v.Driver != "local" {
			bad("", "volume %q: driver %q is not supported (only local)", name, v.Driver)
		}
	}
	volumes := map[string]bool{}
	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	services := map[string]Service{}
	for _, name := range names {
		sc := p.Services[name]
		s, serrs := convertService(sc, dir, paths)
		errs = append(errs, serrs...)
		warnings, refusals := keyFindings(&sc)
		for _, w := range warnings {
			warn(name, "%s", w)
		}
		for _, r := range refusals {
			bad(name, "%s", r)
		}
		for _, m := range s.Mounts {
			if m.Type == MountVolume {
				volumes[m.Source] = true
			}
		}
		services[name] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for v := range volumes {
		out.Volumes = append(out.Volumes, v)
	}
	sort.Strings(out.Volumes)
	order, err := dependencyOrder(services)
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		out.Services = append(out.Services, services[n])
	}
	return out, nil
}

// dependencyOrder sorts services so that each comes after its dependencies (names
// break ties). compose-go already refused cycles and unknown services.
func dependencyOrder(services map[string]Service) ([]string, error) {
	done := map[string]bool{}
	visiting := map[string]bool{}
	var order []string
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		if done[n] {
			return nil
		}
		if visiting[n] {
			return &Problem{Service: n, Msg: "depends_on cycle: " + strings.Join(append(path, n), " -> ")}
		}
		s, ok := services[n]
		if !ok {
			return &Problem{Service: path[len(path)-1], Msg: fmt.Sprintf("depends_on names an unknown service %q", n)}
		}
		visiting[n] = true
		for _, d := range s.DependsOn {
			if err := visit(d.Service, append(path, n)); err != nil {
				return err
			}
		}
		visiting[n] = false
		done[n] = true
		order = append(order, n)
		return nil
	}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// HashBuilds hashes the build context of every built service (service name ->
// HashBuildContextWith), so a changed file changes the template's digest.
func HashBuilds(p *Project, rules workshop.DigestRules) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, s := range p.Services {
		if s.Build == nil {
			continue
		}
		sum, err := workshop.HashBuildContextWith(rules, s.Build.Context, s.Build.Dockerfile)
		if err != nil {
			errs = append(errs, &Problem{Service: s.Name, Msg: "build: " + err.Error()})
			continue
		}
		out[s.Name] = sum
	}
	if len(out) == 0 {
		out = nil
	}
	return out, errors.Join(errs...)
}

// ServiceImageTag is the tag a template's built service image gets.
func ServiceImageTag(templateName, service, contextDigest string) string {
	return workshop.BuiltImageTag(templateName+"-"+service, contextDigest)
}

// WorkspaceClaim names the workspace in budget claims.
const WorkspaceClaim = reservedName

// Claims are the workspace's claim (a share) and every service's, for workshop.Allocate.
func Claims(p *Project) []workshop.Claim {
	claims := []workshop.Claim{{Name: WorkspaceClaim}}
	if p != nil {
		for _, s := range p.Services {
			claims = append(claims, workshop.Claim{Name: s.Name, MilliCPU: s.MilliCPU, MemoryBytes: s.MemoryBytes})
		}
	}
	return claims
}

// CheckBudget checks that a project's services fit a session's CPU and memory together
// with the workspace. A *workshop.BudgetError names the services at fault.
func CheckBudget(p *Project, r workshop.Resources) error {
	res, err := r.Parse()
	if err != nil {
		return err
	}
	_, err = workshop.Allocate(res, Claims(p))
	if be, ok := err.(*workshop.BudgetError); ok {
		var errs []error
		for _, n := range be.Names {
			errs = append(errs, &Problem{Service: n, Msg: be.Msg})
		}
		if len(errs) == 0 {
			return &Problem{Msg: be.Msg}
		}
		return errors.Join(errs...)
	}
	return err
}

package compose

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/hostpath"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// serviceConversion turns one compose-go service into a Service, step by step; every
// step records its problems instead of stopping, so one plan names them all.
type serviceConversion struct {
	sc    *types.ServiceConfig
	dir   string // the declared directory ("" when none)
	paths *hostpath.Policy
	s     Service
	errs  []error
}

func (c *serviceConversion) bad(format string, a ...any) {
	c.errs = append(c.errs, &Problem{Service: c.sc.Name, Msg: fmt.Sprintf(format, a...)})
}

func convertService(sc types.ServiceConfig, dir string, paths *hostpath.Policy) (Service, []error) {
	c := &serviceConversion{sc: &sc, dir: dir, paths: paths}
	c.checkName()
	c.s = Service{
		Name:       sc.Name,
		Image:      sc.Image,
		Command:    []string(sc.Command),
		Entrypoint: []string(sc.Entrypoint),
		WorkingDir: sc.WorkingDir,
		User:       sc.User,
		Hostname:   sc.Hostname,
	}
	c.restart()
	c.environment()
	c.capabilities()
	c.build()
	if c.s.Image == "" && c.s.Build == nil {
		c.bad("has neither an image nor a build section")
	}
	c.s.Health = healthcheckOf(sc.HealthCheck)
	c.volumes()
	for _, t := range sc.Tmpfs {
		c.s.Mounts = append(c.s.Mounts, Mount{Type: MountTmpfs, Target: strings.SplitN(t, ":", 2)[0]})
	}
	c.ports()
	c.dependencies()
	c.limits()
	return c.s, c.errs
}

func (c *serviceConversion) checkName() {
	if !serviceNameRE.MatchString(c.sc.Name) {
		c.bad("the service name must be 1-63 lower-case letters, digits or '-' (it becomes a DNS name and part of container names)")
	}
	if c.sc.Name == reservedName {
		c.bad("the name %q is reserved for the participant's workspace container", reservedName)
	}
}

// restart takes restart, else deploy.restart_policy, else "no".
func (c *serviceConversion) restart() {
	c.s.Restart = c.sc.Restart
	if c.s.Restart == "" {
		c.s.Restart = "no"
	}
	if d := c.sc.Deploy; d != nil && d.RestartPolicy != nil && c.sc.Restart == "" {
		switch d.RestartPolicy.Condition {
		case "any":
			c.s.Restart = "always"
		case "on-failure":
			c.s.Restart = "on-failure"
		}
	}
	switch strings.SplitN(c.s.Restart, ":", 2)[0] {
	case "no", "always", "unless-stopped", "on-failure":
	default:
		c.bad("restart %q is not one of no, always, unless-stopped, on-failure", c.s.Restart)
	}
}

func (c *serviceConversion) environment() {
	if len(c.sc.Environment) == 0 {
		return
	}
	c.s.Env = map[string]string{}
	for k, v := range c.sc.Environment {
		if err := workshop.ValidateEnvKey(k); err != nil {
			c.bad("environment: %v", err)
			continue
		}
		if v != nil {
			c.s.Env[k] = *v
		} else {
			c.s.Env[k] = ""
		}
	}
}

// capabilities keeps the allowed cap_add entries. What would weaken the session's
// isolation or reach outside it is refused by keyFindings (keys.go).
func (c *serviceConversion) capabilities() {
	for _, capName := range c.sc.CapAdd {
		capName = strings.TrimPrefix(strings.ToUpper(capName), "CAP_")
		if !allowedCap(capName) {
			c.bad("cap_add %s is outside the allowed capabilities (%s)", capName, strings.Join(workshop.AllowedCapabilities, ", "))
			continue
		}
		c.s.CapAdd = append(c.s.CapAdd, capName)
	}
}

// build resolves build.context against the declared directory and checks it stays
// inside it and the host path policy, and that the Dockerfile exists.
func (c *serviceConversion) build() {
	b := c.sc.Build
	if b == nil {
		return
	}
	ctxDir := b.Context
	if ctxDir == "" {
		ctxDir = "."
	}
	if strings.Contains(ctxDir, "://") || strings.HasPrefix(ctxDir, "git@") {
		c.bad("build.context %q must be a local directory", ctxDir)
		return
	}
	if !filepath.IsAbs(ctxDir) {
		base := c.dir
		if base == "" {
			base, _ = filepath.Abs(".")
		}
		ctxDir = filepath.Join(base, ctxDir)
	}
	c.s.Build = &workshop.Build{Context: ctxDir, Dockerfile: b.Dockerfile}
	if len(b.Args) > 0 {
		c.s.Build.Args = map[string]string{}
		for k, v := range b.Args {
			if v != nil {
				c.s.Build.Args[k] = *v
			}
		}
	}
	if c.dir != "" && !hostpath.Inside(c.dir, ctxDir) {
		c.bad("build.context %s is outside the declared directory %s", ctxDir, c.dir)
	} else if err := c.paths.Check(ctxDir); err != nil {
		c.bad("build.context %v", err)
	} else if _, err := workshop.ResolveDockerfile(ctxDir, b.Dockerfile); err != nil {
		c.bad("build: %v", err)
	}
}

func healthcheckOf(hc *types.HealthCheckConfig) *Healthcheck {
	if hc == nil {
		return nil
	}
	h := &Healthcheck{Test: []string(hc.Test), Disable: hc.Disable}
	if hc.Interval != nil {
		h.Interval = time.Duration(*hc.Interval)
	}
	if hc.Timeout != nil {
		h.Timeout = time.Duration(*hc.Timeout)
	}
	if hc.StartPeriod != nil {
		h.StartPeriod = time.Duration(*hc.StartPeriod)
	}
	if hc.Retries != nil {
		h.Retries = int(*hc.Retries)
	}
	if len(h.Test) > 0 && h.Test[0] == "NONE" {
		h.Disable = true
	}
	return h
}

// volumes turns named volumes, bind mounts (only from inside the declared directory)
// and tmpfs into Mounts.
func (c *serviceConversion) volumes() {
	for _, v := range c.sc.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				c.bad("anonymous volume at %s: give it a name (named volumes are per session)", v.Target)
				continue
			}
			c.s.Mounts = append(c.s.Mounts, Mount{Type: MountVolume, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeBind:
			if c.dir == "" {
				c.bad("bind mount %s: bind mounts need the template's compose_directory (or the apply's context); none is declared", v.Source)
				continue
			}
			// Mount the resolved path: what was checked is what Docker mounts.
			resolved, err := c.paths.CheckInside(c.dir, v.Source)
			if err != nil {
				c.bad("bind mount source %v", err)
				continue
			}
			c.s.Mounts = append(c.s.Mounts, Mount{Type: MountBind, Source: resolved, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeTmpfs:
			c.s.Mounts = append(c.s.Mounts, Mount{Type: MountTmpfs, Target: v.Target})
		default:
			c.bad("volume type %q is not supported (volume, bind from the declared directory, tmpfs)", v.Type)
		}
	}
}

func (c *serviceConversion) ports() {
	for _, pc := range c.sc.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if pc.Target == 0 {
			c.bad("port %q has no container port", pc.Published)
			continue
		}
		c.s.Ports = append(c.s.Ports, Port{Target: int(pc.Target), Protocol: proto})
	}
}

// dependencies lists depends_on sorted by name, the condition defaulting to started.
func (c *serviceConversion) dependencies() {
	deps := make([]string, 0, len(c.sc.DependsOn))
	for d := range c.sc.DependsOn {
		deps = append(deps, d)
	}
	sort.Strings(deps)
	for _, d := range deps {
		cond := c.sc.DependsOn[d].Condition
		if cond == "" {
			cond = ConditionStarted
		}
		switch cond {
		case ConditionStarted, ConditionHealthy, ConditionCompleted:
		default:
			c.bad("depends_on %s: condition %q is not one of %s, %s, %s", d, cond, ConditionStarted, ConditionHealthy, ConditionCompleted)
		}
		c.s.DependsOn = append(c.s.DependsOn, Dependency{Service: d, Condition: cond})
	}
}

// limits sets the service's own limits: deploy.resources.limits win over cpus and
// mem_limit.
func (c *serviceConversion) limits() {
	cpus, mem := float64(c.sc.CPUS), int64(c.sc.MemLimit)
	if d := c.sc.Deploy; d != nil && d.Resources.Limits != nil {
		if d.Resources.Limits.NanoCPUs > 0 {
			cpus = float64(d.Resources.Limits.NanoCPUs)
		}
		if d.Resources.Limits.MemoryBytes > 0 {
			mem = int64(d.Resources.Limits.MemoryBytes)
		}
	}
	if cpus > 0 {
		c.s.MilliCPU = int64(math.Round(cpus * 1000))
		if c.s.MilliCPU < workshop.MinMilliCPU {
			c.bad("cpus %g is below the minimum of %dm", cpus, workshop.MinMilliCPU)
		}
	}
	if mem > 0 {
		c.s.MemoryBytes = mem
		if mem < workshop.MinMemoryBytes {
			c.bad("memory limit %d bytes is below the minimum of 6Mi", mem)
		}
	}
}

func allowedCap(c string) bool {
	for _, a := range workshop.AllowedCapabilities {
		if a == c {
			return true
		}
	}
	return false
}

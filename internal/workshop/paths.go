package workshop

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nalabo/terraform-provider-nalabo/internal/hostpath"
)

// ValidateEnvKey checks an environment variable name: a key with '=' would be split by
// the container runtime into another variable, an empty one or a NUL is dropped or
// truncated, so each is refused rather than silently changed.
func ValidateEnvKey(k string) error {
	switch {
	case k == "":
		return errors.New("an environment variable name must not be empty")
	case strings.ContainsRune(k, '='):
		return fmt.Errorf("environment variable name %q contains '=' (the runtime would read it as %q)", k, k[:strings.IndexRune(k, '=')])
	case strings.ContainsRune(k, 0):
		return fmt.Errorf("environment variable name %q contains a NUL character", k)
	}
	return nil
}

// ValidateEnv checks every key of an environment map; path names the attribute.
func ValidateEnv(path string, env map[string]string) error {
	var errs []error
	for k, v := range env {
		if err := ValidateEnvKey(k); err != nil {
			errs = append(errs, &FieldError{Path: path, Msg: err.Error()})
		}
		if strings.ContainsRune(v, 0) {
			errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf("the value of %q contains a NUL character", k)})
		}
	}
	return errors.Join(errs...)
}

// ValidatePaths refuses the host paths a template would expose (compose_directory,
// workspace.build.context) under policy p (nil: hostpath.Default()).
func (t *Template) ValidatePaths(p *hostpath.Policy) error {
	if p == nil {
		p = hostpath.Default()
	}
	var errs []error
	check := func(path, dir string) {
		if dir == "" {
			return
		}
		abs, err := filepath.Abs(dir)
		if err == nil {
			err = p.Check(abs)
		}
		if err != nil {
			errs = append(errs, &FieldError{Path: path, Msg: err.Error()})
		}
	}
	check("compose_directory", t.ComposeDir)
	if t.Workspace.Build != nil {
		check("workspace.build.context", t.Workspace.Build.Context)
	}
	return errors.Join(errs...)
}

// ValidatePaths refuses an apply's context directory under policy p (nil:
// hostpath.Default()).
func (c *Config) ValidatePaths(p *hostpath.Policy) error {
	if c.ContextDir == "" {
		return nil
	}
	if p == nil {
		p = hostpath.Default()
	}
	abs, err := filepath.Abs(c.ContextDir)
	if err == nil {
		err = p.Check(abs)
	}
	if err != nil {
		return &FieldError{Path: "context", Msg: err.Error()}
	}
	return nil
}

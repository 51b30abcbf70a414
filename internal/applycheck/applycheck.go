// Package applycheck validates a configuration applied to a live session (nalabo_apply
// and the gateway's POST .../apply) without a backend, the same way for both callers.
package applycheck

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nalabo/terraform-provider-nalabo/internal/compose"
	"github.com/nalabo/terraform-provider-nalabo/internal/manifest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Dockerfile checks that a Dockerfile's first instruction (after comments, parser
// directives and ARGs) is FROM.
func Dockerfile(content string) error {
	for i, line := range strings.Split(content, "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		word := strings.ToUpper(strings.Fields(l)[0])
		switch word {
		case "ARG":
			continue
		case "FROM":
			return nil
		default:
			return fmt.Errorf("line %d: the first instruction must be FROM (or ARG), got %s", i+1, word)
		}
	}
	return errors.New("no FROM instruction: the Dockerfile is empty")
}

// Remote checks a configuration that arrives without a directory on this machine (the
// runtime API): the checks of nalabo_apply for its type, and for compose no bind mount
// and no build (they would read the gateway's own filesystem). Each error is one problem.
func Remote(ctx context.Context, typ, content string) []error {
	if strings.TrimSpace(content) == "" {
		return []error{errors.New("configuration: must not be empty")}
	}
	switch typ {
	case workshop.ConfigCompose:
		if errs := hostFileKeys(content); len(errs) > 0 {
			return errs
		}
		proj, err := compose.Parse(ctx, content, compose.Options{ProjectName: "apply"})
		if err != nil {
			if ps := compose.Problems(err); len(ps) > 0 {
				out := make([]error, 0, len(ps))
				for _, p := range ps {
					out = append(out, p)
				}
				return out
			}
			return []error{err}
		}
		var out []error
		for _, s := range proj.Services {
			for _, m := range s.Mounts {
				if m.Type == compose.MountBind {
					out = append(out, fmt.Errorf("service %q: bind mount to %s: the API has no directory to mount from; use a named volume", s.Name, m.Target))
				}
			}
		}
		return out
	case workshop.ConfigDockerfile:
		if err := Dockerfile(content); err != nil {
			return []error{err}
		}
	case workshop.ConfigYAML:
		if _, err := manifest.Parse(content); err != nil {
			if u, ok := err.(interface{ Unwrap() []error }); ok {
				return u.Unwrap()
			}
			return []error{err}
		}
	default:
		return []error{fmt.Errorf("type: must be one of %s, got %q", strings.Join(workshop.ConfigTypes, ", "), typ)}
	}
	return nil
}

// hostFileKeys refuses, before the Compose loader runs, the keys that make it read files
// of the machine it runs on (the gateway's): a build context, env files, extends,
// include, configs and secrets from files.
func hostFileKeys(content string) []error {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(content), &doc); err != nil {
		return nil // the loader reports it
	}
	var out []error
	for _, k := range []string{"include", "configs", "secrets"} {
		if _, ok := doc[k]; ok {
			out = append(out, fmt.Errorf("%s: not available through the API (it reads files of the gateway's machine)", k))
		}
	}
	services, _ := doc["services"].(map[string]any)
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		svc, _ := services[n].(map[string]any)
		for _, k := range []string{"build", "env_file", "label_file", "extends"} {
			if _, ok := svc[k]; ok {
				what := "it reads files of the gateway's machine"
				if k == "build" {
					what = "no build context; use an image, or type dockerfile"
				}
				out = append(out, fmt.Errorf("service %q: %s is not available through the API (%s)", n, k, what))
			}
		}
	}
	return out
}

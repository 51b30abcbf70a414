package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// pullTimeout bounds one pull shared by every caller waiting for it.
const pullTimeout = 30 * time.Minute

// ensureImage makes ref present on the host (pulling it once, with registry auth, when
// missing) and returns its image ID.
func (b *Backend) ensureImage(ctx context.Context, ref string) (string, error) {
	ins, err := b.cli.ImageInspect(ctx, ref)
	if err == nil {
		return ins.ID, nil
	}
	if !isNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if err := b.pullOnce(ctx, ref); err != nil {
		return "", fmt.Errorf("image %s is not on the Docker host and cannot be pulled: %w", ref, err)
	}
	ins, err = b.cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("image %s: pulled but not found on the Docker host: %w", ref, err)
	}
	return ins.ID, nil
}

// pullOnce pulls ref; concurrent callers for the same ref share one pull. The pull is
// not tied to the first caller's context, so one cancelled apply does not fail the rest.
func (b *Backend) pullOnce(ctx context.Context, ref string) error {
	ch := b.pulls.DoChan(ref, func() (any, error) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pullTimeout)
		defer cancel()
		return nil, b.pull(pctx, ref)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Backend) pull(ctx context.Context, ref string) error {
	auth, login, err := RegistryAuthFor(b.cfg.RegistryAuth, ref)
	if err != nil {
		return err
	}
	rc, err := b.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		defer rc.Close()
		_, err = readJSONStream(rc)
	}
	return PullError("docker", ref, login, err)
}

// PullError names the registry and the login a refused pull used (never the password);
// block is the provider block whose registry_auth it was ("docker", "swarm"). Other
// errors pass through.
func PullError(block, ref string, login *RegistryAuth, err error) error {
	if err == nil || !config.IsRegistryAuthError(err.Error()) {
		return err
	}
	host, _ := config.ImageRegistry(ref)
	if login == nil {
		return fmt.Errorf("registry %s requires a login and no %s.registry_auth block names it: %w", host, block, err)
	}
	return fmt.Errorf("registry %s refused the login of %s.registry_auth %q (user %q); check its username and password: %w",
		host, block, login.Address, login.Username, err)
}

// streamMessage is one line of a pull or build progress stream.
type streamMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// streamTailLines is how much build output an error carries.
const streamTailLines = 20

// ReadPullStream drains a pull's progress stream and returns the error it reported
// (the Swarm backend's manager pulls too).
func ReadPullStream(r io.Reader) error {
	_, err := readJSONStream(r)
	return err
}

// readJSONStream drains a progress stream. It returns the last lines of output and the
// error the stream reported, if any.
func readJSONStream(r io.Reader) ([]string, error) {
	dec := json.NewDecoder(r)
	var tail []string
	for {
		var m streamMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return tail, nil
			}
			return tail, fmt.Errorf("read progress: %w", err)
		}
		for _, line := range strings.Split(strings.TrimRight(m.Stream, "\n"), "\n") {
			if strings.TrimSpace(line) != "" {
				tail = append(tail, line)
			}
		}
		if len(tail) > streamTailLines {
			tail = tail[len(tail)-streamTailLines:]
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return tail, errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return tail, errors.New(m.Error)
		}
	}
}

// ensureBuilt builds the template's workspace image unless an image with the same build
// inputs exists, and returns its tag and image ID. It fills Build.ContextDigest.
func (b *Backend) ensureBuilt(ctx context.Context, t *workshop.Template) (string, string, error) {
	bd := t.Workspace.Build
	if bd.ContextDigest == "" {
		var err error
		if bd.ContextDigest, err = workshop.HashBuildContextWith(workshop.RulesOf(t.Owner), bd.Context, bd.Dockerfile); err != nil {
			return "", "", fmt.Errorf("template %s: workspace.build: %w", t.Name, err)
		}
	}
	tag := workshop.BuiltImageTag(t.Name, bd.ContextDigest)
	id, err := b.ensureBuiltImage(ctx, t.Name, tag, bd, nil)
	if err != nil {
		return "", "", fmt.Errorf("template %s: workspace.build: %w", t.Name, err)
	}
	return tag, id, nil
}

// ensureBuiltImage builds tag from bd (whose ContextDigest is set) unless an image with
// the same build inputs exists, and returns its image ID. The image is labelled with
// the template name (and extra labels).
func (b *Backend) ensureBuiltImage(ctx context.Context, templateName, tag string, bd *workshop.Build, extra map[string]string) (string, error) {
	dockerfile, err := workshop.ResolveDockerfile(bd.Context, bd.Dockerfile)
	if err != nil {
		return "", err
	}
	want := buildDigest(bd.ContextDigest, dockerfile, bd.Args)
	if id, ok, err := b.builtImage(ctx, tag, templateName, want); err != nil || ok {
		return id, err
	}
	labels := workshop.WithLabels(extra,
		workshop.LabelManagedBy, workshop.ManagedByValue,
		workshop.LabelRole, workshop.RoleImage,
		workshop.LabelTemplate, templateName,
		LabelBuildDigest, want)
	_, err, _ = b.builds.Do(tag+"@"+want, func() (any, error) {
		return nil, b.build(ctx, tag, dockerfile, labels, bd)
	})
	if err != nil {
		return "", fmt.Errorf("build %s from %s: %w", tag, bd.Context, err)
	}
	id, ok, err := b.builtImage(ctx, tag, templateName, want)
	if err == nil && !ok {
		err = fmt.Errorf("image %s is missing after its build", tag)
	}
	return id, err
}

// builtImage returns the ID of tag when the provider built it from the same inputs.
func (b *Backend) builtImage(ctx context.Context, tag, name, digest string) (string, bool, error) {
	ins, err := b.cli.ImageInspect(ctx, tag)
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("inspect image %s: %w", tag, err)
	}
	if ins.Config == nil {
		return "", false, nil
	}
	l := ins.Config.Labels
	ok := managedBy(l) && l[workshop.LabelRole] == workshop.RoleImage &&
		l[workshop.LabelTemplate] == name && l[LabelBuildDigest] == digest
	return ins.ID, ok, nil
}

// buildDigest identifies a build's inputs: the context's files, the Dockerfile's path
// and the build arguments (the tag only carries the context digest).
func buildDigest(contextDigest, dockerfile string, args map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", contextDigest, dockerfile)
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\x00", k, args[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// build sends the context to the daemon's builder and reads its output.
func (b *Backend) build(ctx context.Context, tag, dockerfile string, labels map[string]string, bd *workshop.Build) error {
	buildCtx, err := newContextTar(bd.Context, dockerfile)
	if err != nil {
		return err
	}
	defer buildCtx.Close()
	args := make(map[string]*string, len(bd.Args))
	for k, v := range bd.Args {
		args[k] = &v
	}
	resp, err := b.cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  dockerfile,
		BuildArgs:   args,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		AuthConfigs: b.buildAuthConfigs(),
		Labels:      labels,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tail, err := readJSONStream(resp.Body)
	if err != nil {
		if len(tail) > 0 {
			return fmt.Errorf("%w\nlast build output:\n%s", err, strings.Join(tail, "\n"))
		}
		return err
	}
	return nil
}

// buildAuthConfigs gives the builder the registry login for FROM images.
func (b *Backend) buildAuthConfigs() map[string]registry.AuthConfig {
	if len(b.cfg.RegistryAuth) == 0 {
		return nil
	}
	out := map[string]registry.AuthConfig{}
	for _, a := range b.cfg.RegistryAuth {
		if a.Username == "" {
			continue
		}
		c := authConfig(a)
		c.ServerAddress = a.AuthKey()
		out[c.ServerAddress] = c
	}
	return out
}

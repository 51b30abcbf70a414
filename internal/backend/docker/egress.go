package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/stdcopy"
	"golang.org/x/sync/singleflight"

	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Egress policy: session networks get a Linux bridge name that says their egress mode
// (nlb-<id> restricted, nln-<id> none, nlo-<id> open), and the nftables ruleset of
// package netguard, matching those prefixes, is installed on the engine's host by the
// provider binary itself, run in a short-lived helper container (network mode host,
// NET_ADMIN only, read-only, image FROM scratch holding just the executable). Only the
// Docker API is used, so a remote engine works as well as the local one.

// RoleNetguard labels the helper's image and containers.
const RoleNetguard = "netguard"

// netguardRepo is the repository of the helper image, tagged by the executable's hash.
const netguardRepo = "nalabo/netguard"

// egressRecheck is how long an installed ruleset is trusted before the next session
// create checks it again (one helper run: the ruleset is rewritten only when missing
// or damaged, e.g. after a host reboot).
const egressRecheck = 10 * time.Minute

// helperTimeout bounds one helper run, image import included (the image holds the
// whole provider binary, some 100 MB).
const helperTimeout = 2 * time.Minute

// netguardImagePruneAge: helper images of other executables older than this are
// removed when a new one is imported (younger ones may be about to run).
const netguardImagePruneAge = time.Hour

type egressGuard struct {
	mu      sync.Mutex
	checked time.Time // last successful apply
	image   string    // helper image tag, once present
	group   singleflight.Group
}

// bridgeName is the Linux bridge of a session network: prefix by egress mode, then the
// session ID (or a hash of it when too long for the 15-byte interface name).
func bridgeName(id string, e workshop.Egress) string {
	pfx := netguard.BridgePrefixRestricted
	switch e {
	case workshop.EgressOpen:
		pfx = netguard.BridgePrefixOpen
	case workshop.EgressNone:
		pfx = netguard.BridgePrefixNone
	}
	if len(pfx)+len(id) > 15 {
		sum := sha256.Sum256([]byte(id))
		id = hex.EncodeToString(sum[:])[:15-len(pfx)]
	}
	return pfx + id
}

// ensureEgress makes sure the ruleset is installed on the engine's host before a
// session of template t starts; open sessions need nothing. Concurrent creates share
// one helper run.
func (b *Backend) ensureEgress(ctx context.Context, t *workshop.Template) error {
	if t.EffectiveEgress() == workshop.EgressOpen {
		return nil
	}
	b.egress.mu.Lock()
	fresh := time.Since(b.egress.checked) < egressRecheck
	b.egress.mu.Unlock()
	if fresh {
		return nil
	}
	ch := b.egress.group.DoChan("apply", func() (any, error) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), helperTimeout)
		defer cancel()
		args := []string{netguard.Arg, "apply"}
		for _, p := range b.cfg.egressDeny {
			args = append(args, "-deny", p.String())
		}
		st, err := b.runNetguard(sctx, args)
		if err != nil {
			return nil, err
		}
		if !st.Complete {
			return nil, fmt.Errorf("the egress helper reported an incomplete ruleset: %v", st.Rules)
		}
		b.egress.mu.Lock()
		b.egress.checked = time.Now()
		b.egress.mu.Unlock()
		return st, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("egress policy (template egress %q): %w", t.EffectiveEgress(), r.Err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// EgressRuleset reads the ruleset installed on the engine's host (through the helper).
func (b *Backend) EgressRuleset(ctx context.Context) (*netguard.State, error) {
	return b.runNetguard(ctx, []string{netguard.Arg, "read"})
}

// runNetguard runs the helper container with args and decodes the state it prints.
func (b *Backend) runNetguard(ctx context.Context, args []string) (*netguard.State, error) {
	img, err := b.netguardImage(ctx)
	if err != nil {
		return nil, err
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "nalabo-netguard-" + hex.EncodeToString(suffix[:])
	labels := map[string]string{workshop.LabelManagedBy: workshop.ManagedByValue, workshop.LabelRole: RoleNetguard,
		workshop.LabelBackend: string(workshop.InfraDocker)}
	hc := &container.HostConfig{
		// The host's network namespace, where the session bridges are; NET_ADMIN in
		// the host's user namespace (even when the daemon remaps users).
		NetworkMode:    "host",
		UsernsMode:     "host",
		CapDrop:        []string{"ALL"},
		CapAdd:         []string{"NET_ADMIN"},
		ReadonlyRootfs: true,
		SecurityOpt:    []string{"no-new-privileges:true"},
		LogConfig:      container.LogConfig{Type: "json-file"},
	}
	_, err = b.cli.ContainerCreate(ctx, &container.Config{Image: img, Cmd: args, User: "0:0", Labels: labels}, hc, nil, nil, name)
	if isNotFound(err) {
		// Another process's prune removed the image (an older one of the same executable,
		// as a test binary rebuilt from a warm cache is): import it again, once.
		b.egress.mu.Lock()
		b.egress.image = ""
		b.egress.mu.Unlock()
		if img, err = b.netguardImage(ctx); err != nil {
			return nil, err
		}
		_, err = b.cli.ContainerCreate(ctx, &container.Config{Image: img, Cmd: args, User: "0:0", Labels: labels}, hc, nil, nil, name)
	}
	if err != nil {
		return nil, fmt.Errorf("create the egress helper container: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = b.cli.ContainerRemove(rctx, name, container.RemoveOptions{Force: true})
	}()
	waitC, errC := b.cli.ContainerWait(ctx, name, container.WaitConditionNextExit)
	if err := b.cli.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("start the egress helper container: %w", err)
	}
	var code int64
	select {
	case r := <-waitC:
		if r.Error != nil {
			return nil, fmt.Errorf("egress helper: %s", r.Error.Message)
		}
		code = r.StatusCode
	case err := <-errC:
		return nil, fmt.Errorf("wait for the egress helper: %w", err)
	}
	rc, err := b.cli.ContainerLogs(ctx, name, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, fmt.Errorf("read the egress helper's output: %w", err)
	}
	defer rc.Close()
	stdout := workshop.NewBoundedBuffer(256 * 1024)
	stderr := workshop.NewBoundedBuffer(16 * 1024)
	if _, err := stdcopy.StdCopy(stdout, stderr, rc); err != nil {
		return nil, fmt.Errorf("read the egress helper's output: %w", err)
	}
	if code != 0 {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "operation not permitted") {
			msg += " (the helper needs NET_ADMIN in the host's network namespace: a rootless or user-namespaced " +
				"engine, or a security profile refusing netlink, cannot run it; see the provider documentation)"
		}
		return nil, fmt.Errorf("the egress helper exited with code %d: %s", code, msg)
	}
	var st netguard.State
	if err := json.Unmarshal(bytes.TrimSpace([]byte(stdout.String())), &st); err != nil {
		return nil, fmt.Errorf("the egress helper printed no state (%v): %s", err, strings.TrimSpace(stderr.String()))
	}
	return &st, nil
}

// netguardImage makes the helper image present: the running executable alone, tagged
// by its hash, imported through the API (no builder, no registry).
func (b *Backend) netguardImage(ctx context.Context) (string, error) {
	b.egress.mu.Lock()
	img := b.egress.image
	b.egress.mu.Unlock()
	if img != "" {
		return img, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("egress helper: find the provider executable: %w", err)
	}
	ver, err := b.cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("egress helper: docker version: %w", err)
	}
	if err := checkHelperExecutable(exe, ver.Os, ver.Arch); err != nil {
		return "", err
	}
	sum, err := fileSHA256(exe)
	if err != nil {
		return "", fmt.Errorf("egress helper: hash %s: %w", exe, err)
	}
	img = netguardRepo + ":" + sum[:16]
	if _, err := b.cli.ImageInspect(ctx, img); err != nil {
		if !isNotFound(err) {
			return "", fmt.Errorf("egress helper: inspect image %s: %w", img, err)
		}
		if err := b.importNetguardImage(ctx, exe, img); err != nil {
			return "", err
		}
		b.pruneNetguardImages(ctx, img)
	}
	b.egress.mu.Lock()
	b.egress.image = img
	b.egress.mu.Unlock()
	return img, nil
}

// importNetguardImage imports a one-file image: /netguard, the executable.
func (b *Backend) importNetguardImage(ctx context.Context, exe, ref string) error {
	f, err := os.Open(exe)
	if err != nil {
		return fmt.Errorf("egress helper: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("egress helper: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "netguard", Mode: 0o555, Size: fi.Size(), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	rc, err := b.cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{
		Changes: []string{
			`ENTRYPOINT ["/netguard"]`,
			fmt.Sprintf("LABEL %s=%s %s=%s", workshop.LabelManagedBy, workshop.ManagedByValue, workshop.LabelRole, RoleNetguard),
		},
		Message: "terraform-provider-nalabo egress helper",
	})
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("egress helper: import image %s: %w", ref, err)
	}
	defer rc.Close()
	if tail, err := readJSONStream(rc); err != nil {
		return fmt.Errorf("egress helper: import image %s: %w (%s)", ref, err, strings.Join(tail, "; "))
	}
	return nil
}

// pruneNetguardImages removes helper images of other executables (an upgraded
// provider, test binaries), best effort: one in use or recent stays.
func (b *Backend) pruneNetguardImages(ctx context.Context, keep string) {
	imgs, err := b.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", workshop.LabelRole+"="+RoleNetguard), filters.Arg("reference", netguardRepo))})
	if err != nil {
		return
	}
	for _, im := range imgs {
		if time.Since(time.Unix(im.Created, 0)) < netguardImagePruneAge {
			continue
		}
		for _, tag := range im.RepoTags {
			if tag != keep {
				_, _ = b.cli.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
			}
		}
	}
}

// elfMachines maps Docker's (Go's) architecture names to ELF machines.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM, "386": elf.EM_386,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
}

// checkHelperExecutable checks that the executable can run alone in an empty image on
// the engine: a static Linux ELF for the engine's architecture.
func checkHelperExecutable(exe, engineOS, engineArch string) error {
	remedy := "Either run Terraform from a static Linux build of the provider for the engine's architecture " +
		"(CGO_ENABLED=0; the release binaries are), or give the templates egress = \"open\" (no egress rules)."
	if engineOS != "" && engineOS != "linux" {
		return fmt.Errorf("egress helper: the Docker engine runs %s containers; the egress policy needs a Linux engine. %s", engineOS, remedy)
	}
	f, err := elf.Open(exe)
	if err != nil {
		return fmt.Errorf("egress helper: the provider executable %s is not a Linux ELF binary (%v), so it cannot run as the helper container. %s", exe, err, remedy)
	}
	defer f.Close()
	if want, ok := elfMachines[engineArch]; ok && f.Machine != want {
		return fmt.Errorf("egress helper: the provider executable %s is built for %s, the engine runs %s. %s", exe, f.Machine, engineArch, remedy)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("egress helper: the provider executable %s is dynamically linked (it has an ELF interpreter), "+
				"so it cannot run alone in the helper's empty image: build it with CGO_ENABLED=0. %s", exe, remedy)
		}
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// errEgressNonePorts refuses published ports on an internal network.
var errEgressNonePorts = errors.New(`egress = "none" puts the session on an internal network, where no port can be published`)

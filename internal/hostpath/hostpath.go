// Package hostpath decides which host paths a session may see through a bind mount or
// a build context. One Policy is shared by the provider (plan time) and the Docker
// backend (apply time, again, with the daemon's own socket and data root), so both refuse
// the same paths.
//
// A path is refused when, as written or after following symlinks:
//   - it is, is below, or contains a forbidden subtree (the host's system directories,
//     the Docker socket, the daemon's data root); "/" and "/var" contain some;
//   - it is, or contains, a protected directory (home roots, /tmp, /opt, ...): a
//     subdirectory of those is fine, the directory itself exposes too much;
//   - one of its components is a credential directory (.ssh, .docker, ...), or it directly
//     holds one (a home directory).
package hostpath

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SystemDirs are the forbidden subtrees of every policy: nothing at, below or above them
// is mounted or sent as a build context.
var SystemDirs = []string{
	"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
	"/sys", "/usr", "/var/lib/containerd", "/var/lib/docker", "/var/lib/kubelet", "/var/log", "/var/run",
}

// DefaultSockets are the Docker (and containerd) sockets refused even when the
// configured daemon is elsewhere.
var DefaultSockets = []string{"/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"}

// ProtectedDirs may not be mounted or declared themselves (nor any directory containing
// them); their subdirectories may.
var ProtectedDirs = []string{"/", "/home", "/media", "/mnt", "/opt", "/root", "/srv", "/tmp", "/var", "/var/lib", "/var/tmp"}

// CredentialDirs are directory names that hold credentials: a path through one is
// refused, and so is a directory directly holding one.
var CredentialDirs = []string{".aws", ".docker", ".gnupg", ".kube", ".ssh"}

// Policy is a set of forbidden and protected host paths.
type Policy struct {
	forbidden []string // cleaned, plus their symlink targets
	protected []string
}

// Default is the policy without daemon-specific paths: SystemDirs, DefaultSockets,
// ProtectedDirs.
func Default() *Policy { return New() }

// New returns the default policy plus extra forbidden paths (a daemon's socket, its data
// root). Relative or empty extras are ignored.
func New(extra ...string) *Policy {
	p := &Policy{}
	add := func(list *[]string, x string) {
		if x == "" || !filepath.IsAbs(x) {
			return
		}
		x = filepath.Clean(x)
		for _, y := range *list {
			if y == x {
				return
			}
		}
		*list = append(*list, x)
	}
	for _, group := range [][]string{SystemDirs, DefaultSockets, extra} {
		for _, x := range group {
			add(&p.forbidden, x)
			add(&p.forbidden, resolve(x))
		}
	}
	for _, x := range ProtectedDirs {
		add(&p.protected, x)
		add(&p.protected, resolve(x))
	}
	sort.Strings(p.forbidden)
	return p
}

// SocketPath returns the filesystem path of a unix:// daemon address ("" for others).
func SocketPath(host string) string {
	if !strings.HasPrefix(host, "unix://") {
		return ""
	}
	u, err := url.Parse(host)
	if err != nil {
		return strings.TrimPrefix(host, "unix://")
	}
	return u.Path
}

// Error says why a host path is refused.
type Error struct {
	Path     string // as given
	Resolved string // after following symlinks, when it differs
	Reason   string
}

func (e *Error) Error() string {
	s := e.Path
	if e.Resolved != "" && e.Resolved != filepath.Clean(e.Path) {
		s += " (" + e.Resolved + " after following symlinks)"
	}
	return s + " is refused: " + e.Reason
}

// Check refuses a host path a session would see (a bind-mount source, a declared
// directory, a build context). It needs an absolute path.
func (p *Policy) Check(path string) error {
	if !filepath.IsAbs(path) {
		return &Error{Path: path, Reason: "it must be an absolute path"}
	}
	clean := filepath.Clean(path)
	res := resolve(clean)
	for _, c := range []string{clean, res} {
		if why := p.reason(c); why != "" {
			return &Error{Path: path, Resolved: res, Reason: why}
		}
	}
	return nil
}

func (p *Policy) reason(c string) string {
	for _, f := range p.forbidden {
		if c == f {
			return fmt.Sprintf("%s is a host system path sessions must not reach", f)
		}
	}
	for _, d := range p.protected {
		if c == d {
			return fmt.Sprintf("%s exposes the host's or other users' files; declare a subdirectory of it", d)
		}
	}
	for _, f := range p.forbidden {
		if within(f, c) {
			return fmt.Sprintf("it is inside the host system path %s", f)
		}
	}
	for _, f := range p.forbidden {
		if within(c, f) {
			return fmt.Sprintf("it contains the host system path %s", f)
		}
	}
	for _, d := range p.protected {
		if within(c, d) {
			return fmt.Sprintf("it contains %s; declare a subdirectory of it", d)
		}
	}
	for _, part := range strings.Split(c, string(filepath.Separator)) {
		for _, cd := range CredentialDirs {
			if part == cd {
				return fmt.Sprintf("it goes through a credential directory (%s)", cd)
			}
		}
	}
	for _, cd := range CredentialDirs {
		if info, err := os.Lstat(filepath.Join(c, cd)); err == nil && info.IsDir() {
			return fmt.Sprintf("it holds a credential directory (%s): is it a home directory?", filepath.Join(c, cd))
		}
	}
	return ""
}

// CheckInside checks a bind-mount source: it must be dir or below it, as written and
// after following symlinks (so a symlink in dir pointing elsewhere is refused), and pass
// Check. dir itself is checked with Check by the caller. It returns the source with its
// symlinks resolved: mount that, not the symlink.
func (p *Policy) CheckInside(dir, src string) (string, error) {
	if !filepath.IsAbs(src) {
		return "", &Error{Path: src, Reason: "it must be an absolute path"}
	}
	d, s := filepath.Clean(dir), filepath.Clean(src)
	rd, rs := resolve(d), resolve(s)
	if !within(d, s) && d != s {
		return "", &Error{Path: src, Reason: "it is outside the declared directory " + dir}
	}
	if !within(rd, rs) && rd != rs {
		return "", &Error{Path: src, Resolved: rs, Reason: "it is outside the declared directory " + dir + " after following symlinks"}
	}
	if err := p.Check(s); err != nil {
		return "", err
	}
	return rs, nil
}

// Inside reports whether p is dir or below it, lexically and after following symlinks.
func Inside(dir, p string) bool {
	d, c := filepath.Clean(dir), filepath.Clean(p)
	rd, rc := resolve(d), resolve(c)
	return (d == c || within(d, c)) && (rd == rc || within(rd, rc))
}

// within reports whether c is strictly below dir.
func within(dir, c string) bool {
	rel, err := filepath.Rel(dir, c)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// resolve follows the symlinks of the longest existing prefix of an absolute path (the
// rest does not exist yet, so it cannot be a symlink).
func resolve(p string) string { return resolveDepth(p, 0) }

func resolveDepth(p string, depth int) string {
	rest := ""
	cur := filepath.Clean(p)
	for {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		// A dangling symlink still says where it would lead once its target exists.
		if target, err := os.Readlink(cur); err == nil && depth < 40 {
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(cur), target)
			}
			return filepath.Join(resolveDepth(target, depth+1), rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return filepath.Clean(p)
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

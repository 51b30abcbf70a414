package workshop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultDockerfile is the Dockerfile's name when a build does not give one.
const DefaultDockerfile = "Dockerfile"

// HashBuildContext returns the hex sha256 of a Dockerfile build context: the sorted
// relative paths, modes and contents of every regular file and the targets of every
// symlink under dir (.git is skipped). A changed, added or removed file changes it.
// dockerfile ("" means "Dockerfile") is relative to dir and must exist inside it.
func HashBuildContext(dir, dockerfile string) (string, error) {
	if _, err := ResolveDockerfile(dir, dockerfile); err != nil {
		return "", err
	}
	return HashDirectory(dir)
}

// HashDirectory returns the hex sha256 of a directory's files, as HashBuildContext
// does, without requiring a Dockerfile in it.
func HashDirectory(dir string) (string, error) {
	if info, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("directory %s: %w", dir, err)
	} else if !info.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	type entry struct {
		rel  string
		path string
		mode fs.FileMode
	}
	var entries []entry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" && path != dir {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && info.Mode()&fs.ModeSymlink == 0 {
			return nil // sockets, devices, pipes: not part of a context
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		entries = append(entries, entry{rel: filepath.ToSlash(rel), path: path, mode: info.Mode()})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read build context %s: %w", dir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })
	h := sha256.New()
	for _, e := range entries {
		if err := hashEntry(h, e.rel, e.path, e.mode); err != nil {
			return "", fmt.Errorf("read build context %s: %w", dir, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashEntry writes one file as: path NUL mode NUL size-or-target NUL content.
func hashEntry(h hash.Hash, rel, path string, mode fs.FileMode) error {
	_, _ = io.WriteString(h, rel+"\x00"+strconv.FormatUint(uint64(mode), 8)+"\x00")
	if mode&fs.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		_, _ = io.WriteString(h, "->"+target+"\x00")
		return nil
	}
	return hashFile(h, path)
}

// ResolveDockerfile checks that dir is a directory holding dockerfile ("" means
// "Dockerfile", relative to dir) and returns the Dockerfile's path relative to dir, with
// forward slashes, as the Docker build API expects it.
func ResolveDockerfile(dir, dockerfile string) (string, error) {
	info, err := os.Stat(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("build context %s does not exist", dir)
		}
		return "", fmt.Errorf("build context %s: %w", dir, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("build context %s is not a directory", dir)
	}
	if dockerfile == "" {
		dockerfile = DefaultDockerfile
	}
	if filepath.IsAbs(dockerfile) {
		return "", fmt.Errorf("dockerfile %s must be relative to the build context %s", dockerfile, dir)
	}
	rel := filepath.Clean(dockerfile)
	if rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("dockerfile %s must be inside the build context %s", dockerfile, dir)
	}
	path := filepath.Join(dir, rel)
	st, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("dockerfile %s does not exist (looked for %s in the build context %s)", dockerfile, path, dir)
		}
		return "", fmt.Errorf("dockerfile %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("dockerfile %s is not a regular file", path)
	}
	return filepath.ToSlash(rel), nil
}

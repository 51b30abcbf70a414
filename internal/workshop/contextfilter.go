package workshop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// DigestRules says how a template's digest is computed from what it reads on disk.
type DigestRules int

const (
	// RulesLegacy are the rules of templates stored before ownership (no Owner): the
	// build context's and Compose directory's paths are part of the digest, and a context
	// is hashed whole with its files' full modes. Kept so that those templates keep their
	// IDs (and their sessions) after an upgrade.
	RulesLegacy DigestRules = iota
	// RulesContent: only content counts. A build context is its files' relative paths,
	// contents, executable bits and symlink targets, as the builder gets it (.dockerignore
	// honoured); where the directories sit is not part of the digest, so a configuration
	// moved to another directory (every HCP Terraform run) keeps its template IDs.
	RulesContent
)

// RulesOf returns the digest rules of a template with the given owner.
func RulesOf(owner string) DigestRules {
	if owner == "" {
		return RulesLegacy
	}
	return RulesContent
}

// HashBuildContextWith hashes a Dockerfile build context under the given rules.
func HashBuildContextWith(rules DigestRules, dir, dockerfile string) (string, error) {
	if rules == RulesLegacy {
		return HashBuildContext(dir, dockerfile)
	}
	rel, err := ResolveDockerfile(dir, dockerfile)
	if err != nil {
		return "", err
	}
	return hashContent(dir, rel)
}

// ContextFilter decides which files of a build context reach the builder: what
// .dockerignore excludes (Docker's syntax, through moby/patternmatcher) stays out, the
// Dockerfile and .dockerignore are always sent (as Docker does), .git never is.
type ContextFilter struct {
	pm   *patternmatcher.PatternMatcher
	keep map[string]bool
	// dockerfile's directories are never skipped whole.
	dockerfile string
}

// LoadContextFilter reads dir's .dockerignore (none is fine). dockerfile is relative to
// dir, slash separated.
func LoadContextFilter(dir, dockerfile string) (*ContextFilter, error) {
	f := &ContextFilter{keep: map[string]bool{dockerfile: true, ".dockerignore": true}, dockerfile: dockerfile}
	r, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if os.IsNotExist(err) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer r.Close()
	patterns, err := ignorefile.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, ".dockerignore"), err)
	}
	if f.pm, err = patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ".dockerignore"), err)
	}
	return f, nil
}

// Excluded reports whether rel (slash separated, relative to the context) stays out
// of the context, and for a directory whether nothing below it can be sent either.
func (f *ContextFilter) Excluded(rel string, isDir bool) (excluded, skipDir bool, err error) {
	if isDir && (rel == ".git" || strings.HasSuffix(rel, "/.git")) {
		return true, true, nil
	}
	if f.keep[rel] || f.pm == nil {
		return false, false, nil
	}
	out, err := f.pm.MatchesOrParentMatches(rel)
	if err != nil {
		return false, false, fmt.Errorf(".dockerignore: %w", err)
	}
	if !out || !isDir {
		return out, false, nil
	}
	// A directory can be skipped whole unless an exception (!pattern) may bring back
	// something below it, or the Dockerfile is inside it.
	return true, !f.pm.Exclusions() && !strings.HasPrefix(f.dockerfile, rel+"/"), nil
}

// WalkContext calls fn for every directory, regular file and symlink of the context
// that the builder gets, in lexical order; rel is slash separated.
func WalkContext(dir, dockerfile string, fn func(path, rel string, d fs.DirEntry) error) error {
	filter, err := LoadContextFilter(dir, dockerfile)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, skip, err := filter.Excluded(rel, d.IsDir())
		if err != nil {
			return err
		}
		if skip {
			return filepath.SkipDir
		}
		if excluded {
			return nil
		}
		t := d.Type()
		if !t.IsDir() && !t.IsRegular() && t&fs.ModeSymlink == 0 {
			return nil // sockets, devices, pipes: not part of a context
		}
		return fn(p, rel, d)
	})
}

// hashContent is the RulesContent hash of a context: for every file sent, its relative
// path, its kind (regular, executable, symlink), and its content or link target.
// Directories count only through their files, ownership and other mode bits not at all:
// a copy, a checkout or an unpacked HCP Terraform configuration hash alike.
func hashContent(dir, dockerfile string) (string, error) {
	type entry struct{ path, rel, kind string }
	var entries []entry
	err := WalkContext(dir, dockerfile, func(p, rel string, d fs.DirEntry) error {
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			entries = append(entries, entry{p, rel, "l"})
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			kind := "f"
			if info.Mode().Perm()&0o111 != 0 {
				kind = "x"
			}
			entries = append(entries, entry{p, rel, kind})
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read build context %s: %w", dir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })
	h := sha256.New()
	for _, e := range entries {
		_, _ = io.WriteString(h, e.rel+"\x00"+e.kind+"\x00")
		if e.kind == "l" {
			target, err := os.Readlink(e.path)
			if err != nil {
				return "", fmt.Errorf("read build context %s: %w", dir, err)
			}
			_, _ = io.WriteString(h, target+"\x00")
			continue
		}
		if err := hashFile(h, e.path); err != nil {
			return "", fmt.Errorf("read build context %s: %w", dir, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile writes size NUL content.
func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(h, strconv.FormatInt(info.Size(), 10)+"\x00"); err != nil {
		return err
	}
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != info.Size() {
		return fmt.Errorf("%s changed while it was read", path)
	}
	return nil
}

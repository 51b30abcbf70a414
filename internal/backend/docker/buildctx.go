package docker

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// A build context is streamed to the daemon as a tar of the context directory. It
// honours a .dockerignore minimally: one pattern per line (path.Match syntax, '#'
// comments, '!' exceptions, the last matching line wins; a pattern also matches every
// path below a matching directory; '**' is not supported). The Dockerfile and
// .dockerignore are always sent; .git is never sent (it is not part of the context
// digest either).

// ignoreRule is one .dockerignore line.
type ignoreRule struct {
	pattern string
	negate  bool
}

// parseDockerignore reads .dockerignore rules.
func parseDockerignore(r io.Reader) ([]ignoreRule, error) {
	var rules []ignoreRule
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rule := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			rule.negate = true
			line = strings.TrimSpace(line[1:])
		}
		line = path.Clean(strings.TrimPrefix(filepath.ToSlash(line), "/"))
		if line == "." || line == "" {
			continue
		}
		if _, err := path.Match(line, ""); err != nil {
			return nil, fmt.Errorf(".dockerignore: bad pattern %q: %w", line, err)
		}
		rule.pattern = line
		rules = append(rules, rule)
	}
	return rules, sc.Err()
}

// ignored reports whether rel (slash-separated, relative to the context) is excluded.
func ignored(rules []ignoreRule, rel string) bool {
	out := false
	for _, r := range rules {
		if matchPathOrParent(r.pattern, rel) {
			out = !r.negate
		}
	}
	return out
}

// matchPathOrParent matches pattern against rel and each of its parent directories.
func matchPathOrParent(pattern, rel string) bool {
	for p := rel; p != ""; {
		if ok, _ := path.Match(pattern, p); ok {
			return true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			return false
		}
		p = p[:i]
	}
	return false
}

func hasNegation(rules []ignoreRule) bool {
	for _, r := range rules {
		if r.negate {
			return true
		}
	}
	return false
}

// newContextTar streams dir as a tar. Read errors surface through the reader.
func newContextTar(dir, dockerfile string) (io.ReadCloser, error) {
	return newContextTarWith(dir, dockerfile, nil)
}

// newContextTarWith streams dir ("" for none) as a tar after the extra in-memory files
// (name -> content; a file of dir with the same name is left out).
func newContextTarWith(dir, dockerfile string, extra map[string][]byte) (io.ReadCloser, error) {
	var rules []ignoreRule
	if dir == "" {
		// No directory: only the extra files.
	} else if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		rules, err = parseDockerignore(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeContextTar(pw, dir, dockerfile, rules, extra))
	}()
	return pr, nil
}

func writeContextTar(w io.Writer, dir, dockerfile string, rules []ignoreRule, extra map[string][]byte) error {
	tw := tar.NewWriter(w)
	for name, content := range extra {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(content); err != nil {
			return err
		}
	}
	if dir == "" {
		return tw.Close()
	}
	keep := map[string]bool{dockerfile: true, ".dockerignore": true}
	skipDirs := !hasNegation(rules)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if _, dup := extra[rel]; dup {
			return nil
		}
		if !keep[rel] && ignored(rules, rel) {
			if d.IsDir() && skipDirs && !strings.HasPrefix(dockerfile, rel+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		return addTarEntry(tw, p, rel, d)
	})
	if err != nil {
		return fmt.Errorf("build context %s: %w", dir, err)
	}
	return tw.Close()
}

// addTarEntry writes one directory, regular file or symlink; other kinds are skipped.
func addTarEntry(tw *tar.Writer, p, rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	case info.IsDir(), info.Mode().IsRegular():
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = rel
	if info.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, hdr.Size)
	return err
}

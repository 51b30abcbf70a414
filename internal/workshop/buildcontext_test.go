package workshop

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHashBuildContext(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	hash := func() string {
		t.Helper()
		h, err := HashBuildContext(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	write("Dockerfile", "FROM scratch\nCOPY . /\n", 0o644)
	write("a/hello.txt", "hello\n", 0o644)

	h1 := hash()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h1) {
		t.Fatalf("not 64 hex characters: %q", h1)
	}
	if h2, _ := HashBuildContext(dir, "Dockerfile"); h2 != h1 {
		t.Fatal("the default Dockerfile name and its explicit name hash differently")
	}
	if h1 != hash() {
		t.Fatal("not stable")
	}
	steps := []struct {
		what   string
		change func()
	}{
		{"content", func() { write("a/hello.txt", "hello again\n", 0o644) }},
		{"mode", func() { write("a/hello.txt", "hello again\n", 0o755) }},
		{"added file", func() { write("b.txt", "", 0o644) }},
		{"renamed file", func() {
			if err := os.Rename(filepath.Join(dir, "b.txt"), filepath.Join(dir, "c.txt")); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink", func() {
			if err := os.Symlink("a/hello.txt", filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink target", func() {
			os.Remove(filepath.Join(dir, "link"))
			if err := os.Symlink("c.txt", filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed file", func() { os.Remove(filepath.Join(dir, "c.txt")) }},
	}
	prev := h1
	for _, s := range steps {
		s.change()
		if h := hash(); h == prev {
			t.Fatalf("%s did not change the hash", s.what)
		} else {
			prev = h
		}
	}
	// .git is not part of the context; an empty directory is not either.
	write(".git/HEAD", "ref: refs/heads/main\n", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if h := hash(); h != prev {
		t.Fatal(".git or an empty directory changed the hash")
	}

	// The same files elsewhere hash the same: paths are relative.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := t.TempDir()
	if err := os.WriteFile(filepath.Join(third, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h2, _ := HashBuildContext(other, "")
	h3, _ := HashBuildContext(third, "")
	if h2 != h3 {
		t.Fatal("the hash depends on the context's location")
	}
}

func TestHashBuildContextErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	cases := []struct {
		dir, dockerfile, want string
	}{
		{missing, "", missing},
		{dir, "Other.Dockerfile", "Other.Dockerfile"},
		{dir, "../Dockerfile", "inside the build context"},
		{dir, "/etc/passwd", "relative"},
		{filepath.Join(dir, "Dockerfile"), "", "not a directory"},
	}
	for _, c := range cases {
		_, err := HashBuildContext(c.dir, c.dockerfile)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("HashBuildContext(%q, %q) = %v, want an error naming %q", c.dir, c.dockerfile, err, c.want)
		}
	}
	if rel, err := ResolveDockerfile(dir, "./Dockerfile"); err != nil || rel != "Dockerfile" {
		t.Errorf("ResolveDockerfile = %q, %v", rel, err)
	}
}

package workshop

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestContextFilterDockerignore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".dockerignore": "# comment\n\n*.log\n/build\nsecret/\n!keep.log\n**/*.tmp\n",
		"Dockerfile":    "FROM scratch\n", "a.log": "", "keep.log": "", "build/x/y": "", "secret/key": "",
		"src/a.log": "", "src/deep/b.tmp": "", "main.go": "", ".git/HEAD": "",
	})
	var got []string
	if err := WalkContext(dir, "Dockerfile", func(_, rel string, d fs.DirEntry) error {
		if !d.IsDir() {
			got = append(got, rel)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{".dockerignore", "Dockerfile", "keep.log", "main.go", "src/a.log"}
	if len(got) != len(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sent %v, want %v", got, want)
		}
	}
}

// TestContentDigestIgnoresLocation: RulesContent hashes what the builder gets, wherever
// it sits; ignored files, .git and group/other mode bits do not count. Positive
// controls: a changed file, an executable bit, a renamed file do.
func TestContentDigestIgnoresLocation(t *testing.T) {
	files := map[string]string{
		".dockerignore": "*.md\n.terraform\nterraform.tfstate*\n",
		"Dockerfile":    "FROM scratch\nCOPY . /\n", "app/run.sh": "echo hi\n", "README.md": "docs",
	}
	a, b := t.TempDir(), filepath.Join(t.TempDir(), "moved", "elsewhere")
	writeTree(t, a, files)
	writeTree(t, b, files)
	hash := func(dir string) string {
		t.Helper()
		h, err := HashBuildContextWith(RulesContent, dir, "")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := hash(a)
	if hash(b) != h {
		t.Fatal("the same files in another directory hash differently")
	}
	// Legacy rules are path-independent too (paths enter the template digest, not this).
	if la, _ := HashBuildContextWith(RulesLegacy, a, ""); la == h {
		t.Fatal("legacy and content rules should differ (legacy hashes full modes and ignored files)")
	}
	unchanged := []func(){
		func() {
			writeTree(t, b, map[string]string{"README.md": "other docs", ".terraform/x": "y", "terraform.tfstate": "{}"})
		},
		func() { writeTree(t, b, map[string]string{".git/HEAD": "ref"}) },
		func() { must(t, os.Chmod(filepath.Join(b, "app/run.sh"), 0o600)) },
	}
	for i, f := range unchanged {
		f()
		if hash(b) != h {
			t.Fatalf("step %d changed the digest", i)
		}
	}
	changed := []func(){
		func() { must(t, os.Chmod(filepath.Join(b, "app/run.sh"), 0o700)) },
		func() { writeTree(t, b, map[string]string{"app/run.sh": "echo bye\n"}) },
		func() { must(t, os.Rename(filepath.Join(b, "app/run.sh"), filepath.Join(b, "app/start.sh"))) },
		func() { writeTree(t, b, map[string]string{".dockerignore": "*.md\n"}) },
	}
	prev := h
	for i, f := range changed {
		f()
		if now := hash(b); now == prev {
			t.Fatalf("change %d did not change the digest", i)
		} else {
			prev = now
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

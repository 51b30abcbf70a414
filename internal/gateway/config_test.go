package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseArgs(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("# current, then the previous one\n"+testSigningKey+"\nprevious-key-0123456789abcdef0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseArgs([]string{"--signing-key-file", keyFile, "--secure-cookies", "true", "--allowed-origins", "https://lab.example.com/"},
		envMap(map[string]string{EnvAPIKeys: "lms=" + testAPIKey + ", other-key-0123456789abcdefgh", EnvListen: "0.0.0.0:9000"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Keys) != 2 || cfg.Listen != "0.0.0.0:9000" || !cfg.SecureCookies || cfg.Origins[0] != "https://lab.example.com" {
		t.Fatalf("config: %+v", cfg)
	}
	if len(cfg.APIKeys) != 2 || cfg.APIKeys[0].Name != "lms" || cfg.APIKeys[0].Secret != testAPIKey || cfg.APIKeys[1].Name != "key-2" {
		t.Fatalf("API keys: %+v", cfg.APIKeys)
	}

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no key", nil, nil, "no signing key"},
		{"short key", nil, map[string]string{EnvSigningKey: "short"}, "at least 32 bytes"},
		{"short API key", nil, map[string]string{EnvSigningKey: testSigningKey, EnvAPIKeys: "lms=short"}, `API key "lms": must be at least`},
		{"tls half", []string{"--tls-cert", "c.pem"}, map[string]string{EnvSigningKey: testSigningKey}, "go together"},
		{"bad listen", []string{"--listen", "8080"}, map[string]string{EnvSigningKey: testSigningKey}, "--listen"},
		{"bad backend", []string{"--backend", "nomad"}, map[string]string{EnvSigningKey: testSigningKey}, "docker or kubernetes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseArgs(tc.args, envMap(tc.env), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), testSigningKey) || strings.Contains(err.Error(), "short\"")) {
				t.Fatalf("the error quotes a secret: %v", err)
			}
		})
	}
}

// TestAuditFile: --audit-file (or its variable) appends each record to a 0600 file as
// well as stdout; a file that cannot be opened is an error naming the flag.
func TestAuditFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(file, []byte("{\"earlier\":true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseArgs(nil, envMap(map[string]string{EnvSigningKey: testSigningKey, EnvAuditFile: file}), nil)
	if err != nil || cfg.AuditFile != file {
		t.Fatalf("config: %+v %v", cfg, err)
	}
	var stdout strings.Builder
	out, closeFn, err := OpenAuditOutput(&stdout, cfg.AuditFile)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuditor(out)
	a.Record(AuditRecord{Event: AuditExecute, Who: "api:lms", Session: "0123456789", Command: "true", Result: "ok"})
	a.Record(AuditRecord{Event: AuditApply, Who: "api:lms", Session: "0123456789", Type: "compose", Result: "ok"})
	if err := closeFn(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 3 || lines[0] != `{"earlier":true}` || !strings.Contains(lines[1], `"event":"execute"`) || !strings.Contains(lines[2], `"type":"compose"`) {
		t.Fatalf("audit file:\n%s", got)
	}
	if stdout.String() != strings.Join(lines[1:], "\n")+"\n" {
		t.Fatalf("stdout %q differs from the file's new lines", stdout.String())
	}
	if st, _ := os.Stat(filepath.Join(dir, "audit.jsonl")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	fresh := filepath.Join(dir, "new.jsonl")
	if _, c, err := OpenAuditOutput(&stdout, fresh); err != nil {
		t.Fatal(err)
	} else {
		_ = c()
	}
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("created audit file: %v %v", st, err)
	}
	if _, _, err := OpenAuditOutput(&stdout, filepath.Join(dir, "missing", "audit.jsonl")); err == nil || !strings.Contains(err.Error(), "--audit-file") {
		t.Errorf("unopenable file: %v", err)
	}
}

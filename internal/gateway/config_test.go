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

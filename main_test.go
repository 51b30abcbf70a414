package main

import (
	"os"
	"testing"
)

func TestQuietLogsUnlessAsked(t *testing.T) {
	for _, k := range []string{"TF_LOG", "TF_LOG_PATH", "TF_LOG_CORE", "TF_LOG_PROVIDER", "TF_LOG_SDK", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_SDK_PROTO"} {
		t.Setenv(k, "") // restored after the test
		_ = os.Unsetenv(k)
	}
	quietLogsUnlessAsked()
	if os.Getenv("TF_LOG_SDK") != "off" || os.Getenv("TF_LOG_PROVIDER") != "off" {
		t.Fatalf("no TF_LOG* variable: TF_LOG_SDK=%q TF_LOG_PROVIDER=%q, want off", os.Getenv("TF_LOG_SDK"), os.Getenv("TF_LOG_PROVIDER"))
	}
	// Asked for logs: the levels are left alone.
	_ = os.Unsetenv("TF_LOG_SDK")
	_ = os.Unsetenv("TF_LOG_PROVIDER")
	t.Setenv("TF_LOG", "debug")
	quietLogsUnlessAsked()
	if v, ok := os.LookupEnv("TF_LOG_SDK"); ok {
		t.Fatalf("TF_LOG=debug: TF_LOG_SDK set to %q", v)
	}
}

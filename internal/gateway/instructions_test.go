package gateway

import (
	"strings"
	"testing"
)

// TestRenderInstructions: Markdown becomes HTML; raw HTML, script tags, event handler
// attributes and javascript: links do not survive. The Markdown that renders is the
// positive control.
func TestRenderInstructions(t *testing.T) {
	got, err := renderInstructions("# Step 1\n\nRun `make`, then **check**.\n\n" +
		"<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n" +
		"[bad](javascript:alert(3)) [good](https://example.com/doc)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	for _, want := range []string{"<h1", ">Step 1</h1>", "<code>make</code>", "<strong>check</strong>", `<a href="https://example.com/doc">good</a>`, "<table>"} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered instructions lack %q:\n%s", want, s)
		}
	}
	for _, bad := range []string{"<script", "onerror", "javascript:", "<img"} {
		if strings.Contains(strings.ToLower(s), bad) {
			t.Errorf("rendered instructions contain %q:\n%s", bad, s)
		}
	}
}

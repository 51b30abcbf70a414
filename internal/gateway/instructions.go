package gateway

import (
	"bytes"
	"html/template"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer/html"
)

// markdown renders a template's instructions. Raw HTML is never passed through
// (goldmark's default, html.WithUnsafe is not set: inline and block HTML become a
// comment) and link and image URLs with a dangerous scheme (javascript:, vbscript:,
// file:, data: other than images) are emptied by goldmark; what it emits is only its own
// elements with escaped text. The page's Content-Security-Policy (scripts from the
// gateway only, none inline) is the second wall.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify, extension.TaskList),
	goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	goldmark.WithRendererOptions(html.WithHardWraps()),
)

// renderInstructions returns the instructions as HTML for the page ("" when none).
func renderInstructions(md string) (template.HTML, error) {
	if md == "" {
		return "", nil
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(md), &buf); err != nil {
		return "", err
	}
	// goldmark's own output, from text it escaped (see markdown above).
	return template.HTML(buf.String()), nil //nolint:gosec
}

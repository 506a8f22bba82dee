package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	// mdLink is a Markdown link or image: [text](target).
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// section is a § reference, with what precedes it on its line, to tell RFC and issue sections apart.
	section = regexp.MustCompile(`§(\d+)`)
	// repoPath is a path into the repository named in prose (package docs, READMEs).
	repoPath = regexp.MustCompile("(?:^|[\\s(`\"])((?:actors|supervisor|transport|examples)/[A-Za-z0-9_./-]*[A-Za-z0-9_])")
	// inlineCode is a `code span`.
	inlineCode = regexp.MustCompile("`[^`]*`")
	// heading is a Markdown heading.
	heading = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
)

// slug is the anchor GitHub gives a heading.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every reference in the repository's documentation resolves inside the repository: relative Markdown
// links (and their #anchors) in *.md files, § references to transport/PROTOCOL.md's sections in *.md and
// *.go files, and the repository paths that package docs and Markdown files name.
func TestDocReferencesResolve(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	protocol, err := os.ReadFile(filepath.Join(root, "transport", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\d+)\. `).FindAllSubmatch(protocol, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		sections[n] = true
	}
	if len(sections) < 11 {
		t.Fatalf("transport/PROTOCOL.md has %d numbered sections, want at least 11", len(sections))
	}
	anchors := func(file string) map[string]bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil
		}
		a := map[string]bool{}
		for _, m := range heading.FindAllSubmatch(b, -1) {
			a[slug(string(m[1]))] = true
		}
		return a
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == "node_modules" || name == "testdata" || strings.HasPrefix(name, ".") && path != root || name == "bench-results" {
				return filepath.SkipDir
			}
			return nil
		}
		md, goFile := strings.HasSuffix(name, ".md"), strings.HasSuffix(name, ".go")
		if !md && !goFile {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		checked++
		inProtocol := rel == filepath.Join("transport", "PROTOCOL.md")
		fenced := false // inside a ``` block of a Markdown file: code, not links
		for i, line := range strings.Split(string(b), "\n") {
			where := rel + ":" + strconv.Itoa(i+1)
			if md && strings.HasPrefix(strings.TrimSpace(line), "```") {
				fenced = !fenced
			}
			if goFile && !strings.Contains(line, "//") {
				continue
			}
			if strings.Contains(line, "PROTOCOL.md") && !strings.Contains(line, "transport/PROTOCOL.md") && !inProtocol &&
				!strings.Contains(line, "](PROTOCOL.md") && !strings.Contains(line, "](../") {
				t.Errorf("%s: names PROTOCOL.md without its path (transport/PROTOCOL.md)", where)
			}
			for _, m := range section.FindAllStringSubmatchIndex(line, -1) {
				before := strings.ToLower(line[max(0, m[0]-40):m[0]])
				if strings.Contains(before, "rfc") || strings.Contains(before, "issue") {
					continue
				}
				n, _ := strconv.Atoi(line[m[2]:m[3]])
				if !sections[n] {
					t.Errorf("%s: §%d: transport/PROTOCOL.md has no section %d", where, n, n)
				}
			}
			if !md && name != "doc.go" {
				continue
			}
			if md && !fenced {
				for _, m := range mdLink.FindAllStringSubmatch(inlineCode.ReplaceAllString(line, ""), -1) {
					target := m[1]
					if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
						continue
					}
					file, anchor, _ := strings.Cut(target, "#")
					full := path
					if file != "" {
						full = filepath.Join(filepath.Dir(path), file)
						if !exists(full) {
							t.Errorf("%s: link %s: no such file in the repository", where, target)
							continue
						}
					}
					if anchor != "" && strings.HasSuffix(full, ".md") && !anchors(full)[anchor] {
						t.Errorf("%s: link %s: no heading with anchor #%s", where, target, anchor)
					}
				}
			}
			for _, m := range repoPath.FindAllStringSubmatch(line, -1) {
				p := strings.TrimSuffix(m[1], ".")
				if strings.Contains(p, "*") || strings.HasPrefix(line[strings.Index(line, p)+len(p):]+" ", "/") {
					continue
				}
				if !exists(filepath.Join(root, p)) && !exists(filepath.Join(filepath.Dir(path), p)) {
					t.Errorf("%s: names %s, which is not in the repository", where, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked %d files: the walk missed the repository", checked)
	}
}

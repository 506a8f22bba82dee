package transport

import (
	"os/exec"
	"strings"
	"testing"
)

// Production code does not depend on fault injection: the runtime lists its actors (host.Host.Actors)
// and supervisor/chaos/pyrechaos adapts them; only the chaos packages, tests and examples import chaos.
func TestRuntimeDoesNotImportChaos(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	const chaos = "github.com/pyrehq/pyre/supervisor/chaos"
	out, err := exec.Command(goTool, "list", "-deps", "github.com/pyrehq/pyre/actors/channel",
		"github.com/pyrehq/pyre/actors/host", "github.com/pyrehq/pyre/transport").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if dep == chaos || strings.HasPrefix(dep, chaos+"/") {
			t.Errorf("the runtime depends on %s", dep)
		}
	}
	// Nor does any other package outside the chaos packages and the examples.
	out, err = exec.Command(goTool, "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`,
		"github.com/pyrehq/pyre/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := fields[0]
		if pkg == chaos || strings.HasPrefix(pkg, chaos+"/") || strings.HasPrefix(pkg, "github.com/pyrehq/pyre/examples/") {
			continue
		}
		for _, imp := range fields[1:] {
			if imp == chaos || strings.HasPrefix(imp, chaos+"/") {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}

// The user package stays light: a channel author's import pulls in neither the runtime, nor the transport,
// nor the WebSocket library.
func TestChannelPackageDoesNotImportRuntime(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/pyrehq/pyre/actors/channel").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		for _, heavy := range []string{"github.com/pyrehq/pyre/actors/host", "github.com/pyrehq/pyre/transport", "github.com/lxzan/gws"} {
			if dep == heavy || strings.HasPrefix(dep, heavy+"/") {
				t.Errorf("actors/channel depends on %s", dep)
			}
		}
	}
}

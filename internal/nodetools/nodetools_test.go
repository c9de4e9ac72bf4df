package nodetools

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeNPM puts an npm on PATH that installs like npm ci (node_modules/.bin/node),
// or fails when fail is set, and returns the file where each run appends
// its arguments. Tests using it cannot run in parallel (t.Setenv).
func fakeNPM(t *testing.T, fail bool) (calls string) {
	t.Helper()
	bin := t.TempDir()
	calls = filepath.Join(t.TempDir(), "calls")
	script := `#!/bin/sh
echo "$@" >> "` + calls + `"
` + map[bool]string{
		false: `rm -rf node_modules && mkdir -p node_modules/.bin && printf '#!/bin/sh\n' > node_modules/.bin/node && chmod +x node_modules/.bin/node
echo "added 1 package"
`,
		true: `echo "npm ERR! network unreachable" >&2
exit 1
`}[fail]
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

// repo returns a repository root holding package.json and
// package-lock.json, modified an hour ago.
func repo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for _, name := range packageFiles {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func runs(t *testing.T, calls string) []string {
	t.Helper()
	b, err := os.ReadFile(calls)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func ensure(t *testing.T, root string) (bool, string) {
	t.Helper()
	var log bytes.Buffer
	installed, err := Ensure(t.Context(), root, &log)
	if err != nil {
		t.Fatalf("Ensure: %v\n%s", err, log.String())
	}
	return installed, log.String()
}

func wantInstall(t *testing.T, root string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, GoMod))
	if err != nil || string(b) != "module ignored\n" {
		t.Errorf("%s = %q, %v; want %q", GoMod, b, err, "module ignored\n")
	}
	if _, err := os.Stat(filepath.Join(root, Stamp)); err != nil {
		t.Errorf("stamp: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, Dir, ".bin", "node")); err != nil {
		t.Errorf("npm ci's node_modules/.bin/node: %v", err)
	}
}

// TestEnsureFreshClone: a clone with nothing installed gets npm ci, go.mod
// and the stamp; a second call runs nothing.
func TestEnsureFreshClone(t *testing.T) {
	calls := fakeNPM(t, false)
	root := repo(t)
	installed, log := ensure(t, root)
	if !installed {
		t.Error("first call: installed = false, want true")
	}
	if got := runs(t, calls); len(got) != 1 || got[0] != "ci --no-audit --no-fund" {
		t.Errorf("npm runs %q, want one run of ci --no-audit --no-fund", got)
	}
	if !strings.Contains(log, "npm ci --no-audit --no-fund") || !strings.Contains(log, "added 1 package") {
		t.Errorf("log should show the command and npm's output:\n%s", log)
	}
	wantInstall(t, root)

	if installed, _ := ensure(t, root); installed {
		t.Error("second call: installed = true, want false")
	}
	if got := runs(t, calls); len(got) != 1 {
		t.Errorf("npm ran %d times after the second call, want 1", len(got))
	}
}

// TestEnsureLockChanged: a package file newer than the stamp installs again.
func TestEnsureLockChanged(t *testing.T) {
	calls := fakeNPM(t, false)
	root := repo(t)
	ensure(t, root)
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(root, "package-lock.json"), later, later); err != nil {
		t.Fatal(err)
	}
	if installed, _ := ensure(t, root); !installed {
		t.Error("after the lock file changed: installed = false, want true")
	}
	if got := runs(t, calls); len(got) != 2 {
		t.Errorf("npm ran %d times, want 2", len(got))
	}
	wantInstall(t, root)
}

// TestEnsureWritesMissingGoMod: an install current by its stamp but made
// without go.mod (as the old in-Go installer did) gets go.mod, not npm ci.
func TestEnsureWritesMissingGoMod(t *testing.T) {
	calls := fakeNPM(t, false)
	root := repo(t)
	ensure(t, root)
	if err := os.Remove(filepath.Join(root, GoMod)); err != nil {
		t.Fatal(err)
	}
	if installed, _ := ensure(t, root); installed {
		t.Error("installed = true, want false: the install was current")
	}
	if got := runs(t, calls); len(got) != 1 {
		t.Errorf("npm ran %d times, want 1", len(got))
	}
	wantInstall(t, root)
}

// TestEnsureNPMFails: a failed npm ci leaves no stamp, so the next call
// tries again.
func TestEnsureNPMFails(t *testing.T) {
	fakeNPM(t, true)
	root := repo(t)
	var log bytes.Buffer
	_, err := Ensure(t.Context(), root, &log)
	if err == nil || !strings.Contains(err.Error(), "npm ci --no-audit --no-fund in "+root) {
		t.Fatalf("got %v, want an error naming the npm command and the directory", err)
	}
	if !strings.Contains(log.String(), "network unreachable") {
		t.Errorf("npm's output should reach the log:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(root, Stamp)); !os.IsNotExist(err) {
		t.Errorf("stamp after a failed install: %v, want none", err)
	}
}

// TestEnsureNoNPM: without npm on PATH the error says what to install.
func TestEnsureNoNPM(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Ensure(t.Context(), repo(t), nil)
	if err == nil || !strings.Contains(err.Error(), "install Node.js") {
		t.Fatalf("got %v, want an error saying to install Node.js and npm", err)
	}
}

// TestEnsureLinkedInstall: a node_modules linked from another checkout is
// never reinstalled from here, even when this checkout's package files
// look newer; a missing go.mod is still written.
func TestEnsureLinkedInstall(t *testing.T) {
	calls := fakeNPM(t, false)
	shared := t.TempDir()
	if err := os.MkdirAll(filepath.Join(shared, ".bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := repo(t)
	if err := os.Symlink(shared, filepath.Join(root, Dir)); err != nil {
		t.Fatal(err)
	}
	installed, log := ensure(t, root)
	if installed || runs(t, calls) != nil {
		t.Errorf("npm ran on a linked node_modules (installed %v, runs %q)", installed, runs(t, calls))
	}
	if !strings.Contains(log, "link to another checkout") {
		t.Errorf("log should say why nothing was installed:\n%s", log)
	}
	if b, err := os.ReadFile(filepath.Join(shared, "go.mod")); err != nil || string(b) != "module ignored\n" {
		t.Errorf("go.mod in the linked install: %q, %v", b, err)
	}
}

func TestEnsureMissingPackageFile(t *testing.T) {
	fakeNPM(t, false)
	root := repo(t)
	ensure(t, root)
	if err := os.Remove(filepath.Join(root, "package-lock.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(t.Context(), root, nil); err == nil || !strings.Contains(err.Error(), "package-lock.json") {
		t.Fatalf("got %v, want an error naming package-lock.json", err)
	}
}

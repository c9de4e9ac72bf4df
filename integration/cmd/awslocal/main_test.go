package main

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServesUntilSIGTERM builds the command, starts it on a free port,
// reads the export lines, calls the admin endpoint and stops it with
// SIGTERM: it must exit 0.
func TestServesUntilSIGTERM(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "awslocal")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--addr", "127.0.0.1:0", "--time-scale", "10", "--runtask-burst", "7")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		env[k] = v
		if k == "AWS_SECRET_ACCESS_KEY" { // the last line, sorted
			break
		}
	}
	ep := env["AWS_ENDPOINT_URL"]
	if !strings.HasPrefix(ep, "http://127.0.0.1:") || env["AWS_ENDPOINT_URL_ECS"] != ep || env["AWS_ENDPOINT_URL_EC2"] != ep || env["AWS_REGION"] != "us-east-1" {
		_ = cmd.Process.Kill()
		t.Fatalf("export lines: got %v", env)
	}
	resp, err := http.Get(ep + "/_awslocal/config")
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	var body strings.Builder
	sc = bufio.NewScanner(resp.Body)
	for sc.Scan() {
		body.WriteString(sc.Text())
	}
	resp.Body.Close()
	if !strings.Contains(body.String(), `"ecs:RunTask": {      "burst": 7,      "rate": 40    }`) {
		t.Errorf("--runtask-burst 7 not applied: %s", body.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "awslocal: stopped") {
		t.Fatalf("stderr: %s", stderr.String())
	}
}

// Package testenv holds test helpers shared by pkg/ and integration/ tests,
// so that pkg/ never imports integration/.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Dynalite is a running dynalite process.
type Dynalite struct {
	Endpoint string // http://127.0.0.1:PORT
	Path     string // on-disk data folder, empty when in memory
	port     int
	cmd      *exec.Cmd
	done     chan struct{}
	stopped  atomic.Bool
}

// DynaliteOptions configures StartDynalite.
type DynaliteOptions struct {
	// Path keeps the data on disk (LevelDB) so a restart keeps it, as
	// DynamoDB would. Empty means in memory.
	Path string
	// Port to listen on; 0 picks a free one.
	Port int
	// Log receives dynalite's output; nil discards it.
	Log io.Writer
}

// StartDynalite starts dynalite on 127.0.0.1 with instant table operations
// and waits until it accepts connections. Stop it with Stop.
func StartDynalite(ctx context.Context, o DynaliteOptions) (*Dynalite, error) {
	bin, err := NodeBin("dynalite")
	if err != nil {
		return nil, err
	}
	port := o.Port
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	args := []string{"--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
	if o.Path != "" {
		args = append(args, "--path", o.Path)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	d := &Dynalite{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Path: o.Path, port: port, cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go d.watch(out, o.Log, ready)
	select {
	case <-ready:
		return d, nil
	case <-d.done:
		return nil, fmt.Errorf("dynalite exited before listening on port %d", port)
	case <-time.After(20 * time.Second):
		d.Stop()
		return nil, fmt.Errorf("dynalite did not listen on port %d within 20 s", port)
	case <-ctx.Done():
		d.Stop()
		return nil, ctx.Err()
	}
}

// watch reads dynalite's output until it exits: ready closes at its
// "listening" line; an exit nobody asked for (Stop) is told on stderr with
// the last lines, since every later DynamoDB call then fails (the proxy
// answers 502).
func (d *Dynalite) watch(out io.Reader, log io.Writer, ready chan struct{}) {
	sc := bufio.NewScanner(out)
	listening := false
	var tail []string
	for sc.Scan() {
		if log != nil {
			fmt.Fprintln(log, sc.Text())
		}
		tail = append(tail[max(0, len(tail)-19):], sc.Text())
		if !listening && strings.Contains(sc.Text(), "listening") {
			listening = true
			close(ready)
		}
	}
	werr := d.cmd.Wait()
	if listening && !d.stopped.Load() {
		fmt.Fprintf(os.Stderr, "testenv: dynalite on port %d exited while in use: %v; its last output:\n%s\n",
			d.port, werr, strings.Join(tail, "\n"))
	}
	close(d.done)
}

// Port returns the TCP port dynalite listens on.
func (d *Dynalite) Port() int { return d.port }

// Stop kills dynalite and its process group and waits for it to exit.
func (d *Dynalite) Stop() {
	if d == nil || d.cmd.Process == nil {
		return
	}
	d.stopped.Store(true)
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
}

// Client returns a DynamoDB client for d with static credentials.
func (d *Dynalite) Client() *dynamodb.Client {
	return DynamoDBClient(d.Endpoint)
}

// DynamoDBClient returns a DynamoDB client for a local endpoint.
func DynamoDBClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// CreateTable creates the product's table (the key schema of pkg/config:
// pk, sk) on a local DynamoDB, on demand.
func CreateTable(ctx context.Context, c *dynamodb.Client, name string) error {
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String(config.TablePK), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(config.TableSK), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(config.TablePK), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(config.TableSK), KeyType: ddbtypes.KeyTypeRange},
		},
	})
	return err
}
